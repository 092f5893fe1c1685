"""Build the real Pulumi plugins from their public source and install them where a user's engine has them.

No registry ships `pulumi-resource-docker`, `pulumi-resource-command` or the Go `pulumi-language-python`,
and the Go module proxy refuses their own modules; their unchanged upstream source archives (pinned by
sha256 in testbed/versions.py) build with every dependency from the proxy. The recipe is upstream's
Makefiles and .goreleaser.yml (shared/real-plugins/README.md says which flags, and on what evidence).

Where the engine finds them, as it finds a user's:
- the language host (and its `-exec` script) beside the engine binary, where a Pulumi CLI release ships
  its bundled language hosts;
- the resource providers in `$PULUMI_HOME/plugins/resource-<name>-v<version>/`, installed with
  `pulumi plugin install resource <name> <version> --file <binary>`, as `pulumi` downloads them.

Each build is cached under ~/.cache/kolla-pulumi/plugins/<name>-<version>-<key>/, the key made of the
archive's pinned sha256, the Go toolchain, the recipe's version and (for the language host) the engine
it links against. A build is checked before it is cached: the binary starts and answers the engine's
GetPluginInfo with the pinned version.

Usage: python -m testbed.plugins [--rebuild] [--install PULUMI_HOME]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from testbed import engine
from testbed.versions import (
    COMMAND_PLUGIN_VERSION,
    DOCKER_PLUGIN_VERSION,
    DOCKER_UPSTREAM_MODULE,
    LANGUAGE_HOST_SOURCE_VERSION,
    PLUGIN_ARCHIVES,
    PULUMI_ENGINE_VERSION,
    ROOT,
)

Log = Callable[[str], None]

CACHE_ROOT = engine.CACHE_ROOT.parent / "plugins"
# Bump when the recipe changes in a way the key's other inputs do not show.
RECIPE_VERSION = "1"
SOURCES_VAR = "KOLLA_PULUMI_PLUGIN_SOURCES"
GO_ENV = {"GOFLAGS": "-mod=mod -buildvcs=false", "GOTOOLCHAIN": "local"}
# Offline: no converter plugin download during schema generation, no plugin acquisition at all.
TFGEN_ENV = {"PULUMI_CONVERT": "0", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true"}


@dataclass(frozen=True)
class Plugin:
    kind: str  # "resource" or "language", as the engine names plugin kinds
    name: str
    version: str  # what the binary reports (the version stamped in at link time)
    archive: str  # the upstream source archive's file name (testbed/versions.py pins its sha256)

    @property
    def binary(self) -> str:
        return f"pulumi-{self.kind}-{self.name}"


DOCKER = Plugin("resource", "docker", DOCKER_PLUGIN_VERSION, "pulumi-docker-237b7899-provider-patches.tar.xz")
COMMAND = Plugin("resource", "command", COMMAND_PLUGIN_VERSION, "pulumi-command-v1.2.1-provider.tar.xz")
LANGUAGE_PYTHON = Plugin("language", "python", LANGUAGE_HOST_SOURCE_VERSION, "pulumi-v3.259.0-sdk-python-cmd.tar.xz")
PLUGINS = (DOCKER, COMMAND, LANGUAGE_PYTHON)
RESOURCE_PLUGINS = tuple(p for p in PLUGINS if p.kind == "resource")


# --- inputs --------------------------------------------------------------------------------------


def source_dirs() -> list[Path]:
    """Where the archives may be: $KOLLA_PULUMI_PLUGIN_SOURCES, then `shared/real-plugins` beside this
    checkout or any of its parents (the team's shared folder sits beside the project's checkouts)."""
    dirs = [Path(p) for p in os.environ.get(SOURCES_VAR, "").split(os.pathsep) if p]
    dirs += [parent / "shared" / "real-plugins" for parent in ROOT.parents]
    return dirs


def find_archive(plugin: Plugin) -> Path:
    """The plugin's source archive, checked against its pinned sha256."""
    pinned = PLUGIN_ARCHIVES[plugin.archive]
    for directory in source_dirs():
        path = directory / plugin.archive
        if path.is_file():
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
            if actual != pinned:
                raise RuntimeError(f"{path}: sha256 {actual}, but testbed/versions.py pins {pinned}")
            return path
    searched = ", ".join(str(d) for d in source_dirs())
    raise RuntimeError(
        f"the source archive {plugin.archive} of {plugin.binary} {plugin.version} is not in {searched} "
        f"(set {SOURCES_VAR} to the folder holding it)"
    )


