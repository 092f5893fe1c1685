"""The inventory: hosts and Kolla's groups, as in kolla-ansible's `multinode` file.

Hosts carry what the program needs to reach them (address, port, user, private key, pinned host key)
and their API address (Kolla's `api_interface_address`, a fact there, a declared value here so that a
preview never depends on the hosts). Groups are Kolla's five node groups; the service groups
(`mariadb`, `keystone`, ...) are their children as in the multinode inventory, and may be overridden.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.config.errors import Problems, did_you_mean

NODE_GROUPS = ("control", "network", "compute", "storage", "monitoring")

# Service groups and the groups they are children of (kolla-ansible's multinode inventory), parents
# before children. nova_compute, nova_libvirt and nova_ssh are placed on `compute` itself, as in Kolla.
SERVICE_GROUP_PARENTS: dict[str, tuple[str, ...]] = {
    "baremetal": NODE_GROUPS,
    "common": NODE_GROUPS,
    "kolla-toolbox": ("common",),
    "cron": ("common",),
    "fluentd": ("common",),
    "kolla-logs": ("common",),
    "mariadb": ("control",),
    "memcached": ("control",),
    "rabbitmq": ("control",),
    "keystone": ("control",),
    "loadbalancer": ("network",),
    "glance": ("control",),
    "glance-api": ("glance",),
    "placement": ("control",),
    "placement-api": ("placement",),
    "nova": ("control",),
    "nova-api": ("nova",),
    "nova-conductor": ("nova",),
    "nova-metadata": ("nova",),
    "nova-novncproxy": ("nova",),
    "nova-scheduler": ("nova",),
    "openvswitch": ("network", "compute"),
    "neutron": ("network",),
    "neutron-server": ("control",),
    "neutron-dhcp-agent": ("neutron",),
    "neutron-l3-agent": ("neutron",),
    "neutron-metadata-agent": ("neutron",),
    # Kolla places the openvswitch agent by host_in_groups: compute hosts and every agent host.
    "neutron-openvswitch-agent": ("compute", "neutron-dhcp-agent", "neutron-l3-agent", "neutron-metadata-agent"),
    "heat": ("control",),
    "heat-api": ("heat",),
    "heat-api-cfn": ("heat",),
    "heat-engine": ("heat",),
    "horizon": ("control",),
}

_HOST_KEYS = {
    "address",
    "port",
    "user",
    "private_key",
    "private_key_file",
    "host_key",
    "host_key_file",
    "api_address",
    "hostname",
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}")
_HOST_KEY = re.compile(r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?")


@dataclass(frozen=True)
class Host:
    """A target host. `private_key` is plain text here; it only ever leaves as a Pulumi secret."""

    name: str
    address: str
    port: int
    user: str
    private_key: str
    host_key: str
    api_address: str
    hostname: str

    def __repr__(self) -> str:  # never print the key
        return f"Host({self.name!r}, {self.user}@{self.address}:{self.port})"


@dataclass(frozen=True)
class Inventory:
    hosts: Mapping[str, Host]
    groups: Mapping[str, tuple[str, ...]]

    def group(self, name: str) -> tuple[Host, ...]:
        """Hosts of a group, in inventory order (the first is where run-once jobs go, as in Kolla)."""
        return tuple(self.hosts[h] for h in self.groups.get(name, ()))


def _read_file(path: str, key: str, problems: Problems) -> str | None:
    expanded = Path(os.path.expanduser(path))
    try:
        return expanded.read_text()
    except OSError as exc:
        problems.add(key, path, f"a readable file ({exc.strerror})")
        return None


def _host(name: str, raw: Any, problems: Problems) -> Host | None:
    key = f"inventory.hosts.{name}"
    if not _NAME.fullmatch(name):
        problems.add(key, name, "a host name of letters, digits, '.', '_' or '-'")
    if not isinstance(raw, Mapping):
        problems.add(key, raw, "a mapping with address, user, private_key(_file), host_key(_file)")
        return None
    for extra in set(raw) - _HOST_KEYS:
        problems.note(f"{key}.{extra}: unknown key{did_you_mean(extra, _HOST_KEYS)}")
    address = str(raw.get("address", ""))
    try:
        ipaddress.ip_address(address)
    except ValueError:
        problems.add(f"{key}.address", raw.get("address"), "an IP address")
    port = raw.get("port", 22)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        problems.add(f"{key}.port", port, "a TCP port from 1 to 65535")
    user = raw.get("user", "root")
    if not isinstance(user, str) or not user:
        problems.add(f"{key}.user", user, "a user name")
    api_address = str(raw.get("api_address", address))
    try:
        ipaddress.ip_address(api_address)
    except ValueError:
        problems.add(f"{key}.api_address", raw.get("api_address"), "an IP address")

    private_key = raw.get("private_key")
    if private_key is None and "private_key_file" in raw:
        private_key = _read_file(str(raw["private_key_file"]), f"{key}.private_key_file", problems)
    if private_key is None:
        if "private_key_file" not in raw:
            problems.note(f"{key}: no private_key or private_key_file: the program connects with key auth only")
        private_key = ""
    elif "PRIVATE KEY" not in private_key:
        problems.note(f"{key}.private_key: expected an OpenSSH or PEM private key (no 'PRIVATE KEY' header)")

    host_key = raw.get("host_key")
    if host_key is None and "host_key_file" in raw:
        host_key = _read_file(str(raw["host_key_file"]), f"{key}.host_key_file", problems)
    host_key = (host_key or "").strip()
    if not host_key:
        problems.note(
            f"{key}: no host_key or host_key_file: host keys are pinned, never skipped "
            f"(get it with `ssh-keyscan -t ed25519 {address}` and check it out of band)"
        )
    elif not _HOST_KEY.fullmatch(host_key):
        problems.add(f"{key}.host_key", host_key[:40], "a public key line such as 'ssh-ed25519 AAAA...'")
    hostname = str(raw.get("hostname", name))
    if not _NAME.fullmatch(hostname):
        problems.add(f"{key}.hostname", hostname, "a host name (RabbitMQ and Galera name nodes after it)")
    return Host(
        name=name,
        address=address,
        port=port if isinstance(port, int) else 22,
        user=str(user),
        private_key=private_key,
        host_key=host_key,
        api_address=api_address,
        hostname=hostname,
    )


def resolve_inventory(raw: Any) -> Inventory:
    """Hosts and groups checked; service groups filled from their parents unless given."""
    problems = Problems()
    if raw is not None and not isinstance(raw, Mapping):
        problems.add("inventory", raw, "a mapping with `hosts` (and optionally `groups`)")
        problems.raise_if_any()
    if not isinstance(raw, Mapping) or not isinstance(raw.get("hosts"), Mapping) or not raw.get("hosts"):
        problems.add(
            "inventory.hosts",
            None if not isinstance(raw, Mapping) else raw.get("hosts"),
            "a mapping of host name to {address, user, private_key_file, host_key}",
        )
        problems.raise_if_any()
    assert isinstance(raw, Mapping)
    for extra in set(raw) - {"hosts", "groups"}:
        problems.note(f"inventory.{extra}: unknown key{did_you_mean(extra, ['hosts', 'groups'])}")
    hosts = {name: h for name, spec in raw["hosts"].items() if (h := _host(str(name), spec, problems))}

    addresses: dict[str, str] = {}
    for host in hosts.values():
        where = (host.address, host.port)
        if str(where) in addresses:
            problems.note(f"inventory.hosts.{host.name}: same address and port as {addresses[str(where)]}")
        addresses[str(where)] = host.name

    raw_groups = raw.get("groups") or {}
    if not isinstance(raw_groups, Mapping):
        problems.add("inventory.groups", raw_groups, "a mapping of group name to a list of host names")
        raw_groups = {}
    known_groups = set(NODE_GROUPS) | set(SERVICE_GROUP_PARENTS)
    groups: dict[str, tuple[str, ...]] = {}
    for group, members in raw_groups.items():
        key = f"inventory.groups.{group}"
        if group not in known_groups:
            problems.note(
                f"{key}: unknown group{did_you_mean(str(group), known_groups)}; "
                f"node groups are {', '.join(NODE_GROUPS)}"
            )
            continue
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            problems.add(key, members, "a list of host names")
            continue
        for member in members:
            if member not in raw["hosts"]:
                problems.add(key, member, f"a host of inventory.hosts{did_you_mean(member, raw['hosts'])}")
        if len(set(members)) != len(members):
            problems.add(key, members, "each host once")
        groups[str(group)] = tuple(dict.fromkeys(members))
    if not groups.get("control"):
        problems.note("inventory.groups.control: at least one host is needed (it runs the database and APIs)")
    problems.raise_if_any()

    for group in NODE_GROUPS:
        groups.setdefault(group, ())
    for group, parents in SERVICE_GROUP_PARENTS.items():
        if group not in groups:
            members = [h for parent in parents for h in groups.get(parent, ())]
            groups[group] = tuple(dict.fromkeys(members))
    return Inventory(hosts=hosts, groups=groups)
