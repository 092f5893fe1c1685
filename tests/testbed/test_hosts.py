"""The test-bed hosts: each reachable over SSH with a pinned host key, each with its own engine.

These tests use the shared bed (h1, h2), bringing it up if needed and leaving it running. The one
destructive test (`test_down_leaves_nothing_behind`) uses a bed of its own (prefix "t", addresses
from 10.77.0.201) so it never tears down hosts others are using.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from testbed import host_keys, host_net, host_procs, hosts, registry
from testbed.env import require
from testbed.host import runc_wrapper

EMPTY_IMAGE = "kolla-pulumi-test/usr-links:latest"


def _bed_available() -> None:
    require(os.geteuid() == 0, "root (namespaces, mounts)")
    require(shutil.which("dockerd") is not None, "Debian's docker.io (dockerd)")
    require(shutil.which("sshd") is not None, "openssh-server (sshd)")
    require(shutil.which("docker-registry") is not None, "Debian's docker-registry")


@pytest.fixture(scope="module")
def bed() -> list[hosts.Host]:
    _bed_available()
    return hosts.up(2)


def _usr_links_tar() -> bytes:
    """An image with only the merged-/usr links: containers bind-mount the host's /usr to run."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in ("bin", "lib", "lib64", "sbin"):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, f"usr/{name}"
            tar.addfile(link)
    return buffer.getvalue()


def _ensure_empty_image(host: hosts.Host) -> None:
    subprocess.run(
        host.ssh_command(f"docker image inspect {EMPTY_IMAGE} >/dev/null 2>&1 || docker import - {EMPTY_IMAGE}"),
        input=_usr_links_tar(),
        check=True,
        capture_output=True,
        timeout=60,
    )


def _run_args(extra: str = "") -> str:
    return f"docker run --rm --network host -v /usr:/usr:ro {extra} {EMPTY_IMAGE}"


# --- no bed needed --------------------------------------------------------------------------------


def test_kolla_daemon_json_is_kolla_ansible_docker_role_output() -> None:
    """Sorted keys, 4-space indent, trailing newline: the program compares these bytes."""
    text = hosts.kolla_daemon_json("10.77.0.1:5000")
    assert text.endswith("}\n")
    assert json.loads(text) == {
        "bridge": "none",
        "insecure-registries": ["10.77.0.1:5000"],
        "ip-forward": False,
        "iptables": False,
        "log-opts": {"max-file": "5", "max-size": "50m"},
    }
    assert text == json.dumps(json.loads(text), indent=4, sort_keys=True) + "\n"


def test_runc_wrapper_drops_capabilities_outside_the_bounding_set(tmp_path: Path) -> None:
    """CAP_SYS_RESOURCE (missing on these machines) goes; granted capabilities stay."""
    spec = {"process": {"capabilities": {"bounding": ["CAP_CHOWN", "CAP_SYS_RESOURCE"], "ambient": None}}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(spec))
    runc_wrapper.strip_caps(str(path), False, {"CAP_CHOWN"})
    assert json.loads(path.read_text())["process"]["capabilities"]["bounding"] == ["CAP_CHOWN"]


def test_runc_wrapper_finds_bundle_and_process_options() -> None:
    args = ["--root", "/r", "create", "--bundle", "/b", "--pid-file", "/p", "id"]
    assert runc_wrapper.option(args, "--bundle", "-b") == "/b"
    assert runc_wrapper.option(["exec", "--process=/tmp/p.json", "id"], "--process", "-p") == "/tmp/p.json"


def test_bed_names_and_addresses() -> None:
    bed = hosts.Bed("t", 201)
    assert (bed.name(2), bed.address(2), bed.index("t2"), bed.index("h2")) == ("t2", "10.77.0.202", 2, None)


# --- the shared bed -------------------------------------------------------------------------------


