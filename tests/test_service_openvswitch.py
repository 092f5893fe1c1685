"""Open vSwitch on Kolla's multinode layout: ovsdb-server and ovs-vswitchd on network and compute hosts,
the post-config jobs (system-id everywhere, the external bridge only where Kolla sets it up)."""

from __future__ import annotations

import json

import pytest

from components.catalogue.openvswitch import external_bridge_commands, needs_external_bridge
from tests.conftest import plan_of, rendered_files, volumes_of
from tests.harness import Run, run_program
from tests.test_service_neutron import COMPUTES, NETWORK, multinode

OVS_HOSTS = {NETWORK, *COMPUTES}


@pytest.fixture(scope="module")
def run() -> Run:
    return run_program(multinode())


def _hosts_of(run: Run, container: str) -> set[str]:
    return {name.split("-", 1)[0] for name in run.containers() if name.split("-", 1)[1] == container}


def _job_hosts(run: Run, job: str) -> set[str]:
    return {r.name.split("-", 1)[0] for r in run.of_type("command:remote:Command") if r.name.split("-", 1)[1] == job}


def test_both_containers_run_on_network_and_compute_hosts_only(run):
    assert _hosts_of(run, "openvswitch_db") == OVS_HOSTS
    assert _hosts_of(run, "openvswitch_vswitchd") == OVS_HOSTS


def test_openvswitch_is_on_with_neutron_and_off_without_it():
    assert not _hosts_of(run_program(multinode(enable_neutron=False)), "openvswitch_db")


def test_container_specs_are_kollas(run):
    shared = {
        "/etc/localtime:/etc/localtime:ro",
        "kolla_logs:/var/log/kolla/",
        "/lib/modules:/lib/modules:ro",
        "/run/openvswitch:/run/openvswitch:shared",
    }
    db = run.containers()["h3-openvswitch_db"]
    vswitchd = run.containers()["h3-openvswitch_vswitchd"]
    assert volumes_of(db) == {
        "/etc/kolla/openvswitch-db-server/:/var/lib/kolla/config_files/:ro",
        "openvswitch_db:/var/lib/openvswitch/",
        *shared,
    }
    assert volumes_of(vswitchd) == {"/etc/kolla/openvswitch-vswitchd/:/var/lib/kolla/config_files/:ro", *shared}
    # Kolla 2025.1: vswitchd privileged, no pid/ipc/cgroupns settings; the db server unprivileged.
    assert vswitchd.inputs.get("privileged") is True
    assert not db.inputs.get("privileged")
    for c in (db, vswitchd):
        assert not {"pidMode", "ipcMode", "cgroupnsMode"} & c.inputs.keys()
    assert db.inputs["healthcheck"]["tests"] == ["CMD-SHELL", "ovsdb-client list-dbs"]
    assert vswitchd.inputs["healthcheck"]["tests"] == ["CMD-SHELL", "ovs-appctl version"]


def test_shared_bind_mount_sources_are_made_before_the_containers(run):
    """/run/openvswitch is mounted `:shared` (a docker mount, which does not create its source as -v
    does): the config delivery, which every container waits for, creates it on the host."""
    for host in ("h2", "h3", "h4"):
        for key in ("openvswitch-db-server", "openvswitch-vswitchd"):
            config = run.resources[f"{host}-{key}-config"]
            assert "mkdir -p /run/openvswitch\n" in config.script, (host, key)
            container = f"{host}-{key.replace('-server', '').replace('-', '_')}"
            assert f"{host}-{key}-config" in run.resources[container].depends_on


def test_shared_bind_mount_sources_below_run_are_made_again_at_boot(run):
    """/run is a tmpfs emptied at boot, and Docker refuses to restart a container whose bind mount
    source is missing: the config delivery declares it to systemd-tmpfiles, and removes that again."""
    config = run.resources["h2-openvswitch-db-server-config"]
    boot_dirs = "/etc/tmpfiles.d/kolla-openvswitch-db-server.conf"
    assert f"printf 'd /run/openvswitch 0755 root root -\\n' > {boot_dirs}\n" in config.script
    record = "/etc/kolla-pulumi/written/openvswitch-db-server"
    assert config.inputs["delete"] == f"rm -rf /etc/kolla/openvswitch-db-server {boot_dirs} {record}"
    # /run itself (kolla_toolbox's, nova_compute's) is always there.
    assert "tmpfiles" not in run.resources["h1-kolla-toolbox-config"].script


def test_the_ovsdb_volume_is_kept_on_destroy(run):
    for host in OVS_HOSTS:
        assert run.resources[f"{host}-volume-openvswitch_db"].retain_on_delete


