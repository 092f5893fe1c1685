"""Shared fixtures: a valid stack config to start from, with a factory for variations."""

from __future__ import annotations

import configparser
import copy
from typing import Any

import pytest

from components.config.passwords import ALL_KEYS, SSH_KEYS, genpwd
from components.config.stack import resolve_stack_config
from components.deployment import DeploymentPlan, plan_deployment
from components.render import NO_OVERRIDES, CustomConfig, RenderedContainer
from tests.harness import Run, run_program

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


def multinode_config(**globals_overrides: Any) -> dict[str, Any]:
    """Kolla's multinode shape on four hosts: control h1, network h2, compute h3 and h4, storage and
    monitoring h1; globals overridable by keyword (e.g. enable_glance=True)."""
    config = make_config(hosts=4, **globals_overrides)
    config["inventory"]["groups"] = {
        "control": ["h1"],
        "network": ["h2"],
        "compute": ["h3", "h4"],
        "storage": ["h1"],
        "monitoring": ["h1"],
    }
    return config


def plan_of(config: dict[str, Any], custom: CustomConfig = NO_OVERRIDES) -> DeploymentPlan:
    """The deployment plan of a raw stack config (with `custom`'s config overrides, none by default)."""
    return plan_deployment(resolve_stack_config(config, custom))


def rendered_container(plan: DeploymentPlan, host: str, key: str) -> RenderedContainer:
    """One container of the plan, by host and container key (e.g. "h1", "glance-api")."""
    for service in plan.services:
        for c in service.containers:
            if (c.host, c.key) == (host, key):
                return c
    raise KeyError((host, key))


def rendered_files(plan: DeploymentPlan, host: str, key: str) -> dict[str, str]:
    """One container's rendered files (its config directory's contents, by file name)."""
    return dict(rendered_container(plan, host, key).files)


def parse_ini(text: str) -> configparser.ConfigParser:
    """An oslo.config-style INI file, read as written (no `%` interpolation)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


def volumes_of(container: Any) -> set[str]:
    """A declared container's volumes and bind mounts as Kolla writes them: `source:target[:ro]`, and
    `source:target:propagation` for mounts."""
    out = set()
    for v in container.inputs.get("volumes", []):
        source = v.get("hostPath") or v.get("volumeName")
        out.add(f"{source}:{v['containerPath']}{':ro' if v.get('readOnly') else ''}")
    for m in container.inputs.get("mounts", []):
        out.add(f"{m['source']}:{m['target']}:{m['bindOptions']['propagation']}")
    return out


@pytest.fixture
def config() -> dict[str, Any]:
    return make_config()


# A test module names its stack config in a module-scoped `config` fixture; these run the program (or
# only plan it) once per module from it.
@pytest.fixture(scope="module")
def run(config: dict[str, Any]) -> Run:
    return run_program(config)


@pytest.fixture(scope="module")
def plan(config: dict[str, Any]) -> DeploymentPlan:
    return plan_of(config)
