"""A stand-in for the `pulumi-resource-docker` plugin, for the test bed only.

The real plugin cannot be had here (no registry ships its binary and the Go module proxy refuses
its module), so the test bed launches this one in its place. With network access the engine
installs the real pulumi-docker plugin at the SDK's version and the same tests pass against it.

It receives what the real SDK sends (type tokens, camelCase inputs, the provider's `host`, `sshOpts`
and `registryAuth`), checks and diffs like the bridged provider (docker_schema), and applies
Container, RemoteImage, Volume and Network to real engines with the docker CLI (docker_cli,
docker_container, docker_objects); docker_server is its gRPC side.
Inputs it does not implement are refused at check, never ignored.

Run as `python -m testbed.standins.docker_provider <engine address>`; prints its port.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import sys
from typing import Any

from pulumi.provider.experimental import provider as p
from pulumi.provider.experimental.property_value import PropertyValue

from testbed.standins import docker_container as container
from testbed.standins import docker_objects as objects
from testbed.standins.docker_cli import DockerCli, RegistryAuth
from testbed.standins.docker_schema import (
    CONTAINER,
    NETWORK,
    REMOTE_IMAGE,
    SPECS,
    VOLUME,
    ResourceSpec,
    check,
    diff,
)
from testbed.standins.docker_server import serve
from testbed.standins.docker_values import UNKNOWN, has_unknown, plain_map, property_map, secret_keys
from testbed.versions import DOCKER_PLUGIN_VERSION

CONFIG_KEYS = {"host", "sshOpts", "registryAuth", "version", "disableDockerDaemonCheck"}
CONFIG_REFUSED = {"caMaterial", "certMaterial", "keyMaterial", "certPath", "context"}
# Outputs the provider computes; unknown in a preview of a create.
COMPUTED_OUTPUTS = {
    CONTAINER.token: ("bridge", "networkDatas", "exitCode", "containerLogs", "networkMode", "hostname"),
    REMOTE_IMAGE.token: ("imageId", "repoDigest"),
    VOLUME.token: ("mountpoint", "driver", "name"),
    NETWORK.token: ("scope", "driver", "options", "internal"),
}
AUTONAMED = {CONTAINER.token, NETWORK.token, VOLUME.token}


def auto_name(resource_name: str, seed: bytes) -> str:
    """`<name>-<7 hex>` as the bridge's SetAutonaming does, stable for one random seed."""
    return f"{resource_name}-{hashlib.sha256(seed or resource_name.encode()).hexdigest()[:7]}"


def _config_value(args: dict[str, PropertyValue], variables: dict[str, str], key: str) -> Any:
    value = plain_map({key: args[key]}).get(key) if key in args else variables.get(f"docker:config:{key}")
    # Provider resources send list and object settings JSON-encoded, as strings.
    if isinstance(value, str) and key in ("sshOpts", "registryAuth"):
        return json.loads(value)
    return value


