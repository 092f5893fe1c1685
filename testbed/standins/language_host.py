"""A TEST-BED STAND-IN for the Python language host (`pulumi-language-python`).

The real host is a Go program shipped with the Pulumi CLI; the Go module proxy refuses its module, so
the engine built here (testbed.engine) lacks it and `pulumi preview`/`up` typed in a shell on a
`runtime: python` project would fail. With network access the engine installs the real host, and
this module is not used (testbed.env, KOLLA_PULUMI_REAL_PLUGINS=1).

It runs the project's program in its own process on the venv that runs it (nothing is installed:
the venv is already set up), through the SDK's in-process LanguageRuntime used by inline programs.
Required plugins are read, like the real host does, from the `pulumi-plugin.json` files of the
installed packages (pulumi-docker, pulumi-command at their pinned versions), so that the engine
looks for exactly those. Started by the engine as `pulumi-language-python [flags] <engine address>`;
it prints its port on stdout.
"""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import sys
from collections.abc import Iterator
from concurrent import futures
from importlib import metadata
from pathlib import Path

import grpc
from google.protobuf import empty_pb2
from pulumi.automation._server import LanguageServer
from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS
from pulumi.runtime.proto import language_pb2, language_pb2_grpc, plugin_pb2

from testbed.versions import PULUMI_ENGINE_VERSION


def plugin_dependencies() -> list[tuple[str, str, str]]:
    """(name, version, server) of each resource plugin an installed package declares."""
    found = {}
    for dist in metadata.distributions():
        for file in dist.files or ():
            if file.name != "pulumi-plugin.json":
                continue
            info = json.loads(Path(dist.locate_file(file)).read_text())
            if info.get("resource"):
                name = info.get("name") or dist.metadata["Name"].removeprefix("pulumi-")
                found[name] = (name, info.get("version") or dist.version, info.get("server", ""))
    return sorted(found.values())


def _virtualenv_problem(info: language_pb2.ProgramInfo) -> str | None:
    """The stand-in runs on its own venv: refuse a project that names a different one."""
    options = dict(info.options.items()) if info.HasField("options") else {}  # Struct: plain values
    toolchain = options.get("toolchain") or "pip"
    if toolchain != "pip":
        return f"the language-host stand-in supports only the pip toolchain, not {toolchain}"
    venv = options.get("virtualenv")
    if venv:
        wanted = (Path(info.root_directory) / venv).resolve()
        if wanted != Path(sys.prefix).resolve():
            return f"the language-host stand-in runs on {sys.prefix}, but the project names {wanted}"
    return None


class StandinLanguageHost(LanguageServer):
    def __init__(self, engine_address: str) -> None:
        super().__init__(program=lambda: None)
        self._engine = engine_address

    def Handshake(self, request, context):
        return language_pb2.LanguageHandshakeResponse()

    def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version=PULUMI_ENGINE_VERSION)

    def GetRequiredPlugins(self, request, context):
        plugins = [
            plugin_pb2.PluginDependency(name=n, kind="resource", version=v, server=s)
            for n, v, s in plugin_dependencies()
        ]
        return language_pb2.GetRequiredPluginsResponse(plugins=plugins)

    def GetRequiredPackages(self, request, context):
        packages = [
            plugin_pb2.PackageDependency(name=n, kind="resource", version=v, server=s)
            for n, v, s in plugin_dependencies()
        ]
        return language_pb2.GetRequiredPackagesResponse(packages=packages)

    def InstallDependencies(self, request, context) -> Iterator[language_pb2.InstallDependenciesResponse]:
        note = f"language-host stand-in: nothing to install, the program runs on {sys.prefix}\n"
        yield language_pb2.InstallDependenciesResponse(stdout=note.encode())

    def RuntimeOptionsPrompts(self, request, context):
        return language_pb2.RuntimeOptionsResponse()

    def About(self, request, context):
        response = super().About(request, context)
        response.metadata["stand-in"] = "testbed.standins.language_host"
        return response

    def GetProgramDependencies(self, request, context):
        deps = sorted({(d.metadata["Name"], d.version) for d in metadata.distributions()})
        return language_pb2.GetProgramDependenciesResponse(
            dependencies=[language_pb2.DependencyInfo(name=n, version=v) for n, v in deps]
        )

    def Cancel(self, request, context):
        return empty_pb2.Empty()

    def Run(self, request, context):
        problem = _virtualenv_problem(request.info)
        if problem:
            return language_pb2.RunResponse(error=problem)
        pwd = request.pwd or os.getcwd()
        program = Path(pwd, request.program or ".")
        program_args = list(request.args)

        def run_program() -> None:
            # As `python <program> ARGS` would: cwd, sys.argv, the program's directory on sys.path.
            os.chdir(pwd)
            sys.argv = [str(program), *program_args]
            directory = program if program.is_dir() else program.parent
            sys.path.insert(0, str(directory))
            runpy.run_path(str(program), run_name="__main__")

        self.program = run_program
        # LanguageServer.Run takes the engine address from args[0], the inline-program convention.
        del request.args[:]
        request.args.append(self._engine)
        return super().Run(request, context)


def main(argv: list[str]) -> None:
    engine = next((a for a in reversed(argv) if not a.startswith("-")), "")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=_GRPC_CHANNEL_OPTIONS)
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(StandinLanguageHost(engine), server)
    port = server.add_insecure_port(address="127.0.0.1:0")
    server.start()
    sys.stdout.write(f"{port}\n")  # the engine reads the port from the first line
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):
        server.wait_for_termination()


if __name__ == "__main__":
    main(sys.argv[1:])
