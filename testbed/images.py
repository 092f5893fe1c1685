"""Images that honour Kolla's container contract, built from Debian packages with no registry pull.

    python -m testbed.images build [--tag 2025.1-debian-trixie] [--only NAME ...]

A base root file system comes from `debootstrap --variant=minbase trixie` against the machine's
Debian mirror; each further layer is an overlay upper dir filled by `apt-get install` in a chroot
(the test-bed hosts have no route to the mirror, so nothing is built on an engine). Kolla's own
scripts come from the `kolla` wheel on PyPI and go where kolla/docker/*/Dockerfile.j2 put them.
Layers (gzip tars) and a schema-2 manifest are pushed straight to the test-bed registry as
`10.77.0.1:5000/openstack.kolla/<image>:<tag>`; images share their base (and keystone-base) layers.

What goes into each layer and image is declared in testbed/images/catalogue.toml. Every layer and
image is keyed by its inputs (suite, mirror, packages, scripts, kolla wheel version,
this builder's version): layers are cached under ~/.cache/kolla-pulumi/images/, and an image whose
manifest in the registry already carries its input key is skipped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from testbed import registry

KOLLA_VERSION = "20.6.0"  # kolla 20.x is OpenStack 2025.1 "Epoxy", the release trixie packages
SUITE = "trixie"
DEFAULT_TAG = "2025.1-debian-trixie"
NAMESPACE = "openstack.kolla"
# Bump when the build procedure changes in a way the hashed inputs do not show.
BUILDER_VERSION = "1"
CACHE = Path.home() / ".cache" / "kolla-pulumi" / "images"
INPUTS = Path(__file__).resolve().parent / "images"
KOLLA_ENTRYPOINT = ("dumb-init", "--single-child", "--")
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Kolla's openstack-base puts its venv first on PATH; ours holds links to Debian's binaries.
OPENSTACK_PATH = f"/var/lib/kolla/venv/bin:{BASE_PATH}"


@dataclass(frozen=True)
class User:
    """Kolla's `configure_user` macro: join group kolla, home dir (default /var/lib/<name>)."""

    name: str
    groups: str = ""
    shell: str = ""
    homedir: str = ""


@dataclass(frozen=True)
class Layer:
    name: str
    parent: str | None
    packages: tuple[str, ...] = ()
    users: tuple[User, ...] = ()
    # (source, destination, mode): "kolla:<path under the wheel's docker/>" or "testbed:<file>".
    files: tuple[tuple[str, str, str], ...] = ()
    script: str = ""  # shell run after the packages and files
    # Commands (shell globs) linked into /var/lib/kolla/venv/bin: Kolla's sudoers, rootwrap.conf and
    # config.json commands name that venv; Debian installs the same entry points under /usr/bin.
    venv: tuple[str, ...] = ()
    # What Kolla's openstack-base gives an OpenStack image to serve its API (see _WEB_SETUP).
    web: bool = False


@dataclass(frozen=True)
class Image:
    name: str
    layer: str
    user: str = ""  # the Dockerfile's final USER; "" is root
    entrypoint: tuple[str, ...] = KOLLA_ENTRYPOINT
    path: str = BASE_PATH
    labels: dict[str, str] = field(default_factory=dict)


CATALOGUE = INPUTS / "catalogue.toml"


def load_catalogue(path: Path = CATALOGUE) -> tuple[dict[str, Layer], dict[str, Image]]:
    """The layers and images declared in catalogue.toml (see its header for the fields)."""
    data = tomllib.loads(path.read_text())
    layers = {
        name: Layer(
            name,
            spec.get("parent"),
            tuple(spec.get("packages", ())),
            tuple(User(**user) for user in spec.get("users", ())),
            tuple(tuple(entry) for entry in spec.get("files", ())),  # type: ignore[misc]
            spec.get("script", ""),
            tuple(spec.get("venv", ())),
            bool(spec.get("web", False)),
        )
        for name, spec in data["layers"].items()
    }
    paths = {"base": BASE_PATH, "openstack": OPENSTACK_PATH}
    images = {
        name: Image(
            name,
            spec["layer"],
            spec.get("user", ""),
            tuple(spec.get("entrypoint", KOLLA_ENTRYPOINT)),
            paths[spec.get("path", "base")],
            spec.get("labels", {}),
        )
        for name, spec in data["images"].items()
    }
    for image in images.values():  # an unknown layer or parent fails here, not halfway through a build
        layer: str | None = image.layer
        while layer is not None:
            layer = layers[layer].parent
    return layers, images


