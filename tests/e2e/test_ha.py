"""End to end: the production shape on the test bed (Pulumi.ha.yaml). Three controllers (control +
network: every API, Galera, RabbitMQ, memcached, haproxy and keepalived on each) behind the VIP
10.77.0.10 and a compute host, deployed once for the whole module, then:

- used through the VIP: a token, the catalogue on the VIP, a server ACTIVE on the compute host, the
  admin logged in to horizon; Galera and RabbitMQ clusters of three; a no-change `up` changing nothing;
- reconfigured while a client loop counts failed requests against the VIP: a keystone option, a nova
  API option (an operator's override file), a RabbitMQ option, a MariaDB option and the seed's
  virt_type (kvm on a compute host without /dev/kvm fails saying why and what to set; back to qemu,
  the preview replaces exactly that host's nova_compute), each replacing its containers one host at
  a time in the rollout's order (start times read on the hosts), with no failed API request;
- failed over: the host holding the VIP loses power, the VIP moves and the API keeps answering (the
  failed requests and the seconds they span are counted); booted again, an `up` converges without a
  change and Galera and RabbitMQ have three members again;
- recovered: every controller loses power; booted again, `mariadb-recovery` starts Galera, and an `up`
  changes nothing.
- restored: a full backup (`mariadb-backup`), a flavor made after it, `mariadb-restore`: the flavor is
  gone, every node rejoined, an `up` changes nothing.

The figures (each change's time, requests, failures) are printed and written next to the state, and
bench/ha_control_plane.py produces the README's table from the same steps.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.deployment import plan_deployment
from components.operate import mariadb_recovery
from components.operate.workspace import resolved_config
from tests.e2e import availability, secret_scan
from tests.e2e.bed import clean_bed
from tests.e2e.cloud import Cloud, horizon_login
from tests.e2e.ha import (
    COMPUTE,
    CONTROLLERS,
    VIP,
    apply,
    galera_size,
    ha_config,
    preview_steps,
    rabbitmq_running,
    vip_holder,
    wait_until,
)

pytestmark = pytest.mark.e2e

STACK = "e2e-ha"
KEYSTONE = ("keystone", "keystone_fernet", "keystone_ssh")


@pytest.fixture(scope="module")
def ha(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from testbed import hosts as testbed_hosts
    from testbed.deploy import stack_with_config

    started_at = time.time()
    with clean_bed(4) as started:
        state = tmp_path_factory.mktemp("e2e-ha-state")
        custom = tmp_path_factory.mktemp("e2e-ha-custom")
        globals_: dict[str, Any] = {}

        def stack(**changes: Any) -> Any:
            globals_.update(changes)
            return stack_with_config(STACK, state, ha_config(custom, **globals_))

        first = time.monotonic()
        up = stack().up(on_output=lambda _: None)
        figures: dict[str, Any] = {"first up": {"seconds": round(time.monotonic() - first, 1)}}
        client = Cloud(stack(), tmp_path_factory.mktemp("e2e-ha-client"))
        user, password = availability.admin_credentials(stack().get_all_config())
        bed = {
            "hosts": {h.name: h for h in started},
            "stack": stack,
            "up": up,
            "state": state,
            "custom": custom,
            "client": client,
            "user": user,
            "password": password,
            "figures": figures,
            "started_at": started_at,
            "testbed_hosts": testbed_hosts,
        }
        yield bed
        # bench/ha_control_plane.py names the file; otherwise it goes next to the state.
        target = Path(os.environ.get("KOLLA_PULUMI_HA_FIGURES") or state / "figures.json")
        target.write_text(json.dumps(figures, indent=2) + "\n")
        print("HA figures:", json.dumps(figures, indent=2))


def probes(ha: dict[str, Any]) -> tuple[list[availability.Probe], str]:
    token = availability.issue_token(f"http://{VIP}:5000", ha["user"], ha["password"])
    server = ha.get("server_id", "")
    return availability.cloud_probes(VIP, ha["user"], ha["password"], server), token


def controllers(ha: dict[str, Any]) -> list[Any]:
    return [ha["hosts"][name] for name in CONTROLLERS]


def test_the_first_up_deploys_every_host(ha):
    assert ha["up"].summary.result == "succeeded"
    for name in CONTROLLERS:
        running = ha["hosts"][name].ssh("docker ps --format '{{.Names}}'").stdout.split()
        assert {"haproxy", "keepalived", "mariadb", "rabbitmq", "memcached", "keystone", "nova_api"} <= set(running)
        assert {"neutron_server", "neutron_l3_agent", "horizon", "placement_api"} <= set(running)
    compute = ha["hosts"][COMPUTE].ssh("docker ps --format '{{.Names}}'").stdout.split()
    assert {"nova_compute", "nova_libvirt", "neutron_openvswitch_agent"} <= set(compute)
    assert "haproxy" not in compute


def test_galera_and_rabbitmq_are_clusters_of_the_three_controllers(ha):
    for host in controllers(ha):
        assert galera_size(host) == 3, host.name
        assert rabbitmq_running(host) == [f"rabbit@{n}" for n in CONTROLLERS], host.name


def test_a_token_and_the_catalogue_on_the_vip(ha):
    client = ha["client"]
    assert client.json("token", "issue")["id"]
    endpoints = client.json("endpoint", "list")
    internal = {e["Service Type"]: e["URL"] for e in endpoints if e["Interface"] == "internal"}
    assert set(internal) == {"identity", "image", "placement", "compute", "network"}, internal
    assert all(url.startswith(f"http://{VIP}:") for url in internal.values()), internal
    assert vip_holder(controllers(ha)) in CONTROLLERS


def test_every_controller_runs_the_schedulers_and_agents(ha):
    client = ha["client"]
    services = {(s["Binary"], s["Host"]) for s in client.json("compute", "service", "list") if s["State"] == "up"}
    assert {("nova-scheduler", h) for h in CONTROLLERS} <= services
    assert {("nova-conductor", h) for h in CONTROLLERS} <= services
    client.compute_services_up({COMPUTE})
    agents = client.agents_alive(set(CONTROLLERS))
    assert {a["Host"] for a in agents if a["Agent Type"] == "L3 agent"} == set(CONTROLLERS)


def test_a_server_boots_on_the_compute_host(ha):
    client = ha["client"]
    made = client.init_runonce()
    assert all(r["done"] in ("created", "set") for r in made), made
    server = client.boot("kp-vm")
    assert server["status"] == "ACTIVE", server.get("fault")
    assert server["OS-EXT-SRV-ATTR:host"] == COMPUTE
    ha["server_id"] = server["id"]


def test_the_admin_logs_in_to_horizon_through_the_vip(ha):
    url, body = horizon_login(VIP, ha["user"], ha["password"])
    assert url.rstrip("/").endswith(("/project", "/identity", "/admin")), url
    assert "Log Out" in body or "Sign Out" in body, body[:2000]


def test_a_no_change_up_changes_nothing(ha):
    stack = ha["stack"]()
    started = time.monotonic()
    result = stack.up(on_output=lambda _: None)
    ha["figures"]["no-change up"] = {"seconds": round(time.monotonic() - started, 1)}
    assert set(result.summary.resource_changes or {}) == {"same"}


def test_memory_per_host_is_recorded(ha):
    usage = {}
    for name, host in ha["hosts"].items():
        out = host.ssh("docker stats --no-stream --format '{{.MemUsage}}'").stdout.split("\n")
        usage[name] = round(sum(_mib(line.split("/")[0].strip()) for line in out if line.strip()))
    ha["figures"]["memory MiB per host (containers)"] = usage
    assert all(usage[name] > 0 for name in CONTROLLERS)


def _mib(text: str) -> float:
    number, unit = re.match(r"([\d.]+)\s*([KMG]i?B)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "KB": 1 / 1000, "MB": 1, "GB": 1000}[unit]


def _reconfigure(ha: dict[str, Any], name: str, **changes: Any) -> Any:
    probe_list, token = probes(ha)
    change = apply(name, ha["stack"](**changes), list(ha["hosts"].values()), probe_list, token)
    ha["figures"][name] = change.row()
    print(name, change.report.summary())
    for failure in change.report.failed:  # when, against the replacements, to find its cause
        at = time.strftime("%H:%M:%S", time.gmtime(failure.started))
        print(f"  failed at {at}Z ({failure.probe}); replaced: {[(s[11:19], h, n) for s, h, n in change.replaced]}")
    return change


def test_a_keystone_option_rolls_host_by_host_without_a_failed_request(ha):
    change = _reconfigure(ha, "keystone option", keystone_logging_debug="True")
    assert {name for _, _, name in change.replaced} == {"keystone", "keystone_fernet"}
    assert change.order(KEYSTONE) == list(CONTROLLERS)
    assert change.batches_do_not_overlap(KEYSTONE)
    assert not change.report.failed, change.report.summary()


def test_a_nova_api_option_rolls_host_by_host_without_a_failed_request(ha):
    override = ha["custom"] / "nova" / "nova-api.conf"
    override.parent.mkdir(exist_ok=True)
    override.write_text("[DEFAULT]\ndebug = True\n")
    change = _reconfigure(ha, "nova API option (an override file)")
    assert {(host, name) for _, host, name in change.replaced} == {(h, "nova_api") for h in CONTROLLERS}
    assert change.order(["nova_api"]) == list(CONTROLLERS)
    assert change.batches_do_not_overlap(["nova_api"])
    assert not change.report.failed, change.report.summary()


def test_a_rabbitmq_option_rolls_node_by_node(ha):
    change = _reconfigure(ha, "RabbitMQ option", rabbitmq_cluster_partition_handling="autoheal")
    assert change.order(["rabbitmq"]) == list(CONTROLLERS)
    assert change.batches_do_not_overlap(["rabbitmq"])
    for host in controllers(ha):
        assert rabbitmq_running(host) == [f"rabbit@{n}" for n in CONTROLLERS]
    assert not change.report.failed, change.report.summary()


def test_a_mariadb_option_rolls_node_by_node_the_bootstrap_node_last(ha):
    change = _reconfigure(ha, "MariaDB option", mariadb_host_memory_mb=1100)
    assert change.order(["mariadb"]) == ["h2", "h3", "h1"]
    assert change.batches_do_not_overlap(["mariadb"])
    assert all(galera_size(host) == 3 for host in controllers(ha))
    assert not change.report.failed, change.report.summary()


def test_the_seeds_virt_type_touches_only_the_compute_host(ha):
    """The compute host's nova_compute is replaced: an RPC to it (the diagnostics probe) cannot be
    answered meanwhile and, with one API worker, holds that worker; the APIs themselves must answer."""
    probe_list, token = probes(ha)
    probe_list = [p for p in probe_list if "RPC" not in p.name]
    hosts = list(ha["hosts"].values())
    kvm = apply(
        "virt_type kvm (fails)",
        ha["stack"](nova_compute_virt_type="kvm"),
        hosts,
        probe_list,
        token,
        expect_failure=True,
    )
    message = " ".join(kvm.failed.split())
    assert f"nova_compute_virt_type is kvm, but libvirt on {COMPUTE} cannot run kvm guests" in message
    assert "'kvm' is not supported" in message  # libvirt's own answer
    assert f"{COMPUTE} has no /dev/kvm" in message and "set nova_compute_virt_type: qemu" in message
    back = ha["stack"](nova_compute_virt_type="qemu")
    steps = preview_steps(back)
    replaced = {name for op, name in steps if op in ("replace", "create-replacement")}
    # nova_compute, and its serving gate (the wait until the new one is healthy); nothing else.
    assert replaced == {f"{COMPUTE}-nova_compute", f"{COMPUTE}-nova-cell-serving"}, sorted(steps)
    qemu = apply("virt_type back to qemu", back, hosts, probe_list, token)
    for change in (kvm, qemu):
        ha["figures"][change.name] = change.row()
        assert {host for _, host, _ in change.replaced} <= {COMPUTE}
        assert not change.report.failed, change.report.summary()
    assert {name for _, _, name in kvm.replaced + qemu.replaced} == {"nova_compute"}


# The container behind each probe's API: a probe whose container runs only on the host that loses power
# cannot be answered until it returns (Kolla places glance-api on the first glance host only when
# images are files in a local volume, the test bed's case).
PROBED_CONTAINERS = {
    "keystone token": "keystone",
    "nova servers": "nova_api",
    "neutron networks": "neutron_server",
    "glance images": "glance_api",
    "nova diagnostics (RPC)": "nova_api",
}


def only_on(ha: dict[str, Any], host: str) -> set[str]:
    """The probes whose container runs on `host` and on no other controller."""
    running = {h.name: set(h.ssh("docker ps --format '{{.Names}}'").stdout.split()) for h in controllers(ha)}
    return {
        probe
        for probe, name in PROBED_CONTAINERS.items()
        if {h for h, names in running.items() if name in names} == {host}
    }


# oslo.messaging's defaults, which Kolla keeps: a client whose AMQP connection was to the RabbitMQ node
# that lost power notices only when heartbeats stop (heartbeat_timeout_threshold, checked every
# threshold / heartbeat_rate seconds), and an RPC sent meanwhile is answered by nothing until
# rpc_response_timeout. A call begun just before the client notices fails that much later.
HEARTBEAT_TIMEOUT_THRESHOLD, HEARTBEAT_RATE, RPC_RESPONSE_TIMEOUT = 60, 3, 60
RPC_BACK_WITHIN = HEARTBEAT_TIMEOUT_THRESHOLD * (1 + 1 / HEARTBEAT_RATE) + RPC_RESPONSE_TIMEOUT


def test_a_controller_losing_power_moves_the_vip_and_the_api_keeps_answering(ha):
    """The APIs through the VIP (their databases, memcached, keystone) answer again within a minute of
    the cut. RPC is measured apart: in the test bed each API but nova-api has one worker, and an RPC
    lost with the RabbitMQ node holds it until rpc_response_timeout, so an RPC probe in the same loop
    would make every request to that host wait behind it (Kolla's default is one worker per CPU, up to
    5). A request in flight at the cut can hold a nova-api worker for nova's 60 s cell timeout (its
    database query went through the lost haproxy and is never answered): Pulumi.ha.yaml gives nova-api
    Kolla's two workers, so the other one serves meanwhile."""
    hosts = ha["testbed_hosts"]
    holder = vip_holder(controllers(ha))
    assert holder in CONTROLLERS
    stranded = only_on(ha, holder)
    probe_list, token = probes(ha)
    rpc = next(p for p in probe_list if "RPC" in p.name)
    with availability.measured([p for p in probe_list if p is not rpc], token) as report:
        time.sleep(5)
        cut = time.time()
        hosts.power_off(holder)
        time.sleep(75)
    rpc_back = availability.answering_again(rpc, token, deadline=cut + RPC_BACK_WITHIN + 60)
    survivors = [h for h in controllers(ha) if h.name != holder]
    moved = vip_holder(survivors)
    answerable = [o for o in report.failed if o.probe not in stranded]
    late = [o for o in answerable if o.started > cut + 60]
    ha["figures"]["failover (VIP holder powered off)"] = {
        "host": holder,
        "requests": report.requests,
        "failed": len(report.failed),
        "slow": len(report.slow),
        "outage_s": round(report.outage_seconds(), 1),
        "last_failure_after_cut_s": round(max((o.started + o.seconds for o in answerable), default=cut) - cut, 1),
        "served only by that host (failing until it returns)": sorted(stranded),
        "failed of those": len(report.failed) - len(answerable),
        "RPC to the compute host answered again after_s": round(rpc_back - cut, 1) if rpc_back else None,
    }
    print("failover", holder, "stranded", sorted(stranded), report.summary())
    print("RPC answered again", f"{rpc_back - cut:.1f} s after the cut" if rpc_back else "never")
    assert moved in CONTROLLERS and moved != holder
    assert not late, f"still failing a minute after the cut: {late[:3]}"
    assert rpc_back is not None and rpc_back - cut <= RPC_BACK_WITHIN, (rpc_back, cut)
    ha["powered_off"] = holder


