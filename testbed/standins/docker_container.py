"""docker.Container on a real engine through the docker CLI: create, read, update, delete.

Follows upstream's container functions: create = create (+ uploads) + start (+ wait for healthy,
+ attach/logs); read drops a vanished container from state and turns `mustRun` off in the state of
a stopped one, so the next `up` sees mustRun false -> true and starts it; update applies restart and
resource limits with `docker update`; delete stops with `destroyGraceSeconds` then removes.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from testbed.standins.docker_cli import DockerCli, DockerError
from testbed.standins.docker_container_args import create_args, env_file_text, outputs, update_args

LOG_TAIL = 20


def upload_tar(uploads: list[dict[str, Any]]) -> bytes:
    """One tar stream with every upload, extracted at / like upstream's CopyToContainer."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for upload in uploads:
            if upload.get("content"):
                data = upload["content"].encode()
            elif upload.get("contentBase64"):
                data = base64.b64decode(upload["contentBase64"])
            else:
                data = Path(upload["source"]).expanduser().read_bytes()
            if upload.get("permissions"):
                mode = int(upload["permissions"], 8)
            else:
                mode = 0o744 if upload.get("executable") else 0o644
            info = tarfile.TarInfo(upload["file"].lstrip("/"))
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


async def _logs_tail(cli: DockerCli, cid: str) -> str:
    try:
        return await cli.run("logs", "--tail", str(LOG_TAIL), cid)
    except DockerError as err:
        return f"(no logs: {err})"


async def _connect_networks(cli: DockerCli, cid: str, networks: list[dict[str, Any]]) -> None:
    await cli.run("network", "disconnect", "bridge", cid, check=False)
    for net in networks:
        args = [a for alias in net.get("aliases") or [] for a in ("--alias", alias)]
        if net.get("ipv4Address"):
            args += ["--ip", net["ipv4Address"]]
        if net.get("ipv6Address"):
            args += ["--ip6", net["ipv6Address"]]
        args += [a for ip in net.get("linkLocalIps") or [] for a in ("--link-local-ip", ip)]
        args += [a for opt in net.get("driverOpts") or [] for a in ("--driver-opt", opt)]
        await cli.run("network", "connect", *args, net["name"], cid)


async def _wait_healthy(cli: DockerCli, cid: str, timeout: int) -> None:
    deadline = time.monotonic() + timeout
    while True:
        found = await cli.inspect("container", cid) or {}
        health = (found.get("State") or {}).get("Health")
        if health is None:
            raise DockerError(
                "you have supplied a 'wait' argument, but the container does not have a healthcheck "
                "defined. Please remove the 'wait' argument or add a 'healthcheck' attribute"
            )
        if health.get("Status") == "healthy":
            return
        if time.monotonic() > deadline:
            raise DockerError(f"container failed to be in healthy state within {timeout}s")
        await asyncio.sleep(1)


async def _create(cli: DockerCli, inputs: dict[str, Any]) -> str:
    fd, env_path = tempfile.mkstemp(prefix="docker-standin-env-")
    try:
        with os.fdopen(fd, "w") as env_file:
            env_file.write(env_file_text(inputs.get("envs") or []))
        return (await cli.run("create", *create_args(inputs, env_path))).strip()
    finally:
        os.unlink(env_path)


async def create(cli: DockerCli, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    cid = await _create(cli, inputs)
    try:
        return cid, await _start(cli, cid, inputs)
    except Exception:
        # The step fails without an id, so nothing in state would own the container: remove it,
        # or the next `up` stumbles on its name.
        await cli.run("rm", "-f", cid, check=False)
        raise


async def _start(cli: DockerCli, cid: str, inputs: dict[str, Any]) -> dict[str, Any]:
    if inputs.get("networksAdvanced"):
        await _connect_networks(cli, cid, inputs["networksAdvanced"])
    if inputs.get("uploads"):
        await cli.run("cp", "-", f"{cid}:/", stdin=upload_tar(inputs["uploads"]))
    logs = None
    if inputs.get("start", True):
        await cli.run("start", cid)
        if inputs.get("wait"):
            await _wait_healthy(cli, cid, inputs.get("waitTimeout", 60))
    if inputs.get("attach"):
        await cli.run("wait", cid)
        if inputs.get("logs"):
            logs = await cli.run("logs", cid)
    found = await cli.inspect("container", cid)
    if found is None:
        if inputs.get("rm"):  # an --rm container that already finished
            return outputs(inputs, {"Id": cid}, logs)
        raise DockerError(f"container {cid[:12]} vanished right after it was started")
    running = (found.get("State") or {}).get("Running")
    if inputs.get("start", True) and inputs.get("mustRun", True) and not inputs.get("attach") and not running:
        state = found.get("State") or {}
        raise DockerError(
            f"container {inputs.get('name', cid[:12])} exited right away (exit code {state.get('ExitCode')}, "
            f"{state.get('Error') or 'no error'}) but mustRun is true; its last log lines:\n"
            f"{await _logs_tail(cli, cid)}"
        )
    return outputs(inputs, found, logs)


async def read(cli: DockerCli, cid: str, inputs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(outputs, inputs) as they now stand, or None when the container is gone."""
    found = await cli.inspect("container", cid)
    if found is None:
        return None
    state = found.get("State") or {}
    if not state.get("Running") and inputs.get("mustRun", True):
        # Upstream (v4) sets must_run false in state for a stopped container: the next diff sees
        # false -> true and the update starts it again.
        inputs = {**inputs, "mustRun": False}
    return outputs(inputs, found), inputs


async def update(
    cli: DockerCli, cid: str, olds: dict[str, Any], news: dict[str, Any], changed: list[str]
) -> dict[str, Any]:
    if not olds.get("mustRun", True) and news.get("mustRun", True) and news.get("start", True):
        await cli.run("start", cid)
    applied = {"restart", "maxRetryCount", "cpuShares", "memory", "memoryReservation", "cpuSet", "memorySwap"}
    applied |= {"deviceReadBps", "deviceReadIops", "deviceWriteBps", "deviceWriteIops"}
    if applied & set(changed):
        await cli.run("update", *update_args(news), cid)
    found = await cli.inspect("container", cid)
    if found is None:
        raise DockerError(f"container {cid[:12]} no longer exists; run `pulumi refresh`")
    return outputs(news, found)


async def delete(cli: DockerCli, cid: str, inputs: dict[str, Any]) -> None:
    if not inputs.get("attach"):
        # Upstream stops with destroy_grace_seconds, or 0 (SIGTERM then SIGKILL at once) when unset.
        grace = inputs.get("destroyGraceSeconds") or 0
        await cli.run("stop", "-t", str(grace), cid, check=False)
    args = ["rm", "-f", *(["-v"] if inputs.get("removeVolumes", True) else []), cid]
    try:
        await cli.run(*args)
    except DockerError as err:
        if "No such container" not in str(err) and "is already in progress" not in str(err):
            raise
