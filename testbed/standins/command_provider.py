"""A TEST-BED STAND-IN for the pulumi-command resource plugin (`pulumi-resource-command`).

The real plugin cannot be had on this machine: no registry ships its binary and the Go module proxy
refuses its module. With network access the engine installs the real plugin at the version the SDK
asks for (pulumi-command 1.2.1) and this module is not used (testbed.env, KOLLA_PULUMI_REAL_PLUGINS=1).

It implements `remote.Command` and `remote.CopyToRemote` with the real provider's schema and rules:
- a change in `triggers` replaces; any other input change is an in-place update, which runs `update`
  (or `create` when there is no `update`); nothing runs at preview;
- delete runs the stored `delete` with the stored connection; CopyToRemote never deletes;
- a non-zero exit fails the step, with the command's output in the error;
- `connection.hostKey` is checked when given (a mismatch is refused), not checked when absent;
- CopyToRemote copies again when the source's hash or `remotePath` changes;
- inputs it does not implement are refused by name; outputs derived from secret inputs stay secret,
  and secret commands or outputs are never logged nor put in error messages.
Differences: SSH goes through the OpenSSH client (command_ssh); output is logged when the command
ends, not streamed; a failed create leaves no resource in the state (the real one keeps a partial one).
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

import grpc
from pulumi.provider.experimental import provider as p
from pulumi.provider.experimental.property_value import Computed, PropertyValue
from pulumi.runtime import rpc
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

from testbed.standins import command_assets, command_ssh
from testbed.standins.command_schema import (
    COMMAND,
    COPY_TO_REMOTE,
    INPUTS,
    OUTPUTS,
    REPLACE_ON_CHANGES,
    check_inputs,
    is_known,
    plain,
)
from testbed.versions import COMMAND_PLUGIN_VERSION

# Top-level asset hashes of the request being served, (old, new) by input name: the SDK's
# PropertyValue drops asset hashes, so the servicer reads them from the raw request (command_assets).
ASSET_HASHES: ContextVar[Mapping[str, tuple[str | None, str | None]]] = ContextVar(
    "asset_hashes", default=MappingProxyType({})
)


class StepError(Exception):
    """A failure to report as is (no Python traceback): a failed command, an SSH refusal."""


def _unknown() -> PropertyValue:
    # PropertyValue.marshal cannot marshal Computed (SDK 3.272); the wire form of an unknown is this
    # sentinel string.
    return PropertyValue(rpc.UNKNOWN)


def _strip(value: PropertyValue) -> PropertyValue:
    """Drop dependencies (outputs carry none) but keep secretness, deeply; unknowns marshalable."""
    inner = value.value
    if isinstance(inner, Computed):
        return _unknown().with_secret(value.is_secret)
    if isinstance(inner, Mapping):
        inner = {k: _strip(v) for k, v in inner.items()}
    elif isinstance(inner, list | tuple):
        inner = [_strip(v) for v in inner]
    return PropertyValue(inner, is_secret=value.is_secret)


def _inputs_of(type_token: str, values: Mapping[str, PropertyValue]) -> dict[str, PropertyValue]:
    return {k: _strip(v) for k, v in values.items() if k in INPUTS[type_token]}


def _get(values: Mapping[str, PropertyValue], name: str, default: Any = None) -> Any:
    return plain(values[name]) if name in values else default


def _secret(values: Mapping[str, PropertyValue], *names: str) -> bool:
    return any(values[n].contains_secret() for n in names if n in values)


class CommandProvider(p.Provider):
    def __init__(self, engine_address: str | None) -> None:
        self._engine = engine_address

    async def get_schema(self, request: p.GetSchemaRequest) -> p.GetSchemaResponse:
        return p.GetSchemaResponse(schema=f'{{"name": "command", "version": "{COMMAND_PLUGIN_VERSION}"}}')

    async def check(self, request: p.CheckRequest) -> p.CheckResponse:
        problems = check_inputs(request.type, request.new_inputs)
        failures = [p.CheckFailure(prop, reason) for prop, reason in problems]
        return p.CheckResponse(inputs=request.new_inputs, failures=failures)

    async def diff(self, request: p.DiffRequest) -> p.DiffResponse:
        names = set(INPUTS.get(request.type, {}))
        olds = {k: plain(v) for k, v in request.old_state.items() if k in names}
        news = {k: plain(v) for k, v in request.new_inputs.items() if k in names}
        hashes = ASSET_HASHES.get()
        detailed: dict[str, p.PropertyDiff] = {}
        for name in sorted(olds.keys() | news.keys()):
            old, new = olds.get(name), news.get(name)
            if name in hashes:  # assets: the engine sends old ones as a bare hash
                changed = hashes[name][0] != hashes[name][1] or hashes[name][1] is None
            else:
                changed = old != new or not is_known(new)
            if not changed:
                continue
            kind = "ADD" if name not in olds else "DELETE" if name not in news else "UPDATE"
            if name in REPLACE_ON_CHANGES:
                kind += "_REPLACE"
            detailed[name] = p.PropertyDiff(p.PropertyDiffKind[kind], input_diff=True)
        return p.DiffResponse(
            changes=bool(detailed),
            replaces=[n for n in detailed if n in REPLACE_ON_CHANGES],
            diffs=list(detailed),
            detailed_diff=detailed,
        )

    async def create(self, request: p.CreateRequest) -> p.CreateResponse:
        props = _inputs_of(request.type, request.properties)
        if request.type == COMMAND:
            resource_id = f"{request.name}{secrets.token_hex(4)}"
            if request.preview:
                return p.CreateResponse(resource_id, {**props, **_computed_outputs(request.type)})
            command = _get(props, "create")
            stdout, stderr = ("", "")
            if command is not None:
                stdout, stderr = await self._run(request.urn, props, command, {}, request.timeout)
            return p.CreateResponse(resource_id, {**props, **_outputs(props, stdout, stderr)})
        if not request.preview:
            await _copy(props, request.timeout)
        return p.CreateResponse(secrets.token_hex(4), props)

    async def update(self, request: p.UpdateRequest) -> p.UpdateResponse:
        props = _inputs_of(request.type, request.news)
        if request.type == COPY_TO_REMOTE:
            old_hash, new_hash = ASSET_HASHES.get().get("source", (None, None))
            moved = _get(request.olds, "remotePath") != _get(props, "remotePath")
            if not request.preview and (old_hash != new_hash or new_hash is None or moved):
                await _copy(props, request.timeout)
            return p.UpdateResponse(props)
        if request.preview:
            return p.UpdateResponse({**props, **_computed_outputs(request.type)})
        command = _get(props, "update", _get(props, "create"))
        if command is None:  # nothing to run: keep the previous outputs, as the real provider does
            kept = {k: request.olds[k] for k in OUTPUTS[COMMAND] if k in request.olds}
            return p.UpdateResponse({**props, **kept})
        previous = _previous_outputs(request.olds, props)
        stdout, stderr = await self._run(request.urn, props, command, previous, request.timeout)
        return p.UpdateResponse({**props, **_outputs(props, stdout, stderr)})

    async def delete(self, request: p.DeleteRequest) -> None:
        state = request.properties
        if request.type != COMMAND or _get(state, "delete") is None:
            return  # CopyToRemote never deletes what it copied
        previous = _previous_outputs(state, state)
        await self._run(request.urn, state, _get(state, "delete"), previous, request.timeout)

    async def _run(
        self,
        urn: str,
        props: Mapping[str, PropertyValue],
        command: str,
        previous: Mapping[str, str],
        timeout: float | None = None,
    ) -> tuple[str, str]:
        conn = command_ssh.Connection.from_inputs(_get(props, "connection"))
        env = {**_get(props, "environment", {}), **previous}
        secret_command = _secret(props, "create", "update", "delete")
        secret_output = _secret(props, "create", "update", "stdin", "environment")
        try:
            result = await command_ssh.run(conn, command, env=env, stdin=_get(props, "stdin"), timeout=timeout or None)
        except command_ssh.SSHError as e:
            raise StepError(str(e)) from None
        except TimeoutError:
            raise StepError(f"command on {conn.address} timed out after {timeout} s") from None
        # The real provider drops one trailing newline from each stream.
        stdout, stderr = result.stdout.removesuffix("\n"), result.stderr.removesuffix("\n")
        if not secret_output:
            await self._log(urn, _get(props, "logging", "stdoutAndStderr"), stdout, stderr)
        if result.returncode != 0:
            shown = "[secret]" if secret_command else repr(command)
            output = "[secret]" if secret_output else "\n".join(s for s in (stdout, stderr) if s)
            raise StepError(f"Process exited with status {result.returncode}: running {shown}:\n{output}")
        return stdout, stderr

    async def _log(self, urn: str, logging: str, stdout: str, stderr: str) -> None:
        if not self._engine:
            return
        streams = {"stdout": [stdout], "stderr": [stderr], "stdoutAndStderr": [stdout, stderr]}
        text = "\n".join(s for s in streams.get(logging, []) if s)
        if not text:
            return
        async with grpc.aio.insecure_channel(self._engine) as channel:
            request = engine_pb2.LogRequest(severity=engine_pb2.INFO, message=text, urn=urn)
            await engine_pb2_grpc.EngineStub(channel).Log(request)


def _computed_outputs(type_token: str) -> dict[str, PropertyValue]:
    return {k: _unknown() for k in OUTPUTS[type_token]}


def _outputs(props: Mapping[str, PropertyValue], stdout: str, stderr: str) -> dict[str, PropertyValue]:
    # Like the real provider's wiring, stdout and stderr derive from the commands (and here also from
    # stdin and environment, which a command may echo).
    secret = _secret(props, "create", "update", "stdin", "environment")
    return {
        "stdout": PropertyValue(stdout, is_secret=secret),
        "stderr": PropertyValue(stderr, is_secret=secret),
    }


def _previous_outputs(state: Mapping[str, PropertyValue], props: Mapping[str, PropertyValue]) -> dict[str, str]:
    """PULUMI_COMMAND_STDOUT/STDERR from the last run, unless addPreviousOutputInEnv is false."""
    if _get(props, "addPreviousOutputInEnv", True) is False:
        return {}
    names = {"stdout": "PULUMI_COMMAND_STDOUT", "stderr": "PULUMI_COMMAND_STDERR"}
    return {env: _get(state, out) for out, env in names.items() if _get(state, out)}


async def _copy(props: Mapping[str, PropertyValue], timeout: float | None) -> None:
    import pulumi

    conn = command_ssh.Connection.from_inputs(_get(props, "connection"))
    source = _get(props, "source")
    text = source.text if isinstance(source, pulumi.StringAsset) else None
    path = None if text is not None else source.path
    try:
        await command_ssh.copy(conn, remote_path=_get(props, "remotePath"), local_path=path, text=text)
    except (command_ssh.SSHError, FileNotFoundError) as e:
        raise StepError(str(e)) from None


def main(argv: list[str]) -> None:
    engine = next((a for a in argv if not a.startswith("-")), None)
    provider = CommandProvider(engine)
    command_assets.serve(argv, COMMAND_PLUGIN_VERSION, provider, ASSET_HASHES, StepError)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main(sys.argv[1:])