def test_the_host_back_an_up_converges_and_the_clusters_rejoin(ha):
    hosts = ha["testbed_hosts"]
    hosts.up(4)
    probe_list, token = probes(ha)
    change = apply("the host back: converging up", ha["stack"](), list(ha["hosts"].values()), probe_list, token)
    ha["figures"][change.name] = change.row()
    assert set(change.changes) == {"same"}, change.changes
    for host in controllers(ha):
        wait_rejoined(host)


def wait_rejoined(host: Any) -> None:
    wait_until(f"{host.name}: Galera of 3", lambda: galera_size(host) == 3)
    wait_until(f"{host.name}: RabbitMQ of 3", lambda: rabbitmq_running(host) == [f"rabbit@{n}" for n in CONTROLLERS])


def test_every_controller_losing_power_is_recovered_by_mariadb_recovery(ha):
    hosts = ha["testbed_hosts"]
    for name in CONTROLLERS:
        hosts.power_off(name)
    hosts.up(4)
    config = resolved_config(ha["stack"]())
    started = time.monotonic()
    chosen = mariadb_recovery.recover(config, plan_deployment(config), log=print)
    ha["figures"]["mariadb-recovery after every controller lost power"] = {
        "seconds": round(time.monotonic() - started, 1),
        "bootstrapped from": chosen.host,
    }
    result = ha["stack"]().up(on_output=lambda _: None)
    assert set(result.summary.resource_changes or {}) == {"same"}
    for host in controllers(ha):
        wait_rejoined(host)
    assert availability.issue_token(f"http://{VIP}:5000", ha["user"], ha["password"])