def cache_key(plugin: Plugin) -> str:
    inputs = {
        "archive": PLUGIN_ARCHIVES[plugin.archive],
        "go": engine.go_version(),
        "recipe": RECIPE_VERSION,
        "version": plugin.version,
    }
    if plugin is LANGUAGE_PYTHON:
        inputs["engine"] = PULUMI_ENGINE_VERSION  # it links against the engine's libraries
    if plugin is DOCKER:
        inputs["upstream"] = DOCKER_UPSTREAM_MODULE
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def plugin_dir(plugin: Plugin) -> Path:
    return CACHE_ROOT / f"{plugin.name}-{plugin.version}-{cache_key(plugin)}"


def plugin_path(plugin: Plugin) -> Path:
    return plugin_dir(plugin) / plugin.binary


# --- building ------------------------------------------------------------------------------------


def _run(args: list[str], cwd: Path, log: Log, extra_env: dict[str, str] | None = None) -> str:
    env = {**os.environ, **GO_ENV, **(extra_env or {})}
    log(f"$ {' '.join(args)}  (in {cwd.name})")
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed in {cwd}:\n{done.stdout[-4000:]}{done.stderr[-4000:]}")
    return done.stdout


def _unpack(archive: Path, into: Path) -> None:
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")


def _ldflag(package: str, version: str) -> str:
    return f"-X {package}.Version={version}"


def build_command(src: Path, out: Path, log: Log) -> None:
    provider = src / "provider"
    flags = _ldflag("github.com/pulumi/pulumi-command/provider/pkg/version", COMMAND.version)
    target = "github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command"
    _run(["go", "build", "-o", str(out / COMMAND.binary), "-ldflags", flags, target], provider, log)


def build_docker(src: Path, out: Path, log: Log) -> None:
    provider = src / "provider"
    # The provider's go.mod replaces the Terraform provider with ../upstream: kreuzwerker's provider,
    # which the proxy serves under its own name, with pulumi-docker's patches applied.
    info = json.loads(_run(["go", "mod", "download", "-json", DOCKER_UPSTREAM_MODULE], src, log))
    upstream = src / "upstream"
    shutil.copytree(info["Dir"], upstream, symlinks=True)
    engine.make_writable(upstream)
    for patch in sorted((src / "patches").glob("*.patch")):
        _run(["git", "apply", str(patch)], upstream, log)
    tags = ["-tags", "no_compose"]
    static = {"CGO_ENABLED": "0"}
    # tfgen derives the SDK's major version from the stamped version: it must carry it too.
    version = _ldflag("github.com/pulumi/pulumi-docker/provider/v5/pkg/version", DOCKER.version)
    tfgen = src / "pulumi-tfgen-docker"
    _run(
        ["go", "build", *tags, "-ldflags", version, "-o", str(tfgen), "./cmd/pulumi-tfgen-docker"],
        provider,
        log,
        static,
    )
    # Regenerate the schema for the newer upstream (PULUMI_CONVERT=0 only drops a few doc examples).
    schema_dir = provider / "cmd" / "pulumi-resource-docker"
    _run([str(tfgen), "schema", "--out", str(schema_dir.relative_to(src))], src, log, TFGEN_ENV)
    _run(["go", "run", "./generate.go"], schema_dir, log, {"VERSION": DOCKER.version})
    flags = version + " -s -w"
    target = "github.com/pulumi/pulumi-docker/provider/v5/cmd/pulumi-resource-docker"
    _run(["go", "build", *tags, "-o", str(out / DOCKER.binary), "-ldflags", flags, target], provider, log, static)