LAYERS, IMAGES = load_catalogue()


# --- inputs -----------------------------------------------------------------------------------


def debian_mirror() -> str:
    """The machine's configured Debian mirror (deb822 sources or sources.list)."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in path.read_text().split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            if uris and "security" not in uris.group(1):
                return uris.group(1).rstrip("/")
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        match = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+\S+", legacy.read_text(), re.M)
        if match:
            return match.group(1).rstrip("/")
    raise RuntimeError("no Debian mirror configured in /etc/apt/sources.list(.d)")


def kolla_docker_dir() -> Path:
    """The wheel's share/kolla/docker (Dockerfiles and scripts), downloaded with pip once."""
    target = CACHE / f"kolla-{KOLLA_VERSION}"
    docker = target / "docker"
    if docker.is_dir():
        return docker
    wheels = CACHE / "wheels"
    wheel = wheels / f"kolla-{KOLLA_VERSION}-py3-none-any.whl"
    if not wheel.exists():
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:"]
        subprocess.run([*pip, f"kolla=={KOLLA_VERSION}", "-d", str(wheels)], check=True)
    tmp = target.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    prefix = f"kolla-{KOLLA_VERSION}.data/data/share/kolla/docker/"
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if member.startswith(prefix) and not member.endswith("/"):
                dest = tmp / "docker" / member.removeprefix(prefix)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(archive.read(member))
        (tmp / "users.py").write_bytes(archive.read("kolla/common/users.py"))
    tmp.rename(target)
    return docker


def kolla_users() -> dict[str, tuple[int, int, str]]:
    """kolla/common/users.py as {name: (uid, gid, group)}; the module is plain data."""
    namespace: dict[str, object] = {}
    exec(compile((kolla_docker_dir().parent / "users.py").read_text(), "users.py", "exec"), namespace)
    users = namespace["USERS"]
    assert isinstance(users, dict)
    return {
        key.removesuffix("-user"): (spec["uid"], spec["gid"], spec.get("group", key.removesuffix("-user")))
        for key, spec in users.items()
    }


def _source(spec: str) -> Path:
    kind, _, rel = spec.partition(":")
    return (kolla_docker_dir() if kind == "kolla" else INPUTS) / rel


def _install_files(files: tuple[tuple[str, str, str], ...]) -> str:
    return "".join(f"install -D -m {mode} /tmp/files/{i} {dest}\n" for i, (_, dest, mode) in enumerate(files))


def _configure_users(users: tuple[User, ...]) -> str:
    lines = []
    for user in users:
        home = user.homedir or f"/var/lib/{user.name}"
        lines.append(f"usermod --append --home {home} --groups kolla {user.name}")
        if user.groups:
            lines.append(f"usermod --append --groups {user.groups} {user.name}")
        if user.shell:
            lines.append(f"chsh --shell {user.shell} {user.name}")
        lines.append(f"mkdir -p {home} && chown -R {user.name}: {home}")
    return "".join(f"{line}\n" for line in lines)


def _apt_install(packages: tuple[str, ...]) -> str:
    if not packages:
        return ""
    install = "apt-get install -y --no-install-recommends " + " ".join(packages)
    # The lists are shared between layers; refresh them only when the mirror moved on.
    return f"{install} || {{ apt-get update && {install}; }}\n"


