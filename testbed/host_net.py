"""The test bed's network: one Linux bridge in the root namespace, a veth per host namespace.

Everything stays on 10.77.0.0/24: hosts get a default route via the bridge address (Ansible-style fact
gathering and some daemons want one), and a FORWARD rule drops whatever would leave the bridge, so
nothing is ever routed to the outside (there is no NAT either).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

BRIDGE = "kpbr0"
SUBNET = "10.77.0"
GATEWAY = f"{SUBNET}.1"
PREFIX_LEN = 24
NETNS_DIR = Path("/run/netns")
# Tags our iptables rules so teardown removes exactly those.
RULE_COMMENT = "kolla-pulumi-testbed"
# Bridge-to-bridge traffic passes FORWARD when br_netfilter is loaded (a root-namespace dockerd sets
# the policy to DROP); anything else from the bridge must never be routed out.
_FORWARD_RULES = (
    ["-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"],
    ["-i", BRIDGE, "!", "-o", BRIDGE, "-j", "DROP"],
)


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True)


def _link_exists(name: str, netns: str | None = None) -> bool:
    ns = ["-n", netns] if netns else []
    return run("ip", *ns, "link", "show", name, check=False).returncode == 0


def ensure_bridge() -> None:
    """Create the bridge with the gateway address, and the FORWARD rules; idempotent."""
    if not _link_exists(BRIDGE):
        run("ip", "link", "add", BRIDGE, "type", "bridge")
    addrs = run("ip", "-o", "-4", "addr", "show", "dev", BRIDGE).stdout
    if f" {GATEWAY}/" not in addrs:
        run("ip", "addr", "add", f"{GATEWAY}/{PREFIX_LEN}", "dev", BRIDGE)
    run("ip", "link", "set", BRIDGE, "up")
    for rule in reversed(_FORWARD_RULES):
        spec = [*rule, "-m", "comment", "--comment", RULE_COMMENT]
        if run("iptables", "-C", "FORWARD", *spec, check=False).returncode != 0:
            run("iptables", "-I", "FORWARD", "1", *spec)


def bridge_ports() -> list[str]:
    if not _link_exists(BRIDGE):
        return []
    out = run("ip", "-o", "link", "show", "master", BRIDGE).stdout
    return [line.split(": ")[1].split("@")[0] for line in out.splitlines() if ": " in line]


def remove_bridge() -> None:
    """Delete the bridge and our FORWARD rules (call only once no host uses it)."""
    for rule in _FORWARD_RULES:
        spec = [*rule, "-m", "comment", "--comment", RULE_COMMENT]
        while run("iptables", "-D", "FORWARD", *spec, check=False).returncode == 0:
            pass
    if _link_exists(BRIDGE):
        run("ip", "link", "del", BRIDGE)


def netns_exists(netns: str) -> bool:
    return (NETNS_DIR / netns).exists()


def add_host_netns(netns: str, veth: str, address: str) -> None:
    """A namespace whose eth0 (address/24) is plugged into the bridge; lo up; idempotent."""
    if not netns_exists(netns):
        run("ip", "netns", "add", netns)
    if not _link_exists("eth0", netns):
        if _link_exists(veth):  # half-built by an interrupted run
            run("ip", "link", "del", veth)
        run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
    run("ip", "link", "set", veth, "master", BRIDGE, "up")
    addrs = run("ip", "-n", netns, "-o", "-4", "addr", "show", "dev", "eth0").stdout
    if f" {address}/" not in addrs:
        run("ip", "-n", netns, "addr", "add", f"{address}/{PREFIX_LEN}", "dev", "eth0")
    run("ip", "-n", netns, "link", "set", "lo", "up")
    run("ip", "-n", netns, "link", "set", "eth0", "up")
    run("ip", "-n", netns, "route", "replace", "default", "via", GATEWAY)
    # Kolla's neutron_external_interface (default eth1): an interface without an address, which
    # openvswitch plugs into br-ex. Its veth peer stays in the namespace (the kernel has no dummy
    # links), so whatever goes out of it stays inside the host.
    if not _link_exists("eth1", netns):
        run("ip", "-n", netns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1-peer")
    for link in ("eth1", "eth1-peer"):
        run("ip", "-n", netns, "link", "set", link, "up")


def delete_host_netns(netns: str, veth: str) -> None:
    if _link_exists(veth):
        run("ip", "link", "del", veth)  # deletes the peer too
    if netns_exists(netns):
        run("ip", "netns", "del", netns)
