"""End to end: a real OpenStack all-in-one on h1 of the test bed. Keystone, glance, placement, nova,
neutron (openvswitch agent), heat and horizon from the test-bed images (Debian trixie's packages),
deployed through the Automation API, then used as an operator would: `post-deploy`'s clouds.yaml and
the real python-openstackclient on this machine. A server boots under QEMU and reaches ACTIVE; a heat
stack completes; the admin logs in to the dashboard.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Iterator
from typing import Any

import pytest

from components.deployment import plan_deployment
from components.operate import health, mariadb_backup
from components.operate.workspace import resolved_config
from tests.e2e import secret_scan
from tests.e2e.bed import clean_bed
from tests.e2e.cloud import AGENTS, Cloud, compute_config, horizon_login, wait_until
from tests.e2e.test_lifecycle import containers

pytestmark = pytest.mark.e2e

STACK = "e2e-all-in-one"
GROUPS = {group: ["h1"] for group in ("control", "network", "compute", "storage", "monitoring")}
EXPECTED = {
    *("keystone", "glance_api", "placement_api", "nova_api", "nova_scheduler", "nova_conductor", "nova_compute"),
    *("nova_libvirt", "nova_ssh", "nova_novncproxy", "nova_metadata", "neutron_server", "neutron_l3_agent"),
    *("neutron_openvswitch_agent", "neutron_dhcp_agent", "neutron_metadata_agent", "openvswitch_vswitchd"),
    *("openvswitch_db", "mariadb", "rabbitmq", "memcached", "kolla_toolbox"),
    *("heat_api", "heat_api_cfn", "heat_engine", "horizon"),
}
HEAT_TEMPLATE = """heat_template_version: 2021-04-16
resources:
  word:
    type: OS::Heat::RandomString
    properties: {length: 12}
outputs:
  word: {value: {get_attr: [word, value]}}
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from testbed.deploy import stack_with_config

    started_at = time.time()
    with clean_bed(2) as started:
        state = tmp_path_factory.mktemp("e2e-aio-state")
        stack = stack_with_config(
            STACK, state, compute_config(GROUPS, enable_heat=True, enable_horizon=True, enable_mariabackup=True)
        )
        up = stack.up()
        client = Cloud(stack, tmp_path_factory.mktemp("e2e-aio-client"))
        yield {
            "h1": started[0],
            "h2": started[1],
            "stack": stack,
            "up": up,
            "client": client,
            "tmp": state,
            "started_at": started_at,
        }


def test_one_up_deploys_the_all_in_one_on_h1(cloud):
    assert cloud["up"].summary.result == "succeeded"
    on = containers(cloud["h1"])
    assert set(on) >= EXPECTED, sorted(EXPECTED - set(on))
    assert all(state.endswith(":running") for state in on.values()), on
    assert containers(cloud["h2"]) == {}
    # The password travels as a secret output, never in plain text in the engine's result.
    assert cloud["up"].outputs["admin_openrc"].secret


def test_a_token_is_issued(cloud):
    token = cloud["client"].json("token", "issue")
    assert token["id"] and token["project_id"] and token["user_id"]


def test_the_catalogue_lists_every_service_at_h1(cloud):
    endpoints = cloud["client"].json("endpoint", "list")
    urls = {(e["Service Type"], e["Interface"]): e["URL"] for e in endpoints}
    assert urls[("identity", "internal")] == "http://10.77.0.11:5000"
    assert urls[("image", "internal")] == "http://10.77.0.11:9292"
    assert urls[("placement", "internal")] == "http://10.77.0.11:8780"
    assert urls[("compute", "internal")] == "http://10.77.0.11:8774/v2.1"
    assert urls[("network", "internal")] == "http://10.77.0.11:9696"
    assert urls[("orchestration", "internal")] == "http://10.77.0.11:8004/v1/%(tenant_id)s"
    assert urls[("cloudformation", "internal")] == "http://10.77.0.11:8000/v1"


def test_nova_compute_is_up_and_every_network_agent_alive(cloud):
    client = cloud["client"]
    services = client.compute_services_up({"h1"})
    assert [(s["Host"], s["State"]) for s in services] == [("h1", "up")]
    agents = client.agents_alive({"h1"})
    assert {a["Agent Type"] for a in agents} == AGENTS
    hypervisors = client.json("hypervisor", "list")
    assert [(h["Hypervisor Hostname"], h["Hypervisor Type"]) for h in hypervisors] == [("h1", "QEMU")]