def build_language_python(src: Path, out: Path, log: Log) -> None:
    cmd = src / "sdk" / "python" / "cmd"
    host = cmd / "pulumi-language-python"
    # Its go.mod replaces pulumi's pkg and sdk with the monorepo's directories; link against the
    # engine's released modules instead (the engine build does the same).
    edit = ["go", "mod", "edit"]
    for module in (engine.PKG_MODULE, engine.SDK_MODULE):
        edit += [f"-dropreplace={module}", f"-require={module}@v{PULUMI_ENGINE_VERSION}"]
    _run(edit, host, log)
    flags = "-w -s " + _ldflag(f"{engine.SDK_MODULE}/go/common/version", f"v{LANGUAGE_PYTHON.version}")
    build = ["go", "build", "-trimpath", "-tags", "osusergo,grpcnotrace", "-ldflags", flags]
    _run([*build, "-o", str(out / LANGUAGE_PYTHON.binary), "."], host, log)
    # The host runs programs through this script and exits "missing executor" without it.
    shutil.copy2(cmd / "pulumi-language-python-exec", out / "pulumi-language-python-exec")


BUILDERS: dict[str, Callable[[Path, Path, Log], None]] = {
    DOCKER.name: build_docker,
    COMMAND.name: build_command,
    LANGUAGE_PYTHON.name: build_language_python,
}


def build(plugin: Plugin, log: Log = print) -> Path:
    """Build `plugin` into its cache directory atomically: a killed build leaves nothing half-made."""
    final = plugin_dir(plugin)
    final.parent.mkdir(parents=True, exist_ok=True)
    archive = find_archive(plugin)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f".{plugin.name}-build-", dir=final.parent) as tmp:
        src, out = Path(tmp) / "src", Path(tmp) / "out"
        out.mkdir()
        _unpack(archive, src)
        BUILDERS[plugin.name](src, out, log)
        reported = reported_version(out / plugin.binary, plugin.kind)
        if reported.lstrip("v") != plugin.version:
            raise RuntimeError(f"the built {plugin.binary} reports {reported!r}, not {plugin.version}")
        seconds = time.monotonic() - started
        (out / "build.json").write_text(json.dumps({"seconds": round(seconds, 1), "key": cache_key(plugin)}) + "\n")
        shutil.rmtree(final, ignore_errors=True)
        out.rename(final)
    size = plugin_path(plugin).stat().st_size / 1e6
    log(f"built {plugin.binary} {plugin.version} in {seconds:.0f} s ({size:.0f} MB)")
    return plugin_path(plugin)


# --- checking ------------------------------------------------------------------------------------


def reported_version(binary: Path, kind: str, timeout: float = 60) -> str:
    """Start the plugin as the engine does and ask it GetPluginInfo; its answer's version."""
    import grpc
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import language_pb2_grpc, provider_pb2_grpc

    # A provider needs the engine's address as its argument (it dials lazily and GetPluginInfo never
    # calls back); a language host given one health-checks it and exits, so it gets none.
    address = ["127.0.0.1:1"] if kind == "resource" else []
    proc = subprocess.Popen(
        [str(binary), *address],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=binary.parent,
        env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"},
    )
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        if not port.isdigit():
            raise RuntimeError(f"{binary} did not print its port (exit {proc.poll()})")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=timeout)
            stub_class = provider_pb2_grpc.ResourceProviderStub if kind == "resource" else None
            stub = stub_class(channel) if stub_class else language_pb2_grpc.LanguageRuntimeStub(channel)
            return stub.GetPluginInfo(empty_pb2.Empty(), timeout=timeout).version
    finally:
        proc.kill()
        proc.wait()