class DockerStandin(p.Provider):
    def __init__(self) -> None:
        self.cli: DockerCli | None = None

    def _spec(self, token: str) -> ResourceSpec:
        if token not in SPECS:
            raise ValueError(f"the docker stand-in does not implement {token}")
        return SPECS[token]

    def _docker(self) -> DockerCli:
        if self.cli is None:
            self.cli = DockerCli()
        return self.cli

    async def check_config(self, request: p.CheckRequest) -> p.CheckResponse:
        news = request.new_inputs
        failures = [
            p.CheckFailure(k, "unknown docker provider setting") for k in news if k not in CONFIG_KEYS | CONFIG_REFUSED
        ]
        failures += [
            p.CheckFailure(k, "not supported by the docker stand-in (ssh:// and unix:// hosts only)")
            for k in news
            if k in CONFIG_REFUSED
        ]
        return p.CheckResponse(inputs=news, failures=failures)

    async def configure(self, request: p.ConfigureRequest) -> p.ConfigureResponse:
        host = _config_value(request.args, request.variables, "host") or ""
        ssh_opts = _config_value(request.args, request.variables, "sshOpts") or []
        auths = _config_value(request.args, request.variables, "registryAuth") or []
        if not any(has_unknown(v) for v in (host, ssh_opts, auths)):
            self.cli = DockerCli(host=host, ssh_opts=ssh_opts, auths=[RegistryAuth.from_input(a) for a in auths])
        return p.ConfigureResponse(accept_secrets=True, supports_preview=True, accept_resources=True)

    async def check(self, request: p.CheckRequest) -> p.CheckResponse:
        spec = self._spec(request.type)
        news = plain_map(request.new_inputs)
        if request.type in AUTONAMED and "name" not in news:
            olds = plain_map(request.old_inputs)
            news["name"] = olds.get("name") or auto_name(request.name, request.random_seed)
        inputs, failures = check(spec, news)
        if failures:
            return p.CheckResponse(failures=[p.CheckFailure(k, why) for k, why in failures])
        return p.CheckResponse(inputs=property_map(inputs, secret_keys(request.new_inputs)))

    async def diff(self, request: p.DiffRequest) -> p.DiffResponse:
        spec = self._spec(request.type)
        # docker_server passes the old inputs on; state written without them falls back to outputs.
        old = getattr(request, "old_inputs", None) or request.old_state
        news = {k: v for k, v in plain_map(request.new_inputs).items() if k not in request.ignore_changes}
        olds = {k: v for k, v in plain_map(old).items() if k not in request.ignore_changes}
        result = diff(spec, olds, news)
        detailed = {
            key: p.PropertyDiff(
                (p.PropertyDiffKind.UPDATE_REPLACE if key in result.replaces else p.PropertyDiffKind.UPDATE),
                input_diff=True,
            )
            for key in result.changed
        }
        return p.DiffResponse(
            changes=result.changes,
            replaces=result.replaces,
            delete_before_replace=spec.delete_before_replace and bool(result.replaces),
            diffs=result.changed,
            detailed_diff=detailed,
        )

    async def create(self, request: p.CreateRequest) -> p.CreateResponse:
        inputs = plain_map(request.properties)
        secrets = secret_keys(request.properties)
        if request.preview:
            outs = {**inputs, **dict.fromkeys(COMPUTED_OUTPUTS[request.type], UNKNOWN)}
            return p.CreateResponse(resource_id="", properties=property_map(outs, secrets))
        cli = self._docker()
        if request.type == CONTAINER.token:
            rid, outs = await container.create(cli, inputs)
        elif request.type == REMOTE_IMAGE.token:
            rid, outs = await objects.image_create(cli, inputs)
        elif request.type == VOLUME.token:
            rid, outs = await objects.volume_create(cli, inputs)
        else:
            self._spec(request.type)
            rid, outs = await objects.network_create(cli, inputs)
        return p.CreateResponse(resource_id=rid, properties=property_map(outs, secrets))

    async def read(self, request: p.ReadRequest) -> p.ReadResponse:
        inputs = plain_map(request.inputs)
        secrets = secret_keys(request.inputs) | secret_keys(request.properties)
        cli, rid = self._docker(), request.resource_id
        if request.type == CONTAINER.token:
            found = await container.read(cli, rid, inputs)
            if found is None:
                return p.ReadResponse()
            outs, inputs = found
        elif request.type == REMOTE_IMAGE.token:
            image = await objects.image_read(cli, inputs)
            if image is None:
                return p.ReadResponse()
            rid, outs = image
        elif request.type == VOLUME.token:
            outs = await objects.volume_read(cli, rid, inputs)
        else:
            self._spec(request.type)
            outs = await objects.network_read(cli, rid, inputs)
        if outs is None:
            return p.ReadResponse()  # gone: the engine drops it from state
        return p.ReadResponse(
            resource_id=rid,
            properties=property_map(outs, secrets),
            inputs=property_map(inputs, secret_keys(request.inputs)),
        )

    async def update(self, request: p.UpdateRequest) -> p.UpdateResponse:
        news, olds = plain_map(request.news), plain_map(request.olds)
        secrets = secret_keys(request.news)
        spec = self._spec(request.type)
        if request.preview or spec is not CONTAINER:
            # Only stored values change: keep the computed outputs, take the new inputs.
            kept = {k: olds[k] for k in COMPUTED_OUTPUTS[request.type] if k in olds}
            return p.UpdateResponse(properties=property_map({**kept, **news}, secrets))
        changed = diff(spec, olds, news).changed
        outs = await container.update(self._docker(), request.resource_id, olds, news, changed)
        return p.UpdateResponse(properties=property_map(outs, secrets))

    async def delete(self, request: p.DeleteRequest) -> None:
        props = plain_map(request.properties)
        cli = self._docker()
        if request.type == CONTAINER.token:
            await container.delete(cli, request.resource_id, props)
        elif request.type == REMOTE_IMAGE.token:
            await objects.image_delete(cli, props)
        elif request.type == VOLUME.token:
            await objects.volume_delete(cli, request.resource_id)
        elif request.type == NETWORK.token:
            await objects.network_delete(cli, request.resource_id)

    def close(self) -> None:
        if self.cli is not None:
            self.cli.close()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> None:
    engine = next((a for a in argv if not a.startswith("-")), "")
    standin = DockerStandin()
    # The engine stops plugins with a signal: unwind so the shared ssh master is closed.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        asyncio.run(serve(engine, DOCKER_PLUGIN_VERSION, standin))
    except KeyboardInterrupt:
        pass
    finally:
        standin.close()


if __name__ == "__main__":
    main(sys.argv[1:])
