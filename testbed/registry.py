"""The test bed's image registry: Debian's `docker-registry` on the bridge address, port 5000.

Storage is a directory in the user's cache, so pushed images survive `down` and reboots. The hosts'
dockerd list it in `insecure-registries` (plain HTTP). `python -m testbed.registry up|down|status`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from testbed import host_net, host_procs

PORT = 5000
ADDRESS = f"{host_net.GATEWAY}:{PORT}"
URL = f"http://{ADDRESS}"
STORAGE = Path.home() / ".cache" / "kolla-pulumi" / "registry"
STATE = Path("/run/kolla-pulumi-testbed")
PID_FILE = STATE / "registry.pid"
CONFIG = STATE / "registry.yml"
LOG = STATE / "registry.log"


def _config() -> str:
    # JSON is YAML: no YAML writer needed.
    return json.dumps(
        {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(STORAGE)}, "delete": {"enabled": True}},
            "http": {"addr": ADDRESS},
        },
        indent=2,
    )


# Never through a proxy: the registry lives on the bridge.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def responding(timeout: float = 1.0) -> bool:
    try:
        with OPENER.open(f"{URL}/v2/", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def running_pid() -> int | None:
    pid = host_procs.read_pid(PID_FILE)
    return pid if pid is not None and host_procs.alive(pid) else None


def up() -> None:
    """Start the registry unless it already runs; returns once it answers /v2/."""
    host_net.ensure_bridge()
    pid = running_pid()
    if pid is not None:
        if responding():
            return
        host_procs.stop(pid)  # alive but deaf (e.g. its address went away): start afresh
    STATE.mkdir(parents=True, exist_ok=True)
    STORAGE.mkdir(parents=True, exist_ok=True)
    CONFIG.write_text(_config())
    with LOG.open("ab") as log:
        proc = subprocess.Popen(
            ["docker-registry", "serve", str(CONFIG)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the CLI that started it
        )
    PID_FILE.write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 15
    while not responding(timeout=0.5):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"docker-registry did not come up on {ADDRESS}; see {LOG}")
        time.sleep(0.05)


def down() -> None:
    pid = running_pid()
    if pid is not None:
        host_procs.stop(pid)
    PID_FILE.unlink(missing_ok=True)


# --- A minimal client of the registry HTTP API (v2), enough to push images built without an engine.

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"
LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"


@dataclass(frozen=True)
class Blob:
    """A gzipped layer on disk, by its registry digest."""

    digest: str
    size: int
    path: Path


def _request(method: str, path: str, data: object = None, headers: dict[str, str] | None = None):
    url = path if path.startswith("http") else f"{URL}{path}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # type: ignore[arg-type]
    return OPENER.open(request, timeout=300)


def blob_exists(repo: str, digest: str) -> bool:
    try:
        with _request("HEAD", f"/v2/{repo}/blobs/{digest}"):
            return True
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return False
        raise


def mount_blob(repo: str, digest: str, from_repo: str) -> bool:
    """Cross-repository mount: no upload when another repository already holds the blob."""
    try:
        with _request("POST", f"/v2/{repo}/blobs/uploads/?mount={digest}&from={from_repo}", b"") as response:
            return response.status == 201
    except urllib.error.HTTPError:
        return False


def upload_blob(repo: str, digest: str, source: Path | bytes) -> None:
    """Monolithic upload (POST for a location, one PUT with the content)."""
    with _request("POST", f"/v2/{repo}/blobs/uploads/", b"") as response:
        location = response.headers["Location"]
    if location.startswith("/"):
        location = URL + location
    target = f"{location}{'&' if '?' in location else '?'}digest={digest}"
    headers = {"Content-Type": "application/octet-stream"}
    if isinstance(source, bytes):
        with _request("PUT", target, source, headers):
            return
    headers["Content-Length"] = str(source.stat().st_size)
    with source.open("rb") as body, _request("PUT", target, body, headers):
        return


def put_manifest(repo: str, reference: str, manifest: bytes) -> None:
    with _request("PUT", f"/v2/{repo}/manifests/{reference}", manifest, {"Content-Type": MANIFEST_V2}):
        return


def get_manifest(repo: str, reference: str) -> dict[str, object] | None:
    try:
        accept = {"Accept": MANIFEST_V2}
        with _request("GET", f"/v2/{repo}/manifests/{reference}", headers=accept) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def get_blob(repo: str, digest: str) -> bytes:
    with _request("GET", f"/v2/{repo}/blobs/{digest}") as response:
        return response.read()


def push_image(repo: str, tag: str, layers: list[Blob], config: bytes, holders: dict[str, str]) -> None:
    """Push an image: layer blobs (mounted from `holders` - digest -> a repository known to have it -
    when possible), its config, then the schema-2 manifest under `tag`. Updates `holders`."""
    for layer in layers:
        if blob_exists(repo, layer.digest):
            continue
        source = holders.get(layer.digest)
        if not (source and mount_blob(repo, layer.digest, source)):
            upload_blob(repo, layer.digest, layer.path)
        holders[layer.digest] = repo
    config_digest = f"sha256:{hashlib.sha256(config).hexdigest()}"
    if not blob_exists(repo, config_digest):
        upload_blob(repo, config_digest, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_V2,
        "config": {"mediaType": CONFIG_V1, "size": len(config), "digest": config_digest},
        "layers": [{"mediaType": LAYER_GZIP, "size": b.size, "digest": b.digest} for b in layers],
    }
    put_manifest(repo, tag, json.dumps(manifest, indent=3).encode())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m testbed.registry", description=__doc__)
    parser.add_argument("action", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    if args.action == "up":
        up()
        print(f"registry: {URL} (storage {STORAGE})")
    elif args.action == "down":
        down()
        print("registry: stopped")
    else:
        pid = running_pid()
        print(f"registry: {'running, pid ' + str(pid) if pid else 'stopped'}; {URL}; storage {STORAGE}")


if __name__ == "__main__":
    main()