def cached(plugin: Plugin) -> bool:
    """A cached build exists (its check passed when it was built)."""
    return os.access(plugin_path(plugin), os.X_OK)


def ensure_plugins(log: Log = print, *, rebuild: bool = False) -> dict[str, Path]:
    """Every plugin built (or reused from the cache); returns {binary name: path}."""
    paths = {}
    for plugin in PLUGINS:
        if rebuild or not cached(plugin):
            log(f"building {plugin.binary} {plugin.version} from {plugin.archive} (minutes on a cold cache)")
            build(plugin, log)
        else:
            log(f"reusing the cached {plugin_path(plugin)}")
        paths[plugin.binary] = plugin_path(plugin)
    install_language_host(engine.engine_path())
    return paths


def all_built() -> bool:
    return all(cached(p) for p in PLUGINS)


# --- installing ----------------------------------------------------------------------------------


def install_language_host(engine_binary: Path) -> None:
    """The python language host beside the engine binary, where a CLI release ships it."""
    source = plugin_dir(LANGUAGE_PYTHON)
    for name in (LANGUAGE_PYTHON.binary, "pulumi-language-python-exec"):
        link = engine_binary.parent / name
        if link.is_symlink() and link.resolve() == (source / name).resolve():
            continue
        tmp = link.with_name(f".{name}.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(source / name)
        os.replace(tmp, link)


def installed_dir(pulumi_home: Path, plugin: Plugin) -> Path:
    return pulumi_home / "plugins" / f"{plugin.kind}-{plugin.name}-v{plugin.version}"


def install_resource_plugins(pulumi_home: Path, log: Log = print) -> None:
    """`pulumi plugin install resource NAME VERSION --file BIN` into `pulumi_home` for each provider
    not installed there yet: the layout a user's engine downloads them into."""
    for plugin in RESOURCE_PLUGINS:
        target = installed_dir(pulumi_home, plugin) / plugin.binary
        if target.exists() and target.stat().st_size == plugin_path(plugin).stat().st_size:
            continue
        args = ["plugin", "install", plugin.kind, plugin.name, plugin.version, "--file", str(plugin_path(plugin))]
        env = {**os.environ, "PULUMI_HOME": str(pulumi_home), "PULUMI_SKIP_UPDATE_CHECK": "true"}
        done = subprocess.run([str(engine.engine_path()), *args], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"pulumi {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        log(f"installed {plugin.binary} {plugin.version} into {pulumi_home}")


def shared_home() -> Path:
    """The test bed's one plugin installation, which every test-bed PULUMI_HOME links its plugins to."""
    return CACHE_ROOT / "home"


def link_plugins(pulumi_home: Path) -> None:
    """Give `pulumi_home` the test bed's installed providers (its `plugins` directory a link to the
    shared one, installed there once); its logs and workspaces stay its own."""
    install_resource_plugins(shared_home(), log=lambda _: None)
    link = pulumi_home / "plugins"
    target = shared_home() / "plugins"
    if link.is_symlink() and link.resolve() == target.resolve():
        return
    if link.exists() and not link.is_symlink():
        shutil.rmtree(link)
    tmp = pulumi_home / f".plugins.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="build even if a cached build exists")
    parser.add_argument(
        "--install",
        metavar="PULUMI_HOME",
        type=Path,
        help="also install the providers into this PULUMI_HOME (e.g. ~/.pulumi) for `pulumi` typed in a shell",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    engine.ensure_engine(log=lambda _: None)
    paths = ensure_plugins(rebuild=args.rebuild)
    install_resource_plugins(shared_home())
    if args.install:
        install_resource_plugins(args.install.expanduser())
    for name, path in paths.items():
        print(f"{name:26} {path}")
    print(f"plugins ready in {time.monotonic() - started:.1f} s; the language host is beside {engine.engine_path()}")


if __name__ == "__main__":
    sys.exit(main())
