"""The HA example stack (`Pulumi.ha.yaml`: three controllers behind the VIP, one compute) under mocks: how
each service's containers are chained across hosts (components/rollout.py, components/serving.py), what
its gates do, and how Galera and RabbitMQ form their clusters."""

from __future__ import annotations

import base64
import json

import pytest

from components import scripts
from components.config.stack import resolve_stack_config
from components.deployment import DeploymentPlan, plan_deployment
from components.offline_plan import _stack_config
from components.render import NO_OVERRIDES
from tests.conftest import rendered_files
from tests.harness import Run, run_program

CONTROLLERS = ("h1", "h2", "h3")


@pytest.fixture(scope="module")
def raw() -> dict:
    config, _notes = _stack_config("ha")
    return config


@pytest.fixture(scope="module")
def plan(raw) -> DeploymentPlan:
    return plan_deployment(resolve_stack_config(raw, NO_OVERRIDES))


@pytest.fixture(scope="module")
def run(raw) -> Run:
    return run_program(raw)


def gates_waited_for(run: Run, name: str) -> set[str]:
    """The gates of the resource's own service it waits for (the rolling chain; other services' gates are
    what it depends on, as before)."""
    service = run.resources[name].parent
    return {d for d in run.resources[name].depends_on if d.endswith(f"-{service}-serving")}


@pytest.mark.parametrize("service", ["keystone", "placement", "nova", "neutron", "horizon", "rabbitmq"])
def test_an_api_service_rolls_one_controller_at_a_time_in_inventory_order(run, service):
    plan = run.outputs["summary"]["rollout"][service]
    assert plan[:3] == [["h1"], ["h2"], ["h3"]]
    container = next(n for n in run.containers() if n.startswith("h2-") and run.resources[n].parent == service)
    assert f"h1-{service}-serving" in gates_waited_for(run, container)
    first = next(n for n in run.containers() if n.startswith("h1-") and run.resources[n].parent == service)
    assert not gates_waited_for(run, first)


def test_galera_rolls_its_bootstrap_host_last_after_handing_over(run):
    assert run.outputs["summary"]["rollout"]["mariadb"] == [["h2"], ["h3"], ["h1"]]
    assert gates_waited_for(run, "h2-mariadb") == set()
    assert gates_waited_for(run, "h3-mariadb") == {"h2-mariadb-serving"}
    # h1's own container waits for the bootstrap node to hand over, which waits for h3 to serve.
    assert "h1-mariadb-before-start" in run.resources["h1-mariadb"].depends_on
    assert "h3-mariadb-serving" in run.resources["h1-mariadb-before-start"].depends_on
    assert "mariadb_bootstrap" in run.resources["h1-mariadb-before-start"].inputs["create"]
    assert "h2-mariadb-before-start" not in run.resources


def test_a_new_galera_cluster_is_bootstrapped_on_the_first_host_before_any_node_starts(run):
    job = run.resources["h1-mariadb_bootstrap_cluster"]
    assert "BOOTSTRAP_ARGS=--wsrep-new-cluster" in job.script
    assert "kolla-pulumi mariadb-recovery" in job.script  # a stopped cluster is refused, with the way out
    assert "h1-mariadb_bootstrap_cluster" in run.resources["h2-mariadb"].depends_on
    assert not [n for n in run.resources if n.endswith("mariadb_bootstrap_cluster") and not n.startswith("h1-")]


def test_a_single_galera_node_needs_no_cluster_bootstrap():
    config, _notes = _stack_config("dev")
    single = run_program(config)
    assert "h1-mariadb_bootstrap_cluster" not in single.resources
    assert "h1-mariadb-before-start" not in single.resources


def test_compute_hosts_go_last_together_and_wait_for_no_other_compute(run):
    assert run.outputs["summary"]["rollout"]["nova-cell"][-1] == ["h4"]
    assert gates_waited_for(run, "h4-nova_compute") == {"h3-nova-cell-serving"}


def test_a_gate_is_replaced_with_its_containers_and_waits_until_they_serve(run):
    gate = run.resources["h2-keystone-serving"]
    keystone = [n for n in run.containers() if n.startswith("h2-") and run.resources[n].parent == "keystone"]
    assert sorted(gate.inputs["triggers"]) == sorted(f"{n}-id" for n in keystone)  # the containers' ids
    assert set(keystone) <= set(gate.depends_on)
    assert "h2-kolla_toolbox" in gate.depends_on  # it talks to the load balancers from kolla_toolbox
    create = gate.inputs["create"]
    assert create.startswith(f"{scripts.KP} mask ")
    assert "kp haproxy ready" in scripts.unmasked(create)[0]
    assert "kp wait-ready keystone 600 'healthcheck_curl http://10.77.0.12:5000'" in scripts.unmasked(create)[0]
    # Taking the host out of service is each container's own drain's job, not the shared gate's.
    assert "delete" not in gate.inputs


def test_each_served_container_is_drained_by_its_own_drain_right_before_it_stops(run):
    drain = run.resources["h2-keystone-drain"]
    assert drain.inputs["triggers"] == ["h2-keystone-id"]  # that container alone
    assert drain.delete_before_replace
    assert "h2-keystone" in drain.depends_on and "h2-kolla_toolbox" in drain.depends_on
    assert "create" not in drain.inputs  # nothing to do when it is created
    delete = scripts.unmasked(drain.inputs["delete"])[0]
    assert "kp haproxy drain" in delete and "kp haproxy ready" not in delete
    (params,) = [json.loads(base64.b64decode(line)) for line in drain.stdin.split("\n") if line][-1:]
    assert params["servers"] == [["keystone_internal_back", "h2"]]
    assert [h for h, _ in params["lbs"]] == list(CONTROLLERS)