def test_config_json_is_kollas_command_with_no_files():
    plan = plan_of(multinode())
    db = json.loads(rendered_files(plan, NETWORK, "openvswitch-db-server")["config.json"])
    assert db["command"].startswith("ovs_wrapper ovsdb-server /var/lib/openvswitch/conf.db ")
    assert "--remote=ptcp:6640:127.0.0.1" in db["command"]
    assert "--log-file=/var/log/kolla/openvswitch/ovsdb-server.log" in db["command"]
    vswitchd = json.loads(rendered_files(plan, NETWORK, "openvswitch-vswitchd")["config.json"])
    assert vswitchd["command"].startswith("ovs_wrapper ovs-vswitchd unix:/run/openvswitch/db.sock ")
    assert "--mlockall" in vswitchd["command"]
    assert db["config_files"] == vswitchd["config_files"] == []


def test_system_id_is_set_on_every_openvswitch_host(run):
    assert _job_hosts(run, "openvswitch_system_id") == OVS_HOSTS
    script = run.resources["h4-openvswitch_system_id"].script
    assert "docker exec -i openvswitch_vswitchd" in script
    assert "external_ids:system-id=h4 external_ids:hostname=h4" in script


def test_the_external_bridge_is_set_up_on_network_hosts_only(run):
    assert _job_hosts(run, "openvswitch_external_bridge") == {NETWORK}
    script = run.resources[f"{NETWORK}-openvswitch_external_bridge"].script
    assert (
        "ovs-vsctl -t 30 -- --may-exist add-br br-ex -- set-fail-mode br-ex standalone"
        " -- set Bridge br-ex datapath_type=system"
    ) in script
    assert "ovs-vsctl -t 30 -- --may-exist add-port br-ex eth1" in script


def test_computes_get_the_bridge_when_they_need_it():
    assert _job_hosts(run_program(multinode(computes_need_external_bridge=True)), "openvswitch_external_bridge") == (
        OVS_HOSTS
    )


def test_post_config_jobs_run_after_their_hosts_containers_in_order(run):
    """Per host: each host's jobs follow that host's containers and its previous job, in parallel with
    the other hosts (none waits for every host)."""
    r = run.resources
    for host in OVS_HOSTS:
        first = set(r[f"{host}-openvswitch_system_id"].depends_on)
        assert {f"{host}-openvswitch_vswitchd", f"{host}-openvswitch_db"} <= first
        assert not {d for d in first if d.split("-", 1)[0] in OVS_HOSTS - {host}}, host
    bridge = set(r[f"{NETWORK}-openvswitch_external_bridge"].depends_on)
    assert f"{NETWORK}-openvswitch_system_id" in bridge
    assert not {d for d in bridge if d.split("-", 1)[0] in OVS_HOSTS - {NETWORK}}


def test_bridge_commands_pair_bridges_with_interfaces_and_quote_them():
    ctx = {
        "neutron_bridge_name": "br-ex,br-ex2",
        "neutron_external_interface": "eth1,eth2;reboot",
        "ovs_datapath": "netdev",
    }
    assert external_bridge_commands(ctx).splitlines() == [
        "ovs-vsctl -t 30 -- --may-exist add-br br-ex -- set-fail-mode br-ex standalone"
        " -- set Bridge br-ex datapath_type=netdev",
        "ovs-vsctl -t 30 -- --may-exist add-br br-ex2 -- set-fail-mode br-ex2 standalone"
        " -- set Bridge br-ex2 datapath_type=netdev",
        "ovs-vsctl -t 30 -- --may-exist add-port br-ex eth1",
        "ovs-vsctl -t 30 -- --may-exist add-port br-ex2 'eth2;reboot'",
    ]


@pytest.mark.parametrize(
    "host, computes_need, expected",
    [("h2", False, True), ("h3", False, False), ("h3", True, True), ("h1", True, False)],
)
def test_which_hosts_need_the_external_bridge(host, computes_need, expected):
    ctx = {
        "inventory_hostname": host,
        "groups": {"network": ["h2"], "compute": ["h3"]},
        "computes_need_external_bridge": computes_need,
    }
    assert needs_external_bridge(ctx) is expected


def test_no_job_or_container_carries_a_password_in_plain_text(run):
    config = multinode()
    secrets = [v for v in config["passwords"].values() if isinstance(v, str) and len(v) >= 8]
    for resource in run.resources.values():
        if "openvswitch" not in resource.name:
            continue
        text = json.dumps({k: v for k, v in resource.inputs.items() if k not in resource.secret_inputs}, default=str)
        assert not any(s in text for s in secrets), resource.name


def test_the_userspace_datapath_reaches_the_agent_and_the_external_bridge_alike():
    """`ovs_datapath: netdev` (hosts without the openvswitch module): the agent builds br-int on it, and
    the external bridge must be on the same datapath, which the agent does not change afterwards."""
    config = multinode(ovs_datapath="netdev")
    plan = plan_of(config)
    for host in (NETWORK, *COMPUTES):
        agent = rendered_files(plan, host, "neutron-openvswitch-agent")["openvswitch_agent.ini"]
        assert "datapath_type = netdev\n" in agent, host
    bridge = run_program(config).resources[f"{NETWORK}-openvswitch_external_bridge"].script
    assert "-- set Bridge br-ex datapath_type=netdev" in bridge
