"""Kolla's `globals.yml`: the names, defaults and implications kolla-ansible uses, checked and resolved.

Every key a user may set is declared here once, with Kolla's default (from kolla-ansible's
`ansible/group_vars/all.yml` of the release series we render) or a rule deriving it from other keys.
An unknown key is an error with a did-you-mean; a value of the wrong type or outside its choices is an
error naming the key, the value and what is expected.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components.config.errors import Problems, did_you_mean

Derived = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Setting:
    """One globals.yml key: its type, Kolla's default (a value or a rule over other keys), its choices."""

    kind: type
    default: Any = None
    choices: tuple[Any, ...] = ()
    required: bool = False
    check: Callable[[Any], str | None] | None = None

    def resolve_default(self, resolved: Mapping[str, Any]) -> Any:
        return self.default(resolved) if callable(self.default) else self.default


def _ip(value: Any) -> str | None:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return "an IP address"
    return None


def _tag_part(value: Any) -> str | None:
    return None if re.fullmatch(r"[A-Za-z0-9_.\-]+", str(value)) else "letters, digits, '.', '_' or '-'"


def _interface(value: Any) -> str | None:
    return None if re.fullmatch(r"[A-Za-z0-9_.\-@]{1,15}", str(value)) else "a network interface name"


def _port(value: Any) -> str | None:
    """A TCP port, or a Jinja expression over other ports (as Kolla's group_vars write them)."""
    text = str(value)
    if "{{" in text:
        return None
    return None if text.isdigit() and 1 <= int(text) <= 65535 else "a port number from 1 to 65535"


# Docker's reference grammar (distribution/reference): the registry is a host name or address with an
# optional port; the namespace is path components of lower-case letters and digits with separators.
_DOMAIN_LABEL = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"


def _registry(value: Any) -> str | None:
    if value == "" or re.fullmatch(_DOMAIN, str(value)):
        return None
    return "a registry host name or address with an optional :port (no scheme, no path), or '' for Docker Hub"


