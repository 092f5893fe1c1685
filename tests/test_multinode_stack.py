"""The multinode example stack (`Pulumi.multinode.yaml`: 1 control, 1 network, 2 compute) evaluated as
the program evaluates it: every container lands on exactly the hosts Kolla's multinode inventory puts
it on, with Kolla's default services."""

from __future__ import annotations

import pytest

from components.config.stack import resolve_stack_config
from components.deployment import DeploymentPlan, plan_deployment
from components.offline_plan import _stack_config
from components.render import NO_OVERRIDES
from tests.harness import Run, run_program

COMMON = {"kolla_toolbox", "cron", "fluentd"}
OPENVSWITCH = {"openvswitch_db", "openvswitch_vswitchd", "neutron_openvswitch_agent"}

# Kolla 2025.1's default services on its multinode inventory (kolla-reference.md, sections 6 and 9).
EXPECTED = {
    "ctl1": COMMON
    | {
        "mariadb",
        "memcached",
        "rabbitmq",
        "keystone",
        "keystone_ssh",
        "keystone_fernet",
        "glance_api",
        "placement_api",
        "nova_api",
        "nova_metadata",
        "nova_scheduler",
        "nova_conductor",
        "nova_novncproxy",
        "neutron_server",
        "heat_api",
        "heat_api_cfn",
        "heat_engine",
        "horizon",
    },
    "net1": COMMON
    | OPENVSWITCH
    | {
        "haproxy",
        "keepalived",
        "proxysql",
        "neutron_dhcp_agent",
        "neutron_l3_agent",
        "neutron_metadata_agent",
    },
    "cmp1": COMMON | OPENVSWITCH | {"nova_ssh", "nova_libvirt", "nova_compute"},
    "cmp2": COMMON | OPENVSWITCH | {"nova_ssh", "nova_libvirt", "nova_compute"},
}


@pytest.fixture(scope="module")
def raw() -> dict:
    config, _notes = _stack_config("multinode")
    return config


@pytest.fixture(scope="module")
def plan(raw) -> DeploymentPlan:
    return plan_deployment(resolve_stack_config(raw, NO_OVERRIDES))


@pytest.fixture(scope="module")
def run(raw) -> Run:
    return run_program(raw)


def _placed(plan: DeploymentPlan) -> dict[str, set[str]]:
    hosts: dict[str, set[str]] = {}
    for service in plan.services:
        for c in service.containers:
            hosts.setdefault(c.host, set()).add(c.container_name)
    return hosts


@pytest.mark.parametrize("host", sorted(EXPECTED))
def test_each_host_runs_exactly_kollas_containers(plan, host):
    assert _placed(plan)[host] == EXPECTED[host]


def test_the_program_declares_one_docker_container_per_placed_container(run):
    declared = set(run.containers())
    assert declared == {f"{host}-{name}" for host, names in EXPECTED.items() for name in names}


def test_every_container_reaches_its_host_through_that_hosts_provider(run):
    for name, container in run.containers().items():
        host = name.split("-", 1)[0]
        assert container.provider == f"{host}-docker", name


def test_run_once_jobs_go_to_the_first_host_of_their_group(plan):
    hosts_by_job = {}
    for service in plan.services:
        for job in service.jobs:
            hosts_by_job.setdefault(job.name, set()).add(job.host)
    # Databases, registrations and db syncs run once, on the control host (Kolla's run_once).
    for job, hosts in hosts_by_job.items():
        if job.endswith(("_database", "_register")) or job.startswith("bootstrap_"):
            assert hosts <= {"ctl1", "net1"}, (job, hosts)
            assert len(hosts) == 1, (job, hosts)


def test_the_stack_keeps_the_internal_vip_off_every_host(raw):
    addresses = {h["address"] for h in raw["inventory"]["hosts"].values()}
    assert raw["globals"]["kolla_internal_vip_address"] not in addresses


def test_no_resource_of_a_compute_host_waits_for_another_compute_host(run):
    """What keeps evaluation linear in hosts (bench/program_scale.py): a host's resources wait for
    their own host and for run-once jobs, never for every other host's containers."""
    for name, resource in run.resources.items():
        if name.startswith("cmp2-"):
            assert not [d for d in resource.depends_on if d.startswith("cmp1-")], name


def test_per_host_jobs_on_a_host_follow_that_hosts_containers_only(run):
    deps = run.resources["cmp2-openvswitch_system_id"].depends_on
    assert {"cmp2-openvswitch_db", "cmp2-openvswitch_vswitchd"} <= set(deps)
    assert not [d for d in deps if d.startswith(("cmp1-", "net1-"))]