def test_init_runonce_then_the_demo_server_boots_on_demo_net_with_mykey(cloud):
    made = cloud["client"].init_runonce()
    assert len(made) == 20 and all(r["done"] in ("created", "set") for r in made), made
    client = cloud["client"]
    image = client.json("image", "show", "cirros")
    assert (image["status"], image["size"], image["disk_format"], image["visibility"]) == (
        "active",
        1048576,
        "raw",
        "public",
    )
    router = client.json("router", "show", "demo-router")
    public1 = client.json("network", "show", "public1")
    assert router["external_gateway_info"]["network_id"] == public1["id"]
    assert public1["router:external"] is True and public1["provider:network_type"] == "flat"
    # What init-runonce's closing lines tell the operator to run.
    server = client.boot("demo1")
    assert server["status"] == "ACTIVE", server.get("fault")
    assert server["OS-EXT-SRV-ATTR:host"] == "h1" and server["key_name"] == "mykey"
    assert list(server["addresses"]) == ["demo-net"]
    assert server["flavor"]["name"] == "m1.tiny"
    # The image's bytes are in the file store on the `glance` named volume.
    stored = cloud["h1"].ssh(f"docker exec glance_api stat -c %s /var/lib/glance/images/{image['id']}")
    assert stored.stdout.strip() == "1048576"
    # QEMU (no KVM on the test-bed hosts) runs it in nova_libvirt.
    domains = cloud["h1"].ssh("docker exec nova_libvirt virsh -c qemu:///system list --name").stdout.split()
    assert len(domains) == 1, domains
    xml = cloud["h1"].ssh(f"docker exec nova_libvirt virsh -c qemu:///system dumpxml {shlex.quote(domains[0])}")
    assert "<domain type='qemu'" in xml.stdout


def test_a_second_init_runonce_changes_nothing_and_says_so(cloud):
    again = cloud["client"].init_runonce()
    assert len(again) == 20 and all(r["done"] in ("exists", "unchanged") for r in again), again


def test_a_heat_stack_completes(cloud):
    client = cloud["client"]
    engines = client.json("orchestration", "service", "list")
    assert [(e["Host"], e["Status"]) for e in engines] == [("h1", "up")]
    template = cloud["tmp"] / "kp-stack.yaml"
    template.write_text(HEAT_TEMPLATE)
    client.run("stack", "create", "--wait", "-t", str(template), "kp-stack")
    stack = client.json("stack", "show", "kp-stack")
    assert stack["stack_status"] == "CREATE_COMPLETE", stack.get("stack_status_reason")
    (output,) = stack["outputs"]
    assert output["output_key"] == "word" and len(output["output_value"]) == 12


def test_the_admin_logs_in_to_the_dashboard(cloud):
    """Horizon's login form, posted as a browser would: keystone accepts the stack's admin password and
    the dashboard shows the admin's project."""
    password = re.search(r"OS_PASSWORD='([^']+)'", cloud["up"].outputs["admin_openrc"].value)
    assert password
    url, body = horizon_login("10.77.0.11", "admin", password.group(1))
    assert url.rstrip("/").endswith(("/project", "/identity", "/admin")), url
    assert "Log Out" in body or "Sign Out" in body, body[:2000]


def test_placement_knows_the_compute_node(cloud):
    providers = cloud["client"].json("resource", "provider", "list")
    assert [p["name"] for p in providers] == ["h1"]
    # The API itself, with a token from keystone: its root document names the microversions.
    token = cloud["client"].json("token", "issue")["id"]
    root = cloud["h1"].ssh("curl -sf -H @- http://10.77.0.11:8780/", input=f"X-Auth-Token: {token}\n")
    versions = json.loads(root.stdout)["versions"]
    assert versions[0]["id"] == "v1.0" and versions[0]["status"] == "CURRENT", versions