def _namespace(value: Any) -> str | None:
    if re.fullmatch(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*", str(value)):
        return None
    return "lower-case letters, digits and '.', '_', '-' separators, in '/'-separated parts"


def _image_prefix(value: Any) -> str | None:
    return None if re.fullmatch(r"[a-z0-9._-]*", str(value)) else "lower-case letters, digits, '.', '_' or '-'"


def _fqdn(value: Any) -> str | None:
    """An address, or a DNS name (RFC 1123 labels of at most 63 characters, 253 in all)."""
    text = str(value)
    if _ip(text) is None:
        return None
    labels = text.removesuffix(".").split(".")
    if len(text) <= 253 and all(len(label) <= 63 and re.fullmatch(_DOMAIN_LABEL, label) for label in labels):
        return None
    return "an IP address or a DNS name (letters, digits and '-' in dot-separated labels)"


# Kolla's per-release, per-distro base image version (kolla_base_distro_version_default_map); it is
# part of every image tag. The release series listed here are the ones whose templates we render.
DISTRO_VERSIONS = {
    "2025.1": {"centos": "stream9", "debian": "bookworm", "rocky": "9", "ubuntu": "noble"},
}
SUPPORTED_RELEASES = tuple(DISTRO_VERSIONS)


def _flag(default: bool | Derived) -> Setting:
    return Setting(bool, default)


def _on(name: str) -> Derived:
    return lambda g: bool(g[name])


SETTINGS: dict[str, Setting] = {
    # Images
    "openstack_release": Setting(str, "2025.1", choices=SUPPORTED_RELEASES),
    "kolla_base_distro": Setting(str, "rocky", choices=("centos", "debian", "rocky", "ubuntu")),
    "kolla_base_distro_version": Setting(
        str, lambda g: DISTRO_VERSIONS[g["openstack_release"]][g["kolla_base_distro"]], check=_tag_part
    ),
    "openstack_tag_suffix": Setting(str, "", check=lambda v: None if v == "" else _tag_part(v)),
    "openstack_tag": Setting(
        str,
        lambda g: (
            f"{g['openstack_release']}-{g['kolla_base_distro']}-{g['kolla_base_distro_version']}"
            f"{g['openstack_tag_suffix']}"
        ),
        check=_tag_part,
    ),
    "docker_registry": Setting(str, "quay.io", check=_registry),
    "docker_namespace": Setting(str, "openstack.kolla", check=_namespace),
    "docker_image_name_prefix": Setting(str, "", check=_image_prefix),
    "docker_registry_username": Setting(str, ""),
    "docker_registry_insecure": Setting(bool, False),
    "docker_restart_policy": Setting(str, "unless-stopped", choices=("no", "on-failure", "always", "unless-stopped")),
    "docker_restart_policy_retry": Setting(int, 10),
    "docker_graceful_timeout": Setting(int, 60),
    "config_strategy": Setting(str, "COPY_ALWAYS", choices=("COPY_ALWAYS", "COPY_ONCE")),
    # Network
    "kolla_internal_vip_address": Setting(str, required=True, check=_ip),
    "kolla_internal_fqdn": Setting(str, lambda g: g["kolla_internal_vip_address"], check=_fqdn),
    "kolla_external_vip_address": Setting(str, lambda g: g["kolla_internal_vip_address"], check=_ip),
    "kolla_external_fqdn": Setting(str, lambda g: g["kolla_external_vip_address"], check=_fqdn),
    "network_interface": Setting(str, "eth0", check=_interface),
    "api_interface": Setting(str, lambda g: g["network_interface"], check=_interface),
    "tunnel_interface": Setting(str, lambda g: g["network_interface"], check=_interface),
    "dns_interface": Setting(str, lambda g: g["network_interface"], check=_interface),
    "kolla_external_vip_interface": Setting(str, lambda g: g["network_interface"], check=_interface),
    "neutron_external_interface": Setting(str, "eth1"),
    # Kolla also offers "ovn"; kolla-pulumi deploys the openvswitch agent only, so "ovn" is refused.
    "neutron_plugin_agent": Setting(str, "openvswitch", choices=("openvswitch",)),
    "keepalived_virtual_router_id": Setting(int, 51, check=lambda v: None if 0 <= v <= 255 else "0 to 255"),
    "kolla_enable_tls_internal": Setting(bool, False),
    "kolla_enable_tls_external": Setting(bool, lambda g: g["kolla_enable_tls_internal"]),
    # OpenStack
    "openstack_region_name": Setting(str, "RegionOne"),
    "openstack_logging_debug": Setting(bool, False),
    "openstack_service_workers": Setting(int, 5, check=lambda v: None if v >= 1 else "at least 1"),
    "nova_compute_virt_type": Setting(str, "kvm", choices=("kvm", "qemu", "vmware", "xenapi", "zvm")),
    "keystone_admin_user": Setting(str, "admin"),
    "keystone_admin_project": Setting(str, "admin"),
    "database_max_timeout": Setting(int, 120),
    "fernet_token_expiry": Setting(int, 86400),
    "fernet_token_allow_expired_window": Setting(int, 172800),
    "fernet_key_rotation_interval": Setting(
        int, lambda g: g["fernet_token_expiry"] + g["fernet_token_allow_expired_window"]
    ),
    # Containers
    "enable_container_healthchecks": Setting(bool, True),
    "default_container_healthcheck_interval": Setting(int, 30),
    "default_container_healthcheck_timeout": Setting(int, 30),
    "default_container_healthcheck_retries": Setting(int, 3),
    "default_container_healthcheck_start_period": Setting(int, 5),
    "docker_custom_config": Setting(dict, lambda g: {}),
    # Where operator overrides live on the machine running Pulumi (kolla's node_custom_config).
    "node_custom_config": Setting(str, "/etc/kolla/config"),
    # Enable flags and the flags they imply, as in Kolla.
    "enable_openstack_core": _flag(True),
    "enable_mariadb": _flag(True),
    "enable_memcached": _flag(True),
    "enable_rabbitmq": _flag(True),
    "enable_fluentd": _flag(True),
    "enable_keystone": _flag(_on("enable_openstack_core")),
    "enable_glance": _flag(_on("enable_openstack_core")),
    "enable_nova": _flag(_on("enable_openstack_core")),
    "enable_neutron": _flag(_on("enable_openstack_core")),
    "enable_heat": _flag(_on("enable_openstack_core")),
    "enable_horizon": _flag(_on("enable_openstack_core")),
    "enable_placement": _flag(_on("enable_nova")),
    "enable_openvswitch": _flag(_on("enable_neutron")),
    "enable_haproxy": _flag(True),
    "enable_keepalived": _flag(_on("enable_haproxy")),
    "enable_proxysql": _flag(_on("enable_mariadb")),
    "enable_nova_ssh": _flag(True),
    "enable_cinder": _flag(False),
    "enable_central_logging": _flag(False),
    "enable_osprofiler": _flag(False),
    "enable_grafana": _flag(False),
    "enable_prometheus": _flag(False),
    "enable_cells": _flag(False),
    "enable_keystone_federation": _flag(False),
}

# Kolla's other enable_* flags: accepted (they are valid globals.yml names), off by default, and refused
# when turned on, because this program does not deploy those services yet.
for _name in [
    "aodh",
    "barbican",
    "blazar",
    "ceilometer",
    "cloudkitty",
    "collectd",
    "cyborg",
    "designate",
    "etcd",
    "gnocchi",
    "influxdb",
    "ironic",
    "kuryr",
    "letsencrypt",
    "magnum",
    "manila",
    "mariabackup",
    "masakari",
    "mistral",
    "multipathd",
    "octavia",
    "ovn",
    "ovs_dpdk",
    "redis",
    "skyline",
    "tacker",
    "telegraf",
    "trove",
    "valkey",
    "venus",
    "watcher",
    "zun",
    "opensearch",
    "iscsid",
    "hacluster",
]:
    SETTINGS.setdefault(f"enable_{_name}", _flag(False))

# Settings that Kolla derives from a flag's value; users may set them, but a string like "yes" is
# accepted for booleans as in globals.yml.
_TRUE = {"yes", "true", "on", "1"}
_FALSE = {"no", "false", "off", "0"}


@dataclass(frozen=True)
class Globals:
    """Resolved globals: every known key with the user's value or Kolla's default."""

    values: Mapping[str, Any]
    user_set: frozenset[str] = field(default_factory=frozenset)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)