def test_only_containers_that_serve_or_that_a_hook_guards_have_drains(run):
    drains = {n.removesuffix("-drain") for n in run.resources if n.endswith("-drain")}
    for host in CONTROLLERS:
        assert {f"{host}-keystone", f"{host}-nova_api", f"{host}-rabbitmq", f"{host}-haproxy"} <= drains
    for name in ("keystone_fernet", "keystone_ssh", "memcached", "kolla_toolbox", "neutron_l3_agent", "nova_scheduler"):
        assert f"h2-{name}" not in drains
    assert not {d for d in drains if d.startswith("h4-")}  # the compute host serves no load-balanced API


def test_a_gate_names_every_backend_of_its_host_and_keeps_the_stats_password_secret(run, raw):
    for name in ("h2-keystone-serving", "h2-keystone-drain"):
        resource = run.resources[name]
        assert "stdin" in resource.secret_inputs
        assert {"stdout", "stderr"} <= set(resource.additional_secret_outputs)
        assert raw["passwords"]["haproxy_password"] in resource.masks
    gate = run.resources["h2-nova-serving"]
    lines = [json.loads(base64.b64decode(line)) for line in gate.stdin.split("\n") if line]
    ready = next(line for line in lines if isinstance(line, dict) and "servers" in line)
    assert {tuple(s) for s in ready["servers"]} == {("nova_api_back", "h2"), ("nova_metadata_back", "h2")}
    assert ready["lbs"][0][1] == "http://10.77.0.11:1984/"


def test_keystone_waits_for_its_api_and_ssh_and_fetches_fernet_keys_from_a_peer(plan):
    gates = {g.host: g for s in plan.services if s.service.name == "keystone" for g in s.gates}
    assert gates["h2"].gate.waits_for == ("keystone", "keystone_ssh")
    assert "keystone@$peer:/etc/keystone/fernet-keys/" in gates["h2"].gate.create
    assert "for peer in 10.77.0.11 10.77.0.13; do" in gates["h2"].gate.create


def drains_of(plan: DeploymentPlan, service: str, host: str) -> dict[str, str]:
    """The delete script of each drain of `service` on `host`, by container key."""
    gate = next(g.gate for s in plan.services if s.service.name == service for g in s.gates if g.host == host)
    return {d.container: d.delete for d in gate.drains}


def test_rabbitmq_drains_a_node_before_it_stops(plan):
    assert "docker exec rabbitmq rabbitmq-upgrade drain" in drains_of(plan, "rabbitmq", "h1")["rabbitmq"]


def test_the_vip_leaves_a_loadbalancer_before_either_of_its_containers_stops(plan):
    drains = drains_of(plan, "loadbalancer", "h1")
    assert set(drains) == {"haproxy", "keepalived"}
    assert all("docker stop keepalived" in script for script in drains.values())
    gate = next(g.gate for s in plan.services if s.service.name == "loadbalancer" for g in s.gates if g.host == "h1")
    assert "docker start keepalived" in gate.create


def test_a_new_rabbitmq_node_gives_up_waiting_for_peers_that_start_after_it(plan):
    conf = rendered_files(plan, "h1", "rabbitmq")["rabbitmq.conf"]
    assert "cluster_formation.discovery_retry_limit = 2" in conf
    assert "cluster_formation.classic_config.nodes.2 = rabbit@h3" in conf


def test_the_stats_page_lets_the_gates_change_server_states(plan):
    cfg = rendered_files(plan, "h1", "haproxy")["haproxy.cfg"]
    assert "stats admin if TRUE" in cfg


def test_galera_is_active_passive_without_proxysql(plan):
    cfg = rendered_files(plan, "h1", "haproxy")["services.d_mariadb.cfg"]
    servers = [line.split() for line in cfg.splitlines() if line.strip().startswith("server ")]
    assert [s[1] for s in servers] == list(CONTROLLERS)
    assert [("backup" in s) for s in servers] == [False, True, True]


def test_the_preview_names_the_order_in_which_hosts_are_replaced(plan):
    from components.operate.verbs import describe_order, replacement_order

    replaced = {"h3-keystone", "h1-keystone", "h2-keystone_fernet", "h1-mariadb", "h2-mariadb", "h4-nova_compute"}
    order = replacement_order(plan, replaced)
    assert order == {"mariadb": [["h2"], ["h1"]], "keystone": [["h1"], ["h2"], ["h3"]], "nova-cell": [["h4"]]}
    assert describe_order(order) == ["mariadb: h2 -> h1", "keystone: h1 -> h2 -> h3", "nova-cell: h4"]


def test_nova_api_keeps_two_workers_while_the_other_apis_have_one(plan):
    """The failover relies on it (tests/e2e/test_ha.py): a request in flight at a power cut can hold a
    nova-api worker for nova's 60 s cell timeout, and the other worker serves meanwhile."""
    for host in CONTROLLERS:
        nova_api = rendered_files(plan, host, "nova-api")["nova-api-uwsgi.ini"]
        assert "\nprocesses = 2\n" in nova_api, host
        placement = rendered_files(plan, host, "placement-api")["placement-api-uwsgi.ini"]
        assert "\nprocesses = 1\n" in placement, host