def _base_script() -> str:
    accounts = "".join(
        f"groupadd --gid {gid} {group}\nuseradd -l -M --shell /usr/sbin/nologin --uid {uid} --gid {gid} {name}\n"
        for name, (uid, gid, group) in sorted(kolla_users().items())
    )
    base_files = (
        "install -m 755 /tmp/files/set_configs.py /usr/local/bin/kolla_set_configs\n"
        "install -m 755 /tmp/files/start.sh /usr/local/bin/kolla_start\n"
        "install -m 755 /tmp/files/copy_cacerts.sh /usr/local/bin/kolla_copy_cacerts\n"
        "install -m 755 /tmp/files/install_projects.sh /usr/local/bin/kolla_install_projects\n"
        "install -m 644 /tmp/files/httpd_setup.sh /usr/local/bin/kolla_httpd_setup\n"
        "install -m 755 /tmp/files/kolla_patch.sh /usr/local/bin/kolla_patch\n"
        "install -m 440 /tmp/files/sudoers /etc/sudoers\n"
        "for f in /tmp/files/healthcheck_*; do install -m 755 $f /usr/local/bin/; done\n"
    )
    return (
        "printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d\n"
        "install -D -m 644 /tmp/files/dpkg_reducing_disk_footprint "
        "/etc/dpkg/dpkg.cfg.d/dpkg_reducing_disk_footprint\n"
        "apt-get update\n" + _apt_install(("adduser",)) + "cat /tmp/files/kolla_bashrc >> /etc/bash.bashrc\n"
        "sed -i -e s/#*LAST_SYSTEM_UID=999/LAST_SYSTEM_UID=59999/g "
        "-e s/#*LAST_SYSTEM_GID=999/LAST_SYSTEM_GID=59999/g /etc/adduser.conf\n"
        # Kolla creates every user with its fixed UID before any package, so packages reuse them.
        + accounts
        + _apt_install(LAYERS["base"].packages)
        # What dpkg_reducing_disk_footprint would have kept out of the packages debootstrap installed.
        + "find /usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'en*' -exec rm -rf {} +\n"
        "rm -rf /usr/share/man/* /usr/share/info/* /usr/share/groff/* /usr/share/lintian/*\n"
        "find /usr/share/doc -type f ! -name copyright -delete\n"
        + 'sed -e "s/# en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/" -i /etc/locale.gen && locale-gen\n'
        "rm -f /etc/localtime\n"
        + base_files
        + "touch /usr/local/bin/kolla_extend_start && chmod 644 /usr/local/bin/kolla_extend_start\n"
        "mkdir -p /var/log/kolla && chown :kolla /var/log/kolla && chmod 2775 /var/log/kolla\n"
    )


_BASE_FILES = (
    *("set_configs.py", "start.sh", "copy_cacerts.sh", "install_projects.sh", "httpd_setup.sh"),
    *("kolla_patch.sh", "sudoers", "kolla_bashrc", "dpkg_reducing_disk_footprint"),
    *("healthcheck_curl", "healthcheck_filemod", "healthcheck_listen", "healthcheck_port"),
    "healthcheck_socket",
)


def _venv_links(commands: tuple[str, ...]) -> str:
    """Link each command found on PATH (or matched by a /usr/bin glob) into Kolla's venv bin dir;
    a name that matches nothing fails the build rather than an image missing a command."""
    if not commands:
        return ""
    lines = ["mkdir -p /var/lib/kolla/venv/bin"]
    for command in commands:
        if "*" in command:
            lines.append(f'for t in /usr/bin/{command}; do test -e "$t"; ln -sf "$t" /var/lib/kolla/venv/bin/; done')
        else:
            # An assignment's failing substitution stops `sh -e`; an argument's would not.
            lines += [f"target=$(command -v {command})", f'ln -sf "$target" /var/lib/kolla/venv/bin/{command}']
    return "".join(f"{line}\n" for line in lines)


WEB_PACKAGES = ("apache2", "libapache2-mod-wsgi-py3")
# Kolla's openstack-base empties ports.conf (each service's vhost file has its Listen lines); Debian's
# default site goes too. Kolla's pip uwsgi has the http router built in, Debian's loads it as a plugin,
# and Kolla's uwsgi.ini files name only `plugins = python3`: a venv uwsgi adds it.
_WEB_SETUP = """echo > /etc/apache2/ports.conf
a2dissite 000-default || true
if [ -x /usr/bin/uwsgi ]; then
    mkdir -p /var/lib/kolla/venv/bin
    printf '#!/bin/sh\\nexec /usr/bin/uwsgi --plugin http "$@"\\n' > /var/lib/kolla/venv/bin/uwsgi
    chmod 755 /var/lib/kolla/venv/bin/uwsgi
fi
"""


def _layer_script(layer: Layer) -> str:
    if layer.parent is None:
        return _base_script()
    steps = (
        _configure_users(layer.users),
        _apt_install(layer.packages + (WEB_PACKAGES if layer.web else ())),
        _install_files(layer.files),
        _venv_links(layer.venv),
        _WEB_SETUP if layer.web else "",
    )
    return "".join(steps) + layer.script