def _coerce(key: str, value: Any, setting: Setting, problems: Problems) -> Any:
    kind = setting.kind
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        problems.add(f"globals.{key}", value, "a boolean (true/false, yes/no)")
        return None
    if kind is int:
        if isinstance(value, bool):
            problems.add(f"globals.{key}", value, "an integer")
            return None
        try:
            return int(str(value))
        except ValueError:
            problems.add(f"globals.{key}", value, "an integer")
            return None
    if kind is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        problems.add(f"globals.{key}", value, "a string")
        return None
    if kind is dict:
        if isinstance(value, dict):
            return value
        problems.add(f"globals.{key}", value, "a mapping")
        return None
    raise TypeError(kind)


def _check_value(key: str, value: Any, setting: Setting, problems: Problems) -> None:
    if setting.choices and value not in setting.choices:
        expected = "one of " + ", ".join(repr(c) for c in setting.choices)
        problems.add(f"globals.{key}", value, expected)
    elif setting.check is not None and (expected := setting.check(value)):
        problems.add(f"globals.{key}", value, expected)


def _variable_setting(key: str, default: Any) -> Setting:
    """A Kolla variable (group_vars or a role default) a user may override; typed by its default."""
    if key.endswith("_port"):
        return Setting(str, default, check=_port)
    if isinstance(default, bool):
        return Setting(bool, default)
    if isinstance(default, int):
        return Setting(int, default)
    if isinstance(default, dict):
        return Setting(dict, default)
    return Setting(str, default)


def resolve_globals(user: Mapping[str, Any] | None, variables: Mapping[str, Any] | None = None) -> Globals:
    """User values checked and completed with Kolla's defaults, in declaration order.

    `variables` are the Kolla variables the templates use (group_vars and role defaults, see
    components.context); a user may override them in globals as in globals.yml. Overrides are returned
    in `Globals.values` too; defaults of variables are not (they may depend on the host).
    """
    problems = Problems()
    if user is not None and not isinstance(user, Mapping):
        problems.add("globals", user, "a mapping of globals.yml names to values")
        problems.raise_if_any()
    user = dict(user or {})
    variables = variables or {}
    given: dict[str, Any] = {}
    for key, raw in user.items():
        setting = SETTINGS.get(key)
        if setting is None and key in variables:
            setting = _variable_setting(key, variables[key])
        if setting is None:
            problems.note(f"globals.{key}: unknown key{did_you_mean(key, [*SETTINGS, *variables])}")
            continue
        value = _coerce(key, raw, setting, problems)
        if value is not None:
            _check_value(key, value, setting, problems)
            given[key] = value
    for key, setting in SETTINGS.items():
        if setting.required and key not in user:
            problems.note(f"globals.{key} is required: {_REQUIRED_HINTS.get(key, 'set it in the stack config')}")
    problems.raise_if_any()

    resolved: dict[str, Any] = {}
    for key, setting in SETTINGS.items():
        resolved[key] = given[key] if key in given else setting.resolve_default(resolved)
    resolved.update({k: v for k, v in given.items() if k not in SETTINGS})
    # Derived values are checked too: a bad user value upstream (a distro) shows up here once.
    for key, setting in SETTINGS.items():
        if key not in given and resolved[key] is not None:
            _check_value(key, resolved[key], setting, problems)
    problems.raise_if_any()
    return Globals(values=resolved, user_set=frozenset(given))


_REQUIRED_HINTS = {
    "kolla_internal_vip_address": (
        "the address the APIs and the database are reached at (with enable_haproxy false, the address of "
        "the first control host), e.g. `pulumi config set --path globals.kolla_internal_vip_address 10.0.0.10`"
    ),
}