def test_the_services_log_under_kolla_logs(cloud):
    """Kolla's log layout: each service writes /var/log/kolla/<service>/ in the kolla_logs volume."""
    h1 = cloud["h1"]
    for path in ("glance/glance-api.log", "placement/placement-api.log", "nova/nova-compute.log"):
        out = h1.ssh(f"docker exec fluentd test -s /var/log/kolla/{shlex.quote(path)} && echo ok", check=False)
        assert out.stdout.strip() == "ok", (path, out.stderr)


def test_a_dropped_database_restored_from_a_full_and_an_incremental_backup_brings_back_the_same_servers(cloud):
    """Kolla's mariadb_backup, full then incremental, with a flavor made between them; nova's cell
    database dropped; `mariadb-restore`: the servers are back, the flavor too (the incremental was
    applied), the compute host's guest kept running, and a new server boots."""
    client, h1 = cloud["client"], cloud["h1"]
    config = resolved_config(cloud["stack"])
    plan = plan_deployment(config)
    servers = {s["ID"]: s["Name"] for s in client.json("server", "list")}
    assert servers, "the module's earlier tests boot a server"
    qemu = h1.ssh("pgrep -f '[q]emu-system' | sort").stdout.split()
    mariadb_backup.backup(config, plan, "full", log=print)
    client.run("flavor", "create", "--ram", "64", "--disk", "1", "--vcpus", "1", "kp.after-full")
    held = mariadb_backup.backup(config, plan, "incremental", log=print)
    assert [line for line in held if "/full-" in line] and [line for line in held if "/incr-" in line], held

    login = f"[client]\nuser=root\npassword={config.passwords.values['database_password']}\n"
    h1.ssh("docker exec -i mariadb mysql --defaults-extra-file=/dev/stdin -e 'DROP DATABASE nova'", input=login)
    assert client.json("server", "list") == []  # nova lists no server of a cell whose database is gone

    started = time.monotonic()
    chosen = mariadb_backup.restore(config, plan, log=print)
    print(f"mariadb-restore from {chosen.host}: {time.monotonic() - started:.1f} s")
    listed = client.wait_for(
        "the servers back",
        lambda: (r := client.run("server", "list", "-f", "json", check=False)).returncode == 0 and json.loads(r.stdout),
    )
    assert {s["ID"]: s["Name"] for s in listed} == servers
    assert all(s["Status"] == "ACTIVE" for s in listed), listed
    assert client.json("flavor", "show", "kp.after-full")["ram"] == 64
    assert h1.ssh("pgrep -f '[q]emu-system' | sort").stdout.split() == qemu  # the guests never stopped
    assert client.boot("after-restore")["status"] == "ACTIVE"


def test_a_host_restart_brings_every_container_back_healthy_without_an_up(cloud):
    """h1 loses power and boots again (its disks kept): Docker's restart policies bring every container
    back (Open vSwitch's /run/openvswitch is a fresh tmpfs then), each healthy, the same containers as
    before; the cloud answers; a refresh and a preview find nothing to change."""
    from testbed import hosts

    h1, client = cloud["h1"], cloud["client"]
    before = containers(h1)
    hosts.power_off("h1")
    hosts.up(2)

    # As `kolla-pulumi check` judges them: every planned container running, its healthcheck passing.
    config = resolved_config(cloud["stack"])
    plan = plan_deployment(config)
    wait_until(
        "every planned container running and healthy after the boot",
        lambda: all(row.ok for row in health.check(config, plan)),
        timeout=600,
    )
    assert containers(h1).keys() == before.keys()
    assert {name: cid.split(":")[0] for name, cid in containers(h1).items()} == {
        name: cid.split(":")[0] for name, cid in before.items()
    }  # started again, never re-created
    client.wait_for("a token", lambda: client.run("token", "issue", check=False).returncode == 0)
    client.compute_services_up({"h1"})
    client.agents_alive({"h1"})
    cloud["stack"].refresh(on_output=lambda _: None)
    preview = cloud["stack"].preview(on_output=lambda _: None)
    assert set(preview.change_summary) == {"same"}, preview.change_summary


def test_nothing_secret_in_state_logs_outputs_or_containers(cloud):
    up = cloud["up"]
    problems = secret_scan.problems_of(
        cloud["stack"].get_all_config(),
        cloud["tmp"],
        [cloud["h1"], cloud["h2"]],
        {"up": up.stdout + up.stderr},
        cloud["started_at"],
    )
    assert not problems, problems
