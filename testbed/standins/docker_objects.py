"""docker.RemoteImage, docker.Volume and docker.Network through the docker CLI.

RemoteImage follows upstream's docker_image: create looks for the image on the engine first and
pulls only when it is absent; the id is the image ID followed by the name; read drops it from state
when the image is gone; delete removes it unless keepLocally. Volume and Network: every input forces
a replacement, so there is no update.
"""

from __future__ import annotations

from typing import Any

from testbed.standins.docker_cli import DockerCli, DockerError


def repo_digest(name: str, image: dict[str, Any]) -> str:
    """The RepoDigest of `name`'s repository, as upstream's determineRepoDigest picks it."""
    digests = image.get("RepoDigests") or []
    repo = name.split("@")[0]
    last = repo.rsplit("/", 1)[-1]
    if ":" in last:
        repo = repo[: repo.rfind(":")]
    for digest in digests:
        if digest.split("@")[0] == repo:
            return digest
    return digests[0] if digests else ""


def image_outputs(inputs: dict[str, Any], image: dict[str, Any]) -> dict[str, Any]:
    return {**inputs, "imageId": image["Id"], "repoDigest": repo_digest(inputs["name"], image)}


async def image_create(cli: DockerCli, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    name = inputs["name"]
    found = await cli.inspect("image", name)
    if found is None:
        platform = ["--platform", inputs["platform"]] if inputs.get("platform") else []
        await cli.run("pull", "--quiet", *platform, name)
        found = await cli.inspect("image", name)
        if found is None:
            raise DockerError(f"image {name} is not on the engine after a successful pull")
    return found["Id"] + name, image_outputs(inputs, found)


async def image_read(cli: DockerCli, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    found = await cli.inspect("image", inputs["name"])
    if found is None:
        return None
    return found["Id"] + inputs["name"], image_outputs(inputs, found)


async def image_delete(cli: DockerCli, inputs: dict[str, Any]) -> None:
    if inputs.get("keepLocally"):
        return
    if await cli.inspect("image", inputs["name"]) is None:
        return
    force = ["--force"] if inputs.get("forceRemove") else []
    await cli.run("image", "rm", *force, inputs["name"])


def _labels(labels: list[dict[str, str]] | None) -> list[str]:
    return [a for lab in labels or [] for a in ("--label", f"{lab['label']}={lab['value']}")]


def _opts(flag: str, opts: dict[str, str] | None) -> list[str]:
    return [a for k, v in (opts or {}).items() for a in (flag, f"{k}={v}")]


async def volume_create(cli: DockerCli, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    args = ["--driver", inputs["driver"]] if inputs.get("driver") else []
    args += _opts("--opt", inputs.get("driverOpts")) + _labels(inputs.get("labels"))
    name = (await cli.run("volume", "create", *args, *([inputs["name"]] if inputs.get("name") else []))).strip()
    found = await volume_read(cli, name, inputs)
    if found is None:
        raise DockerError(f"volume {name} is not on the engine right after its creation")
    return name, found


async def volume_read(cli: DockerCli, name: str, inputs: dict[str, Any]) -> dict[str, Any] | None:
    found = await cli.inspect("volume", name)
    if found is None:
        return None
    return {
        **inputs,
        "name": found["Name"],
        "driver": found["Driver"],
        "mountpoint": found.get("Mountpoint", ""),
    }


async def volume_delete(cli: DockerCli, name: str) -> None:
    if await cli.inspect("volume", name) is not None:
        await cli.run("volume", "rm", name)


def _ipam_args(configs: list[dict[str, Any]] | None) -> list[str]:
    args: list[str] = []
    for config in configs or []:
        for key, flag in (("subnet", "--subnet"), ("ipRange", "--ip-range"), ("gateway", "--gateway")):
            if config.get(key):
                args += [flag, config[key]]
        args += _opts("--aux-address", config.get("auxAddress"))
    return args


def network_args(inputs: dict[str, Any]) -> list[str]:
    args = ["--driver", inputs["driver"]] if inputs.get("driver") else []
    args += [
        flag
        for key, flag in (("internal", "--internal"), ("attachable", "--attachable"), ("ipv6", "--ipv6"))
        if inputs.get(key)
    ]
    if inputs.get("ipamDriver", "default") != "default":
        args += ["--ipam-driver", inputs["ipamDriver"]]
    args += _opts("--opt", inputs.get("options")) + _opts("--ipam-opt", inputs.get("ipamOptions"))
    return args + _ipam_args(inputs.get("ipamConfigs")) + _labels(inputs.get("labels"))


async def network_create(cli: DockerCli, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    nid = (await cli.run("network", "create", *network_args(inputs), inputs["name"])).strip()
    found = await network_read(cli, nid, inputs)
    if found is None:
        raise DockerError(f"network {inputs['name']} is not on the engine right after its creation")
    return nid, found


async def network_read(cli: DockerCli, nid: str, inputs: dict[str, Any]) -> dict[str, Any] | None:
    found = await cli.inspect("network", nid)
    if found is None:
        return None
    ipam = found.get("IPAM") or {}
    configs = [
        {
            "subnet": c.get("Subnet", ""),
            "ipRange": c.get("IPRange", ""),
            "gateway": c.get("Gateway", ""),
            "auxAddress": c.get("AuxiliaryAddresses") or {},
        }
        for c in ipam.get("Config") or []
    ]
    return {
        **inputs,
        "driver": found.get("Driver", ""),
        "internal": bool(found.get("Internal")),
        "options": found.get("Options") or {},
        "ipamConfigs": inputs.get("ipamConfigs", configs),
        "scope": found.get("Scope", ""),
    }


async def network_delete(cli: DockerCli, nid: str) -> None:
    if await cli.inspect("network", nid) is not None:
        await cli.run("network", "rm", nid)
