"""Test-bed hosts: Linux "machines" made of namespaces, each with its own sshd and dockerd.

A host is a network namespace (eth0 on the bridge, 10.77.0.11, .12, ...) plus a private mount and
UTS namespace with its own /run, /tmp, /etc (an overlay on the machine's, so /etc/kolla,
/etc/docker/daemon.json, /etc/hosts and the host keys are per host), /root and /var/lib/docker. The program
reaches it like a real server: `ssh root@10.77.0.11` with the client key, `ssh://` for Docker.

    python -m testbed.hosts up [-n 2] [--fresh] | down | status [--json] | power-off NAME

Processes are recorded under /run/kolla-pulumi-testbed/hosts/ and stopped by PID on `down`; data
(pulled images, /etc changes) stays under /var/lib/kolla-pulumi-testbed/<name>/ between runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from testbed import host_keys, host_modules, host_net, host_procs, registry

STATE = registry.STATE / "hosts"
DATA_ROOT = Path("/var/lib/kolla-pulumi-testbed")
HOST_DIR = Path(__file__).resolve().parent / "host"
BOOT_SCRIPT = HOST_DIR / "boot.sh"
RUNC_WRAPPER = HOST_DIR / "runc_wrapper.py"
READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class Host:
    name: str
    address: str
    port: int
    user: str
    private_key_path: Path
    host_key: str
    data_dir: Path

    def ssh_command(self, *command: str) -> list[str]:
        """`ssh` with the client key and this host's key pinned (StrictHostKeyChecking=yes)."""
        return [
            "ssh",
            "-i",
            str(self.private_key_path),
            "-p",
            str(self.port),
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={host_keys.KNOWN_HOSTS}",
            "-o",
            "BatchMode=yes",
            f"{self.user}@{self.address}",
            *command,
        ]

    def ssh(
        self, command: str, *, check: bool = True, input: str | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run a shell command on the host over ssh (text in, text out)."""
        return subprocess.run(
            self.ssh_command(command), input=input, capture_output=True, text=True, check=check, timeout=timeout
        )


@dataclass(frozen=True)
class Bed:
    """A set of hosts sharing a name prefix; several beds can share the bridge (e.g. a test's own)."""

    prefix: str = "h"
    first_octet: int = 11

    def name(self, index: int) -> str:
        return f"{self.prefix}{index}"

    def address(self, index: int) -> str:
        return f"{host_net.SUBNET}.{self.first_octet + index - 1}"

    def index(self, name: str) -> int | None:
        match = re.fullmatch(rf"{re.escape(self.prefix)}(\d+)", name)
        return int(match.group(1)) if match else None


DEFAULT_BED = Bed()


def kolla_daemon_json(registry_address: str) -> str:
    """/etc/docker/daemon.json as kolla-ansible's docker role writes it, plus the insecure registry.

    The program compares the file byte for byte: this is the exact text, trailing newline included.
    """
    settings = {
        "bridge": "none",
        "ip-forward": False,
        "iptables": False,
        "log-opts": {"max-file": "5", "max-size": "50m"},
        "insecure-registries": [registry_address],
    }
    return json.dumps(settings, indent=4, sort_keys=True) + "\n"


def _sshd_config(address: str) -> str:
    return "\n".join(
        [
            "# Written by testbed.hosts: key authentication only, on this host's address only.",
            f"ListenAddress {address}",
            "Port 22",
            "HostKey /etc/ssh/ssh_host_ed25519_key",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM yes",
            "UseDNS no",
            "PrintMotd no",
            # pulumi-docker opens one ssh connection per engine call, several at once.
            "MaxStartups 100:30:200",
            "MaxSessions 100",
            "Subsystem sftp /usr/lib/openssh/sftp-server",
            "",
        ]
    )


def _veth(name: str) -> str:
    return f"kp-{name}"


def _netns(name: str) -> str:
    return f"kp-{name}"


def _state_file(name: str) -> Path:
    return STATE / f"{name}.json"


def _read_state(name: str) -> dict[str, object] | None:
    try:
        return json.loads(_state_file(name).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _running(name: str) -> bool:
    state = _read_state(name)
    if state is None:
        return False
    holder = int(state["holder"])  # type: ignore[call-overload]
    # A reused PID would not be in the recorded mount namespace.
    return host_procs.alive(holder) and host_procs.namespace_id(holder, "mnt") == state["mnt_ns"]


def _host(bed: Bed, index: int) -> Host:
    name = bed.name(index)
    return Host(
        name=name,
        address=bed.address(index),
        port=22,
        user="root",
        private_key_path=host_keys.client_key(),
        host_key=host_keys.public_line(host_keys.host_key(name)),
        data_dir=DATA_ROOT / name,
    )


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _prepare(host: Host) -> None:
    """Lay out the host's data dir and the files its upper /etc and /root start with."""
    data = host.data_dir
    for sub in ("etc/upper", "etc/work", "root", "docker", "log"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    Path("/var/lib/docker").mkdir(parents=True, exist_ok=True)  # the bind-mount target
    etc, root = data / "etc" / "upper", data / "root"
    root.chmod(0o700)
    for skel in Path("/etc/skel").iterdir():  # a fresh install's dotfiles
        if not (root / skel.name).exists():
            shutil.copy2(skel, root / skel.name)
    key = host_keys.host_key(host.name)
    _write(etc / "ssh" / "ssh_host_ed25519_key", key.read_text(), 0o600)
    _write(etc / "ssh" / "ssh_host_ed25519_key.pub", key.with_suffix(".pub").read_text())
    _write(etc / "ssh" / "sshd_config", _sshd_config(host.address))
    _write(etc / "docker" / "daemon.json", kolla_daemon_json(registry.ADDRESS))
    _write(etc / "hostname", f"{host.name}\n")
    if not (data / "booted").exists():
        # What a fresh Debian install has; kolla-ansible's bootstrap-servers rewrites it.
        _write(etc / "hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\t{host.name}\n")
    ssh_dir = root / ".ssh"
    ssh_dir.mkdir(exist_ok=True)
    ssh_dir.chmod(0o700)  # sshd refuses keys under a group/world-writable dir
    pub = host.private_key_path.with_suffix(".pub").read_text()
    _write(ssh_dir / "authorized_keys", pub, 0o600)
    for stale in ("sshd.pid", "dockerd.pid"):
        (data / stale).unlink(missing_ok=True)


def _runc_dir() -> Path:
    """A directory holding the wrapper as `runc`, for the front of dockerd's PATH.

    A copy, not a link into the checkout: running hosts keep resolving `runc` through it, the checkout
    that booted them may be another one or gone by then, and one under /tmp (a CI clone) is not even
    visible inside the hosts, which mount a /tmp of their own: dockerd then silently finds the real
    runc, and privileged containers fail ("unable to apply caps")."""
    directory = DATA_ROOT / "bin"
    directory.mkdir(parents=True, exist_ok=True)
    runc = directory / "runc"
    wrapper = RUNC_WRAPPER.read_bytes()
    if runc.is_symlink() or not runc.exists() or runc.read_bytes() != wrapper:
        staged = directory / "runc.new"
        staged.write_bytes(wrapper)
        staged.chmod(0o755)
        staged.replace(runc)  # atomic: a container starting meanwhile sees the old or the new one
    return directory


def _boot(host: Host) -> int:
    host_net.add_host_netns(_netns(host.name), _veth(host.name), host.address)
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "TB_NAME": host.name,
        "TB_DATA": str(host.data_dir),
        "TB_BIN": str(_runc_dir()),
        "TB_MODULES": str(host_modules.modules_root(DATA_ROOT)),
    }
    with (host.data_dir / "log" / "boot.log").open("ab") as log:
        proc = subprocess.Popen(
            [
                "nsenter",
                f"--net={host_net.NETNS_DIR / _netns(host.name)}",
                "unshare",
                "--mount",
                "--uts",
                "--",
                "sh",
                str(BOOT_SCRIPT),
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C on the CLI must not take the host down
        )
    return proc.pid


def enter(pid: int, *command: str) -> list[str]:
    """Run `command` inside a host, given its holder PID (root-side access, no ssh)."""
    return ["nsenter", "-t", str(pid), "--mount", "--net", "--uts", "--", *command]


def _ready(host: Host, holder: int) -> bool:
    try:
        with socket.create_connection((host.address, host.port), timeout=0.3):
            pass
    except OSError:
        return False
    docker = enter(holder, "docker", "version", "--format", "{{.Server.Version}}")
    return subprocess.run(docker, capture_output=True, check=False).returncode == 0


def _wait_ready(booting: dict[Host, int]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    pending = dict(booting)
    while pending:
        for host, holder in list(pending.items()):
            if not host_procs.alive(holder):
                raise RuntimeError(f"{host.name} died while booting; see {host.data_dir / 'log'}")
            if _ready(host, holder):
                _record(host, holder)
                del pending[host]
        if pending and time.monotonic() > deadline:
            names = ", ".join(h.name for h in pending)
            raise RuntimeError(f"{names} not ready after {READY_TIMEOUT:.0f}s; see their log/ dirs")
        time.sleep(0.1)


def _record(host: Host, holder: int) -> None:
    state = {
        "holder": holder,
        "mnt_ns": host_procs.namespace_id(holder, "mnt"),
        "net_ns": host_procs.namespace_id(holder, "net"),
        "sshd": host_procs.read_pid(host.data_dir / "sshd.pid"),
        "dockerd": host_procs.read_pid(host.data_dir / "dockerd.pid"),
        "address": host.address,
    }
    STATE.mkdir(parents=True, exist_ok=True)
    _state_file(host.name).write_text(json.dumps(state, indent=2) + "\n")


def _refresh_known_hosts() -> None:
    entries = {}
    for state_file in STATE.glob("*.json") if STATE.exists() else []:
        name = state_file.stem
        state = _read_state(name)
        if state:
            entries[str(state["address"])] = host_keys.public_line(host_keys.host_key(name))
    host_keys.write_known_hosts(entries)
    host_keys.write_ssh_wrapper()


# Containers and volumes go; images stay (re-runs must not pull again).
_FRESH_SCRIPT = """
set -e
ids=$(docker ps -aq); [ -z "$ids" ] || docker rm -f -v $ids >/dev/null
vols=$(docker volume ls -q); [ -z "$vols" ] || docker volume rm -f $vols >/dev/null
rm -rf /etc/kolla /etc/kolla-pulumi /etc/tmpfiles.d/kolla-*.conf
mkdir -p /etc/kolla
# What a deployment leaves outside its containers and volumes: guests (libvirt moves qemu out of
# nova_libvirt's cgroup, and it shares the host's PIDs), libvirt's and OVS's runtime state in the
# host's /run, neutron's network namespaces, its hybrid-plug links and OVS's userspace-datapath taps.
# A new libvirtd would find the old guests' state and try to reconnect to them.
self_ns=$(readlink /proc/self/ns/mnt)
for pid in $(pgrep '^qemu-system' || true); do
    [ "$(readlink /proc/$pid/ns/mnt 2>/dev/null)" = "$self_ns" ] && kill -9 "$pid" 2>/dev/null || true
done
for ns in $(ip netns list | cut -d' ' -f1); do ip netns delete "$ns"; done
for link in $(ip -o link show | cut -d: -f2 | cut -d@ -f1 | grep -E '^ *(qbr|qvb|qvo|tap|br-|ovs-)' || true); do
    ip link delete "$link" 2>/dev/null || true
done
rm -rf /run/libvirt /run/openvswitch /run/nova /run/libvirtd.pid /run/virtlogd.pid
"""


def _freshen(host: Host) -> None:
    state = _read_state(host.name)
    assert state is not None
    subprocess.run(enter(int(state["holder"]), "sh", "-c", _FRESH_SCRIPT), check=True)  # type: ignore[call-overload]


def up(n: int = 2, fresh: bool = False, *, bed: Bed = DEFAULT_BED) -> list[Host]:
    """Bring hosts 1..n of `bed` up (running ones are left alone) and the registry; return them."""
    if shutil.which("dockerd") is None or shutil.which("sshd") is None:
        raise RuntimeError("needs dockerd and sshd: apt-get install docker.io openssh-server")
    registry.up()  # also creates the bridge
    _runc_dir()  # running hosts too: their dockerd resolves `runc` there for every container start
    wanted = [_host(bed, i) for i in range(1, n + 1)]
    booting = {}
    for host in wanted:
        if not _running(host.name):
            _prepare(host)
            booting[host] = _boot(host)
    _wait_ready(booting)
    _refresh_known_hosts()
    if fresh:
        for host in wanted:
            _freshen(host)
    return wanted


def _stop_host(name: str) -> None:
    state = _read_state(name)
    if state is not None:
        for key in ("dockerd", "sshd"):  # dockerd first: it stops the containers
            pid = state.get(key)
            if isinstance(pid, int) and host_procs.namespace_id(pid, "mnt") == state["mnt_ns"]:
                host_procs.stop(pid, timeout=30.0 if key == "dockerd" else 5.0)
        # Whatever is left inside (shims, `docker exec` leftovers, ssh sessions), then the holder.
        for kind in ("mnt", "net"):
            for pid in host_procs.pids_in_namespace(kind, str(state[f"{kind}_ns"])):
                if pid != state["holder"]:
                    host_procs.stop(pid, timeout=5.0)
        host_procs.stop(int(state["holder"]))  # type: ignore[call-overload]
    host_net.delete_host_netns(_netns(name), _veth(name))
    _state_file(name).unlink(missing_ok=True)


def power_off(name: str, *, bed: Bed = DEFAULT_BED) -> None:
    """Cut a host's power: every process in it killed at once (containers get no shutdown), its
    network gone; its disks (data dir: /var/lib/docker, /etc, /root) kept for `up` to boot it again."""
    if bed.index(name) is None:
        raise ValueError(f"{name} is not a host of this bed")
    state = _read_state(name)
    if state is not None:
        for kind in ("net", "mnt"):
            for pid in host_procs.pids_in_namespace(kind, str(state[f"{kind}_ns"])):
                host_procs.kill(pid)
        host_procs.stop(int(state["holder"]))  # type: ignore[call-overload]
    host_net.delete_host_netns(_netns(name), _veth(name))
    _state_file(name).unlink(missing_ok=True)
    _refresh_known_hosts()


def _known_names(bed: Bed) -> list[str]:
    names = {p.stem for p in STATE.glob("*.json")} if STATE.exists() else set()
    if host_net.NETNS_DIR.exists():
        names |= {p.name.removeprefix("kp-") for p in host_net.NETNS_DIR.iterdir()}
    return sorted(n for n in names if bed.index(n) is not None)


def down(*, bed: Bed = DEFAULT_BED) -> None:
    """Stop every host of `bed`. Downing the default bed also stops the registry and removes the
    bridge and its rules once no host is left on it; other beds (tests' own) leave those alone."""
    for name in _known_names(bed):
        _stop_host(name)
    _refresh_known_hosts()
    if bed == DEFAULT_BED and not host_net.bridge_ports():
        registry.down()
        host_net.remove_bridge()


def hosts(*, bed: Bed = DEFAULT_BED) -> list[Host]:
    """The running hosts of `bed`, in index order."""
    indexes = sorted(i for n in _known_names(bed) if _running(n) and (i := bed.index(n)) is not None)
    return [_host(bed, i) for i in indexes]


def _status(bed: Bed) -> list[dict[str, object]]:
    rows = []
    for name in _known_names(bed):
        index = bed.index(name)
        assert index is not None
        row: dict[str, object] = {
            k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(_host(bed, index)).items()
        }
        row["running"] = _running(name)
        state = _read_state(name) or {}
        row["pids"] = {k: v for k, v in state.items() if k in ("holder", "sshd", "dockerd")}
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m testbed.hosts", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    up_cmd = sub.add_parser("up", help="start hosts (idempotent) and the registry")
    up_cmd.add_argument("-n", type=int, default=2, help="number of hosts (default 2)")
    up_cmd.add_argument(
        "--fresh", action="store_true", help="remove containers, volumes, /etc/kolla, kolla-pulumi's records"
    )
    sub.add_parser("down", help="stop every host, remove namespaces, bridge, rules, registry")
    off_cmd = sub.add_parser("power-off", help="cut one host's power, keeping its disks (`up` boots it again)")
    off_cmd.add_argument("name")
    status_cmd = sub.add_parser("status", help="list the hosts")
    status_cmd.add_argument("--json", action="store_true")
    for cmd in (up_cmd, status_cmd, off_cmd, sub.choices["down"]):
        cmd.add_argument("--prefix", default=DEFAULT_BED.prefix, help=argparse.SUPPRESS)
        cmd.add_argument("--first-octet", type=int, default=DEFAULT_BED.first_octet, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    bed = Bed(args.prefix, args.first_octet)
    started = time.monotonic()
    if args.action == "up":
        for host in up(args.n, args.fresh, bed=bed):
            print(f"{host.name}  {host.user}@{host.address}:{host.port}  {host.host_key[:40]}...")
        print(f"key: {host_keys.CLIENT_KEY}  known_hosts: {host_keys.KNOWN_HOSTS}  registry: {registry.URL}")
        wrapper_dir = host_keys.CACHE / "bin"
        print(f"docker CLI: PATH={wrapper_dir}:$PATH DOCKER_HOST=ssh://root@{host.address} docker ps")
        print(f"up in {time.monotonic() - started:.1f}s")
    elif args.action == "down":
        down(bed=bed)
        print(f"down in {time.monotonic() - started:.1f}s")
    elif args.action == "power-off":
        power_off(args.name, bed=bed)
        print(f"{args.name} off in {time.monotonic() - started:.1f}s")
    elif args.json:
        json.dump(_status(bed), sys.stdout, indent=2)
        print()
    else:
        for row in _status(bed):
            state = "running" if row["running"] else "stopped"
            print(f"{row['name']}  {row['address']}  {state}  {row['pids']}")
        reg = registry.running_pid()
        print(f"registry {registry.URL}: {'running' if reg else 'stopped'}")


if __name__ == "__main__":
    os.umask(0o022)
    main()