def test_up_returns_the_hosts(bed: list[hosts.Host]) -> None:
    assert [(h.name, h.address, h.port, h.user) for h in bed] == [
        ("h1", "10.77.0.11", 22, "root"),
        ("h2", "10.77.0.12", 22, "root"),
    ]
    for host in bed:
        assert host.host_key.startswith("ssh-ed25519 ")
        assert host.private_key_path.exists()
        assert host.data_dir.is_dir()
    assert hosts.hosts()[:2] == bed


def test_up_is_idempotent(bed: list[hosts.Host]) -> None:
    """A second `up` leaves running hosts alone: same processes, same keys."""
    before = [json.loads(hosts._state_file(h.name).read_text())["holder"] for h in bed]
    assert hosts.up(2) == bed
    after = [json.loads(hosts._state_file(h.name).read_text())["holder"] for h in bed]
    assert before == after


def test_each_host_has_its_own_hostname_and_engine(bed: list[hosts.Host]) -> None:
    seen = {}
    for host in bed:
        out = host.ssh("hostname; docker info --format '{{.ID}} {{.DefaultRuntime}}'").stdout.split()
        assert out[0] == host.name
        assert out[2] == "runc"  # the wrapper stands in under runc's own name
        seen[host.name] = out[1]
    assert len(set(seen.values())) == len(bed), f"engines share an ID: {seen}"


def test_a_container_on_h1_is_invisible_on_h2(bed: list[hosts.Host]) -> None:
    h1, h2 = bed[:2]
    _ensure_empty_image(h1)
    name = f"kp-probe-{uuid.uuid4().hex[:8]}"
    h1.ssh(_run_args(f"-d --name {name}") + " /usr/bin/sleep 300")
    try:
        assert name in h1.ssh("docker ps --format '{{.Names}}'").stdout.split()
        assert name not in h2.ssh("docker ps -a --format '{{.Names}}'").stdout.split()
    finally:
        h1.ssh(f"docker rm -f {name}", check=False)


def test_host_key_pinning_with_strict_checking(bed: list[hosts.Host], tmp_path: Path) -> None:
    """The advertised host_key is the key sshd presents; another host's key is refused."""
    h1, h2 = bed[:2]
    for key, expected in ((h1.host_key, 0), (h2.host_key, 255)):
        known = tmp_path / "known_hosts"
        known.write_text(f"{h1.address} {key}\n")
        command = h1.ssh_command("true")
        command[command.index(f"UserKnownHostsFile={host_keys.KNOWN_HOSTS}")] = f"UserKnownHostsFile={known}"
        assert subprocess.run(command, capture_output=True, timeout=30).returncode == expected


