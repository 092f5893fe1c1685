"""Exact blast radius: run the program with config A and config B, list the containers whose inputs
differ. A container's inputs change only when something it reads changes, so `pulumi preview` shows
exactly these replacements and `up` replaces nothing else."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ALL_IN_ONE_CONTAINERS, host, make_config
from tests.harness import run_program

Config = dict[str, Any]


def blast(a: Config, b: Config) -> tuple[set[str], set[str], set[str]]:
    """(changed, added, removed) containers between two configs."""
    before = {n: r.inputs for n, r in run_program(a).containers().items()}
    after = {n: r.inputs for n, r in run_program(b).containers().items()}
    changed = {n for n in before.keys() & after.keys() if before[n] != after[n]}
    return changed, after.keys() - before.keys(), before.keys() - after.keys()


def with_globals(**values: Any) -> Callable[[Config], None]:
    return lambda c: c["globals"].update(values)


def with_password(key: str, value: str) -> Callable[[Config], None]:
    return lambda c: c["passwords"].__setitem__(key, value)


def with_override(path: str, text: str) -> Callable[[Config, Path], None]:
    def change(config: Config, custom: Path) -> None:
        target = custom / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    return change


# (case, change to config B, changed, added, removed)
CASES: list[tuple[str, Callable, set[str], set[str], set[str]]] = [
    ("nothing", lambda c: None, set(), set(), set()),
    (
        "keystone option: logging debug",
        with_globals(openstack_logging_debug=True),
        {"h1-keystone", "h1-keystone_fernet"},
        set(),
        set(),
    ),
    (
        "keystone option: token expiry",
        with_globals(fernet_token_expiry=3600),
        {"h1-keystone", "h1-keystone_fernet"},
        set(),
        set(),
    ),
    ("memcached memory", with_globals(memcached_max_memory="1024"), {"h1-memcached"}, set(), set()),
    (
        "keystone ssh port",
        with_globals(keystone_ssh_port="8024"),
        {"h1-keystone_ssh", "h1-keystone_fernet"},
        set(),
        set(),
    ),
    (
        "rabbitmq password",
        with_password("rabbitmq_password", "x" * 40),
        {"h1-rabbitmq", "h1-keystone", "h1-keystone_fernet"},
        set(),
        set(),
    ),
    ("database root password", with_password("database_password", "y" * 40), {"h1-mariadb"}, set(), set()),
    (
        "keystone admin password (a job, no container)",
        with_password("keystone_admin_password", "z" * 40),
        set(),
        set(),
        set(),
    ),
    ("image tag", with_globals(openstack_tag_suffix="-1"), ALL_IN_ONE_CONTAINERS, set(), set()),
    ("registry", with_globals(docker_registry="registry.example.com"), ALL_IN_ONE_CONTAINERS, set(), set()),
    ("config strategy", with_globals(config_strategy="COPY_ONCE"), ALL_IN_ONE_CONTAINERS, set(), set()),
    ("fluentd off", with_globals(enable_fluentd=False), {"h1-cron"}, set(), {"h1-fluentd"}),
]


@pytest.mark.parametrize("change, changed, added, removed", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_blast_radius(change, changed, added, removed):
    a = make_config()
    b = copy.deepcopy(a)
    change(b)
    assert blast(a, b) == (changed, added, removed)


OVERRIDE_CASES = [
    (
        "keystone.conf for the service",
        "keystone.conf",
        {"h1-keystone", "h1-keystone_fernet", "h2-keystone", "h2-keystone_fernet"},
    ),
    ("one container's override", "keystone/keystone-fernet.conf", {"h1-keystone_fernet", "h2-keystone_fernet"}),
    ("one host's override", "keystone/h2/keystone.conf", {"h2-keystone", "h2-keystone_fernet"}),
    ("global.conf", "global.conf", {"h1-keystone", "h1-keystone_fernet", "h2-keystone", "h2-keystone_fernet"}),
    ("a file nothing reads", "nova.conf", set()),
]


@pytest.mark.parametrize("path, changed", [c[1:] for c in OVERRIDE_CASES], ids=[c[0] for c in OVERRIDE_CASES])
def test_operator_override_touches_only_its_readers(tmp_path, path, changed):
    a = _two_controllers(tmp_path / "a")
    b = _two_controllers(tmp_path / "b")
    with_override(path, "[DEFAULT]\ndebug = True\n")(b, tmp_path / "b")
    assert blast(a, b) == (changed, set(), set())


def test_adding_a_host_adds_only_its_containers():
    a = make_config(hosts=2)
    b = copy.deepcopy(a)
    b["inventory"]["hosts"]["h3"] = host("10.77.0.13")
    b["inventory"]["groups"]["compute"] = ["h2", "h3"]
    assert blast(a, b) == (set(), {"h3-kolla_toolbox", "h3-cron", "h3-fluentd"}, set())


def test_removing_a_host_removes_only_its_containers():
    a = make_config(hosts=3)
    b = copy.deepcopy(a)
    del b["inventory"]["hosts"]["h3"]
    b["inventory"]["groups"]["compute"] = ["h2"]
    assert blast(a, b) == (set(), set(), {"h3-kolla_toolbox", "h3-cron", "h3-fluentd"})


def _two_controllers(custom: Path) -> Config:
    custom.mkdir(parents=True)
    config = make_config(hosts=2, node_custom_config=str(custom))
    config["inventory"]["groups"]["control"] = ["h1", "h2"]
    return config


# --- Kolla's default OpenStack services: control + network on h1, compute on h2 and h3 ------------------


def _core(**globals_overrides: Any) -> Config:
    config = make_config(hosts=3, enable_openstack_core=True, **globals_overrides)
    config["inventory"]["groups"]["compute"] = ["h2", "h3"]
    return config


def _containers(run: Any) -> dict[str, Any]:
    # A copy: the inputs of one run, kept apart from any later run's.
    return {n: dict(r.inputs) for n, r in run.containers().items()}


def core_blast(change: Callable[[Config], None], **globals_overrides: Any) -> tuple[set[str], set[str], set[str]]:
    a = _core(**globals_overrides)
    b = copy.deepcopy(a)
    change(b)
    before, after = _containers(run_program(a)), _containers(run_program(b))
    changed = {n for n in before.keys() & after.keys() if before[n] != after[n]}
    return changed, after.keys() - before.keys(), before.keys() - after.keys()


def _on_every_host(*names: str) -> set[str]:
    return {f"{h}-{n}" for h in ("h1", "h2", "h3") for n in names}


CORE_CASES: list[tuple[str, Callable, set[str], set[str], set[str]]] = [
    ("nothing", lambda c: None, set(), set(), set()),
    # The seed's reconfigure: only nova_compute's nova.conf carries [libvirt] virt_type.
    (
        "nova_compute_virt_type kvm -> qemu",
        with_globals(nova_compute_virt_type="qemu"),
        {"h2-nova_compute", "h3-nova_compute"},
        set(),
        set(),
    ),
    # dnsmasq.conf is read by the dhcp agent alone.
    (
        "a neutron option: dnsmasq's DNS servers",
        with_globals(neutron_dnsmasq_dns_servers="9.9.9.9"),
        {"h1-neutron_dhcp_agent"},
        set(),
        set(),
    ),
    (
        "a glance option: its API workers",
        with_globals(glance_api_workers="3"),
        {"h1-glance_api"},
        set(),
        set(),
    ),
    # The metadata secret is in nova.conf's [neutron] section, which Kolla renders into every nova
    # container's nova.conf, and in neutron's metadata_agent.ini: exactly their readers, no neutron agent
    # nor server besides.
    (
        "the metadata secret",
        with_password("metadata_secret", "m" * 40),
        {
            "h1-nova_api",
            "h1-nova_metadata",
            "h1-nova_scheduler",
            "h1-nova_conductor",
            "h1-nova_novncproxy",
            "h2-nova_compute",
            "h3-nova_compute",
            "h1-neutron_metadata_agent",
        },
        set(),
        set(),
    ),
    # Enabling heat adds its containers; Kolla's cron (logrotate) and fluentd list the enabled
    # services' log directories, and horizon turns on the heat dashboard: those change too, as in Kolla.
    (
        "enable heat",
        with_globals(enable_heat=True),
        _on_every_host("cron", "fluentd") | {"h1-horizon"},
        {"h1-heat_api", "h1-heat_api_cfn", "h1-heat_engine"},
        set(),
    ),
]


@pytest.mark.parametrize("change, changed, added, removed", [c[1:] for c in CORE_CASES], ids=[c[0] for c in CORE_CASES])
def test_blast_radius_of_the_openstack_services(change, changed, added, removed):
    overrides = {"enable_heat": False} if CORE_CASES[-1][1] is change else {}
    assert core_blast(change, **overrides) == (changed, added, removed)