def _layer_inputs(layer: Layer) -> list[tuple[str, Path]]:
    """(name in /tmp/files, source) for every file the layer's script reads."""
    if layer.parent is None:
        return [(name, kolla_docker_dir() / "base" / name) for name in _BASE_FILES]
    return [(str(i), _source(src)) for i, (src, _, _) in enumerate(layer.files)]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def layer_keys(mirror: str) -> dict[str, str]:
    """Input key of every layer: its script, files, parent's key, suite, mirror, versions."""
    keys: dict[str, str] = {}

    def key(name: str) -> str:
        if name not in keys:
            layer = LAYERS[name]
            inputs = {
                "builder": BUILDER_VERSION,
                "kolla": KOLLA_VERSION,
                "suite": SUITE,
                "mirror": mirror,
                "parent": key(layer.parent) if layer.parent else None,
                "script": _layer_script(layer),
                "files": [(n, _sha256(p.read_bytes())) for n, p in _layer_inputs(layer)],
                "chroot": _sha256((INPUTS / "chroot-build.sh").read_bytes()),
            }
            keys[name] = _sha256(json.dumps(inputs, sort_keys=True).encode())
        return keys[name]

    for name in LAYERS:
        key(name)
    return keys


# --- building ---------------------------------------------------------------------------------


@dataclass
class BuiltLayer:
    name: str
    key: str
    path: Path  # the cached layer dir
    diff_id: str  # sha256 of the uncompressed tar
    digest: str  # sha256 of the gzip blob
    size: int  # blob bytes
    tar_size: int
    created: str
    seconds: float

    @property
    def blob(self) -> Path:
        return self.path / "layer.tar.gz"

    @property
    def tree(self) -> Path:
        """The file tree: a whole rootfs for the base, an overlay upper dir for the others."""
        return self.path / ("rootfs" if (self.path / "rootfs").is_dir() else "upper")


def _debootstrap(mirror: str) -> Path:
    target = CACHE / "debootstrap" / f"{SUITE}-{_sha256(mirror.encode())[:12]}"
    if target.is_dir():
        return target
    tmp = target.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    debootstrap = ["debootstrap", "--variant=minbase", SUITE, str(tmp), mirror]
    subprocess.run(debootstrap, check=True, stdout=subprocess.DEVNULL)
    tmp.rename(target)
    print(f"  debootstrap {SUITE}: {time.monotonic() - started:.0f}s", flush=True)
    return target


class _Hashing:
    """A write-only stream that hashes what passes through it and counts bytes."""

    def __init__(self, sink: IO[bytes]) -> None:
        self.sink, self.sha, self.size = sink, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.sink.write(data)


# Never in a layer: mount points and apt's shared caches (bind-mounted during builds).
_SKIP_CONTENTS = {"dev", "proc", "sys", "tmp", "var/lib/apt/lists", "var/cache/apt"}


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def _add_tree(tar: tarfile.TarFile, root: Path) -> None:
    """Add `root` to `tar` as an image layer: overlay whiteouts become OCI `.wh.` entries."""
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames.sort()
        if rel_dir in _SKIP_CONTENTS:
            dirnames.clear()
            continue
        for name in dirnames + sorted(filenames):
            path = os.path.join(dirpath, name)
            arcname = os.path.normpath(os.path.join(rel_dir, name))
            st = os.lstat(path)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:  # overlay whiteout: deleted below
                whiteout = tarfile.TarInfo(os.path.join(os.path.dirname(arcname), f".wh.{name}"))
                whiteout.mtime = int(st.st_mtime)
                tar.addfile(whiteout)
                continue
            info = tar.gettarinfo(path, arcname)
            info.uname = info.gname = ""  # numeric IDs only: names here are the build machine's
            if info.isreg():
                with open(path, "rb") as content:
                    tar.addfile(info, content)
            else:
                tar.addfile(info)
            if stat.S_ISDIR(st.st_mode) and _opaque(path):
                tar.addfile(tarfile.TarInfo(os.path.join(arcname, ".wh..wh..opq")))


