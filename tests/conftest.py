"""Shared fixtures: a valid stack config to start from, with a factory for variations."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.config.passwords import ALL_KEYS, SSH_KEYS, genpwd

# A syntactically valid key: the program never connects under mocks.
FAKE_PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
FAKE_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyForTests"

_PASSWORDS: dict[str, Any] | None = None

# Kolla's all-in-one containers for the services deployed (container_name), and as resource names.
ALL_IN_ONE_CONTAINER_NAMES = frozenset(
    (
        "kolla_toolbox",
        "cron",
        "fluentd",
        "mariadb",
        "memcached",
        "rabbitmq",
        "keystone",
        "keystone_ssh",
        "keystone_fernet",
    )
)
ALL_IN_ONE_CONTAINERS = frozenset(f"h1-{name}" for name in ALL_IN_ONE_CONTAINER_NAMES)


def passwords() -> dict[str, Any]:
    """One generated set per session (RSA key generation is slow), copied per use."""
    global _PASSWORDS
    if _PASSWORDS is None:
        # RSA-4096 generation is slow: only the key pairs the deployed services read.
        used = {"keystone_ssh_key", "nova_ssh_key", "neutron_ssh_key"}
        _PASSWORDS = genpwd(keys=[k for k in ALL_KEYS if k not in SSH_KEYS or k in used])
    return copy.deepcopy(_PASSWORDS)


def host(address: str, **extra: Any) -> dict[str, Any]:
    return {"address": address, "user": "root", "private_key": FAKE_PRIVATE_KEY, "host_key": FAKE_HOST_KEY, **extra}


def make_config(hosts: int = 1, **globals_overrides: Any) -> dict[str, Any]:
    """An all-in-one (hosts=1) or a control + computes config; globals overridable by keyword."""
    names = [f"h{i}" for i in range(1, hosts + 1)]
    config = {
        "globals": {
            "kolla_base_distro": "debian",
            "docker_registry": "10.77.0.1:5000",
            "docker_registry_insecure": True,
            "kolla_internal_vip_address": "10.77.0.11",
            "enable_haproxy": False,
            "enable_openstack_core": False,
            "enable_keystone": True,
            "enable_proxysql": False,
            **globals_overrides,
        },
        "inventory": {
            "hosts": {name: host(f"10.77.0.{11 + i}") for i, name in enumerate(names)},
            "groups": {
                "control": names[:1],
                "network": names[:1],
                "compute": names[1:] or names[:1],
                "storage": names[:1],
                "monitoring": names[:1],
            },
        },
        "passwords": passwords(),
    }
    return config


@pytest.fixture
def config() -> dict[str, Any]:
    return make_config()