def test_a_restore_takes_the_whole_cluster_back_to_the_backup_and_every_node_rejoins(ha):
    """A full backup of the active node, a flavor made after it, `mariadb-restore`: the flavor is gone
    (the cluster is at the backup), the other two nodes rejoined by a full state transfer, the cloud
    answers, and an `up` changes nothing."""
    from components.operate import mariadb_backup

    client = ha["client"]
    config = resolved_config(ha["stack"]())
    plan = plan_deployment(config)
    mariadb_backup.backup(config, plan, "full", log=print)
    client.run("flavor", "create", "--ram", "64", "--disk", "1", "--vcpus", "1", "kp.after-backup")
    started = time.monotonic()
    chosen = mariadb_backup.restore(config, plan, log=print)
    ha["figures"]["mariadb-restore of a full backup on three nodes"] = {
        "seconds": round(time.monotonic() - started, 1),
        "restored on": chosen.host,
    }
    for host in controllers(ha):
        wait_rejoined(host)
    flavors = client.wait_for(
        "the flavors through nova",
        lambda: (r := client.run("flavor", "list", "-f", "json", check=False)).returncode == 0 and json.loads(r.stdout),
    )
    assert "kp.after-backup" not in {f["Name"] for f in flavors}
    assert {"m1.tiny", "m1.small"} <= {f["Name"] for f in flavors}
    result = ha["stack"]().up(on_output=lambda _: None)
    assert set(result.summary.resource_changes or {}) == {"same"}


def test_nothing_secret_in_state_logs_outputs_or_containers(ha):
    up = ha["up"]
    problems = secret_scan.problems_of(
        ha["stack"]().get_all_config(),
        ha["state"],
        ha["hosts"].values(),
        {"first up": up.stdout + up.stderr},
        ha["started_at"],
    )
    assert not problems, problems