def _write_blob(tree: Path, blob: Path) -> tuple[str, str, int, int]:
    """Tar + gzip `tree` into `blob`; returns (diff_id, digest, blob size, tar size)."""
    with blob.open("wb") as out:
        gzip = subprocess.Popen(["gzip", "-1", "-n", "-c"], stdin=subprocess.PIPE, stdout=out)
        assert gzip.stdin is not None
        hashing = _Hashing(gzip.stdin)
        with tarfile.open(fileobj=hashing, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            _add_tree(tar, tree)
        gzip.stdin.close()
        if gzip.wait() != 0:
            raise RuntimeError("gzip failed")
    digest = hashlib.sha256()
    with blob.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    size = blob.stat().st_size
    return f"sha256:{hashing.sha.hexdigest()}", f"sha256:{digest.hexdigest()}", size, hashing.size


def _chain(name: str) -> list[str]:
    """The layer names from the base up to `name`."""
    chain = [name]
    while (parent := LAYERS[chain[-1]].parent) is not None:
        chain.append(parent)
    return chain[::-1]


def _layer_dir(name: str, key: str) -> Path:
    return CACHE / "layers" / f"{name}-{key[:16]}"


def _load(name: str, key: str) -> BuiltLayer | None:
    meta = _layer_dir(name, key) / "layer.json"
    if not meta.exists():
        return None
    data = json.loads(meta.read_text())
    return BuiltLayer(path=meta.parent, **data)


def build_layer(name: str, keys: dict[str, str], mirror: str, built: dict[str, BuiltLayer]) -> BuiltLayer:
    """The cached layer `name`, built first (with its parents) when its inputs changed."""
    if name in built:
        return built[name]
    layer, key = LAYERS[name], keys[name]
    parents = [build_layer(p, keys, mirror, built) for p in _chain(name)[:-1]]
    cached = _load(name, key)
    if cached is not None:
        built[name] = cached
        return cached
    started = time.monotonic()
    final = _layer_dir(name, key)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    files = tmp / "files"
    files.mkdir(parents=True)
    for arcname, source in _layer_inputs(layer):
        shutil.copy2(source, files / arcname)
    (tmp / "build.sh").write_text(_layer_script(layer))
    lists, apt_cache = CACHE / "apt" / "lists", CACHE / "apt" / "cache"
    for d in (lists / "partial", apt_cache / "archives" / "partial"):
        d.mkdir(parents=True, exist_ok=True)
    if layer.parent is None:
        tree = tmp / "rootfs"
        subprocess.run(["cp", "-a", str(_debootstrap(mirror)), str(tree)], check=True)
        sources = f"deb {mirror} {SUITE} main\n"
        (tree / "etc" / "apt" / "sources.list").write_text(sources)
        (tree / "etc" / "resolv.conf").write_text("")  # debootstrap copied the build machine's
        root, lowers, upper, work = tree, "", "", ""
    else:
        tree, root, work = tmp / "upper", tmp / "merged", tmp / "work"
        for d in (tree, root, work):
            d.mkdir()
        # Parent trees, top first, the base rootfs last: overlay's lowerdir order.
        lowers = ":".join(str(p.tree) for p in reversed(parents))
        upper = str(tree)
    runner = ["unshare", "--mount", "--pid", "--fork", "--kill-child", "sh", str(INPUTS / "chroot-build.sh")]
    args = [str(root), lowers, upper, str(work), str(lists), str(apt_cache), str(files), str(tmp / "build.sh")]
    with (tmp / "build.log").open("wb") as log:
        if subprocess.run([*runner, *args], stdout=log, stderr=subprocess.STDOUT, check=False).returncode:
            tail = (tmp / "build.log").read_text(errors="replace").splitlines()[-25:]
            raise RuntimeError(f"layer {name} failed; {tmp / 'build.log'} ends:\n" + "\n".join(tail))
    if layer.parent is not None:
        root.rmdir()  # the (now unmounted) overlay mount point
        shutil.rmtree(work)
    diff_id, digest, size, tar_size = _write_blob(tree, tmp / "layer.tar.gz")
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    seconds = time.monotonic() - started
    result = BuiltLayer(name, key, final, diff_id, digest, size, tar_size, created, seconds)
    meta = {k: v for k, v in asdict(result).items() if k != "path"}
    (tmp / "layer.json").write_text(json.dumps(meta, indent=2) + "\n")
    tmp.rename(final)
    for stale in final.parent.glob(f"{name}-*"):  # older builds of this layer
        if stale != final and re.fullmatch(rf"{re.escape(name)}-[0-9a-f]{{16}}(\.tmp)?", stale.name):
            shutil.rmtree(stale, ignore_errors=True)
    print(f"  layer {name}: built in {result.seconds:.0f}s, {size / 1e6:.0f} MB compressed", flush=True)
    built[name] = result
    return result


# --- images -----------------------------------------------------------------------------------


def repository(image: str) -> str:
    return f"{NAMESPACE}/{image}"


def reference(image: str, tag: str = DEFAULT_TAG) -> str:
    """The pull reference the hosts use, e.g. 10.77.0.1:5000/openstack.kolla/keystone:<tag>."""
    return f"{registry.ADDRESS}/{repository(image)}:{tag}"


def image_key(image: Image, keys: dict[str, str]) -> str:
    spec = {k: v for k, v in asdict(image).items()}
    return _sha256(json.dumps({"layer": keys[image.layer], "image": spec}, sort_keys=True).encode())


def _config(image: Image, layers: list[BuiltLayer], key: str) -> bytes:
    env = [
        f"PATH={image.path}",
        "LANG=en_US.UTF-8",
        "KOLLA_BASE_DISTRO=debian",
        "KOLLA_BASE_ARCH=x86_64",
        "DEBIAN_FRONTEND=noninteractive",
        "PS1=$(tput bold)($(printenv KOLLA_SERVICE_NAME))$(tput sgr0)[$(id -un)@$(hostname -s) $(pwd)]$ ",
    ]
    created = max(layer.created for layer in layers)
    labels = {
        "kolla_version": KOLLA_VERSION,
        "name": image.name,
        "build-date": created[:10],
        "kolla_pulumi.input_key": key,
        "kolla_pulumi.built_from": f"Debian {SUITE} packages, kolla {KOLLA_VERSION} scripts",
        **image.labels,
    }
    config: dict[str, object] = {"Env": env, "Entrypoint": list(image.entrypoint), "Cmd": ["kolla_start"]}
    if image.user:
        config["User"] = image.user
    config["Labels"] = labels
    document = {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": layer.created, "created_by": f"testbed.images layer {layer.name}"} for layer in layers],
    }
    return json.dumps(document, sort_keys=True).encode()


def pushed_key(image: str, tag: str) -> str | None:
    """The input key of the image the registry holds under `tag`, if any."""
    repo = repository(image)
    manifest = registry.get_manifest(repo, tag)
    if not manifest:
        return None
    config_digest = manifest["config"]["digest"]  # type: ignore[index]
    labels = json.loads(registry.get_blob(repo, config_digest)).get("config", {}).get("Labels") or {}
    return labels.get("kolla_pulumi.input_key")


def push(image: Image, layers: list[BuiltLayer], key: str, tag: str, holders: dict[str, str]) -> None:
    blobs = [registry.Blob(layer.digest, layer.size, layer.blob) for layer in layers]
    registry.push_image(repository(image.name), tag, blobs, _config(image, layers, key), holders)


def build(tag: str = DEFAULT_TAG, only: list[str] | None = None) -> dict[str, str]:
    """Build and push the images (all, or `only` these); returns {image: pull reference}."""
    if os.geteuid() != 0:
        raise RuntimeError("building images needs root (debootstrap, chroot, overlay mounts)")
    registry.up()
    mirror = debian_mirror()
    keys = layer_keys(mirror)
    built: dict[str, BuiltLayer] = {}
    holders: dict[str, str] = {}
    names = only or list(IMAGES)
    print(f"images {tag} from Debian {SUITE} ({mirror}), kolla {KOLLA_VERSION} scripts")
    for name in names:
        image = IMAGES[name]
        key = image_key(image, keys)
        started = time.monotonic()
        if pushed_key(name, tag) == key:
            print(f"{name:16} up to date in the registry")
            continue
        layers = [build_layer(n, keys, mirror, built) for n in _chain(image.layer)]
        pushing = time.monotonic()
        push(image, layers, key, tag, holders)
        size = sum(layer.size for layer in layers) / 1e6
        unpacked = sum(layer.tar_size for layer in layers) / 1e6
        print(
            f"{name:16} {size:5.0f} MB compressed, {unpacked:5.0f} MB unpacked, {len(layers)} layers; "
            f"build {pushing - started:.0f}s, push {time.monotonic() - pushing:.1f}s",
            flush=True,
        )
    return {name: reference(name, tag) for name in names}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m testbed.images", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    build_cmd = sub.add_parser("build", help="build and push the images (cached by input)")
    build_cmd.add_argument("--tag", default=DEFAULT_TAG)
    build_cmd.add_argument("--only", nargs="+", choices=sorted(IMAGES), help="these images only")
    sub.add_parser("list", help="the images and their layers")
    args = parser.parse_args(argv)
    if args.action == "list":
        for image in IMAGES.values():
            print(f"{image.name:16} {' > '.join(_chain(image.layer))}")
        return
    started = time.monotonic()
    references = build(args.tag, args.only)
    example = next(iter(references.values()))
    print(f"{len(references)} images in {time.monotonic() - started:.0f}s, e.g. {example}")


if __name__ == "__main__":
    main()