def test_docker_cli_over_ssh_negotiates_the_api(bed: list[hosts.Host]) -> None:
    """A 28.x client and Debian's 20.10 engine agree on API 1.41 over ssh://."""
    env = dict(os.environ, DOCKER_HOST=f"ssh://root@{bed[0].address}")
    env["PATH"] = f"{host_keys.CACHE / 'bin'}:{env['PATH']}"
    out = subprocess.run(
        ["docker", "version", "--format", "{{.Server.APIVersion}} {{.Server.Version}}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    assert out[0] == "1.41" and out[1].startswith("20.10")


def test_daemon_json_is_kollas_byte_for_byte(bed: list[hosts.Host]) -> None:
    for host in bed:
        assert host.ssh("cat /etc/docker/daemon.json").stdout == hosts.kolla_daemon_json(registry.ADDRESS)


def test_privileged_container_runs(bed: list[hosts.Host]) -> None:
    h1 = bed[0]
    _ensure_empty_image(h1)
    result = h1.ssh(_run_args("--privileged") + " /usr/bin/grep CapEff /proc/self/status", check=False)
    assert result.returncode == 0, result.stderr


def test_the_runc_wrapper_is_a_file_the_hosts_can_see(bed: list[hosts.Host]) -> None:
    """Not a link into the checkout: one under /tmp (a CI clone) dangles inside the hosts' own /tmp."""
    runc = hosts.DATA_ROOT / "bin" / "runc"
    assert runc.is_file() and not runc.is_symlink()
    for host in bed:
        assert host.ssh(f"head -c 19 {runc}").stdout == "#!/usr/bin/python3\n", host.name


def test_hosts_have_no_kvm_even_in_privileged_containers(bed: list[hosts.Host]) -> None:
    """The hosts stand for machines without hardware virtualisation, whatever this machine has."""
    h1 = bed[0]
    _ensure_empty_image(h1)
    assert h1.ssh("test -e /dev/kvm", check=False).returncode == 1
    listing = h1.ssh(_run_args("--privileged") + " /usr/bin/ls /dev").stdout.split()
    assert "kvm" not in listing and "null" in listing and "net" in listing, listing
    # The rest of /dev still works: ptys (sshd sessions) and shared memory.
    assert h1.ssh("test -c /dev/ptmx && test -d /dev/shm && echo ok").stdout.strip() == "ok"


def test_hosts_have_an_external_interface_without_an_address(bed: list[hosts.Host]) -> None:
    for host in bed:
        # /sys is the machine's in a host (a network namespace without its own sysfs): ask ip.
        addresses = host.ssh("ip -o addr show dev eth1").stdout
        state = host.ssh("ip -br link show dev eth1").stdout.split()
        assert "inet " not in addresses and state[1] == "UP", (host.name, addresses, state)


def test_modprobe_openvswitch_passes_on_the_hosts_module_tree(bed: list[hosts.Host]) -> None:
    """Kolla's openvswitch_vswitchd runs `modprobe openvswitch` with /lib/modules mounted from the host."""
    h1 = bed[0]
    _ensure_empty_image(h1)
    probe = (
        "/usr/sbin/modprobe openvswitch && echo built-in; /usr/sbin/modprobe no_such_module 2>/dev/null || echo absent"
    )
    result = h1.ssh(_run_args("-v /lib/modules:/lib/modules:ro") + f" /bin/sh -c '{probe}'", check=False)
    assert result.stdout.split() == ["built-in", "absent"], (result.stdout, result.stderr)


def test_run_can_be_mounted_shared(bed: list[hosts.Host]) -> None:
    """Kolla mounts /run:/run:shared (needs a shared / in the host's mount namespace)."""
    h1 = bed[0]
    _ensure_empty_image(h1)
    result = h1.ssh(_run_args("-v /run:/run:shared") + " /usr/bin/true", check=False)
    assert result.returncode == 0, result.stderr


def test_registry_is_reachable_from_the_hosts(bed: list[hosts.Host]) -> None:
    out = bed[0].ssh(f"curl -s -o /dev/null -w '%{{http_code}}' {registry.URL}/v2/", check=False).stdout
    assert out == "200"


# --- a bed of its own, torn down ------------------------------------------------------------------


OWN_BED = hosts.Bed("t", 201)  # t1 at 10.77.0.201: never the shared h1, h2


def test_fresh_removes_containers_volumes_and_etc_kolla_but_keeps_images() -> None:
    """On a bed of its own: `up --fresh` wipes what a deployment left, not what was pulled."""
    _bed_available()
    (host,) = hosts.up(1, bed=OWN_BED)
    _ensure_empty_image(host)
    host.ssh(
        "docker volume create kp-probe && docker create --name kp-probe -v kp-probe:/data "
        + EMPTY_IMAGE
        + " /usr/bin/true",
    )
    host.ssh("mkdir -p /etc/kolla/keystone && touch /etc/kolla/keystone/config.json")
    # kolla-pulumi's record of what it wrote there (components/config_drift.py), and a boot-time file.
    host.ssh("mkdir -p /etc/kolla-pulumi/written && touch /etc/kolla-pulumi/written/keystone")
    host.ssh("touch /etc/tmpfiles.d/kolla-openvswitch-db-server.conf")
    # What a compute deployment leaves outside Docker: neutron's namespaces and hybrid-plug links,
    # libvirt's runtime state.
    host.ssh("ip netns add qdhcp-kp-probe && ip link add qbrkp-probe type bridge && mkdir -p /run/libvirt/qemu")
    hosts.up(1, fresh=True, bed=OWN_BED)
    left = host.ssh(
        "docker ps -aq; docker volume ls -q; ls -A /etc/kolla; ip netns list;"
        " ls -d /etc/kolla-pulumi /etc/tmpfiles.d/kolla-* 2>/dev/null || true"
    ).stdout.split()
    assert left == []
    assert host.ssh("ip link show qbrkp-probe", check=False).returncode != 0
    assert host.ssh("test -e /run/libvirt", check=False).returncode == 1
    assert host.ssh(f"docker image inspect {EMPTY_IMAGE}", check=False).returncode == 0


def test_a_power_cut_keeps_the_disks_and_a_boot_restarts_containers_and_sysctls() -> None:
    """power_off kills everything at once (no shutdown); `up` boots the host again as a machine boots:
    its data, its containers with a restart policy running again, /etc/sysctl.d's net.* applied,
    /etc/tmpfiles.d's directories made again in its fresh /run."""
    _bed_available()
    (host,) = hosts.up(1, bed=OWN_BED)
    _ensure_empty_image(host)
    run = "docker run -d --name kp-power --restart unless-stopped --network host -v /usr:/usr:ro"
    host.ssh(f"docker rm -f kp-power >/dev/null 2>&1; {run} {EMPTY_IMAGE} /bin/sleep 3600 >/dev/null")
    probe = "/etc/sysctl.d/99-kp-probe.conf"
    host.ssh(f"echo 'net.ipv4.ip_nonlocal_bind = 1' > {probe} && sysctl -q -w net.ipv4.ip_nonlocal_bind=1")
    boot_dirs = "/etc/tmpfiles.d/kp-probe.conf"
    host.ssh(f"mkdir -p /etc/tmpfiles.d && echo 'd /run/kp-probe/sub 0750 root root -' > {boot_dirs}")
    state = json.loads(hosts._state_file(host.name).read_text())
    hosts.power_off(host.name, bed=OWN_BED)
    assert not host_procs.alive(state["holder"])
    assert host_procs.pids_in_namespace("net", state["net_ns"]) == []
    assert hosts.hosts(bed=OWN_BED) == []
    hosts.up(1, bed=OWN_BED)
    assert host.ssh("sysctl -n net.ipv4.ip_nonlocal_bind").stdout.strip() == "1"
    assert host.ssh("stat -c %a /run/kp-probe/sub").stdout.strip() == "750"
    running = host.ssh("docker inspect -f '{{.State.Running}}' kp-power", check=False).stdout.strip()
    assert running == "true"
    host.ssh(f"docker rm -f kp-power; rm -f {probe} {boot_dirs}")


def test_down_leaves_nothing_behind() -> None:
    """DESTRUCTIVE for its own bed only: up, then down, then look for leftovers."""
    _bed_available()
    bed = OWN_BED
    (host,) = hosts.up(1, bed=bed)
    state = json.loads(hosts._state_file(host.name).read_text())
    assert host.ssh("hostname").stdout.strip() == "t1"
    hosts.down(bed=bed)
    assert not host_procs.alive(state["holder"])
    for kind in ("mnt", "net"):
        assert host_procs.pids_in_namespace(kind, state[f"{kind}_ns"]) == [], f"processes left in {kind} ns"
    assert not host_net.netns_exists("kp-t1")
    assert "kp-t1" not in host_net.bridge_ports()
    assert str(host.data_dir) not in Path("/proc/self/mountinfo").read_text()
    assert not hosts._state_file("t1").exists()
    assert hosts.hosts(bed=bed) == []
