"""Neutron with the openvswitch agent on Kolla's multinode layout: placement, container specs, rendered
files against kolla-ansible 2025.1's values, job order, secrets and blast radius."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_config, multinode_config, parse_ini, plan_of, rendered_files, volumes_of
from tests.harness import Declared, Run, run_program

# A well-formed stand-in: the program only renders it into neutron-server's id_rsa.
NETWORK, COMPUTES = "h2", ("h3", "h4")
AGENTS = ("neutron_dhcp_agent", "neutron_l3_agent", "neutron_metadata_agent")


def multinode(**globals_overrides: Any) -> dict[str, Any]:
    """Kolla's multinode shape (multinode_config) with neutron on."""
    return multinode_config(**{"enable_neutron": True, **globals_overrides})


def env(container: Declared) -> dict[str, str]:
    return dict(e.split("=", 1) for e in container.inputs["envs"])


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return multinode()


# Placement


def _neutron_containers(run: Run) -> dict[str, set[str]]:
    placed: dict[str, set[str]] = {}
    for name in run.containers():
        host, container = name.split("-", 1)
        if container.startswith("neutron_"):
            placed.setdefault(container, set()).add(host)
    return placed


def test_each_container_is_on_the_hosts_kolla_puts_it(run):
    assert _neutron_containers(run) == {
        "neutron_server": {"h1"},
        "neutron_openvswitch_agent": {NETWORK, *COMPUTES},
        "neutron_dhcp_agent": {NETWORK},
        "neutron_l3_agent": {NETWORK},
        "neutron_metadata_agent": {NETWORK},
    }


def test_all_in_one_runs_all_of_them_on_the_one_host():
    config = make_config(enable_neutron=True)
    assert _neutron_containers(run_program(config)) == {
        name: {"h1"} for name in ("neutron_server", "neutron_openvswitch_agent", *AGENTS)
    }


# Container specs (Kolla's neutron_services)

_BASE = {"/etc/localtime:/etc/localtime:ro", "kolla_logs:/var/log/kolla/", "/dev/shm:/dev/shm"}
SPECS = {
    "h1-neutron_server": (set(), False, ""),
    "h3-neutron_openvswitch_agent": (
        {"/lib/modules:/lib/modules:ro", "/run/openvswitch:/run/openvswitch:shared"},
        True,
        "",
    ),
    "h2-neutron_dhcp_agent": (
        {"neutron_metadata_socket:/var/lib/neutron/kolla/", "/run/netns:/run/netns:shared"},
        True,
        "private",
    ),
    "h2-neutron_l3_agent": (
        {
            "/lib/modules:/lib/modules:ro",
            "neutron_metadata_socket:/var/lib/neutron/kolla/",
            "/run/netns:/run/netns:shared",
        },
        True,
        "private",
    ),
    "h2-neutron_metadata_agent": ({"neutron_metadata_socket:/var/lib/neutron/kolla/"}, True, ""),
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_container_specs_are_kollas(run, name):
    extra, privileged, cgroupns = SPECS[name]
    c = run.containers()[name]
    key = c.inputs["name"].replace("_", "-")
    assert volumes_of(c) == {f"/etc/kolla/{key}/:/var/lib/kolla/config_files/:ro", *_BASE, *extra}
    assert bool(c.inputs.get("privileged")) is privileged
    assert c.inputs.get("cgroupnsMode", "") == cgroupns
    assert "pidMode" not in c.inputs  # neutron_agents_wrappers is off: no host pid namespace


def test_images_are_kollas(run):
    images = {r.inputs["name"] for r in run.of_type("index/remoteImage:RemoteImage") if "neutron" in r.inputs["name"]}
    assert {i.rsplit("/", 1)[1] for i in images} == {
        f"{name}:2025.1-debian-bookworm"
        for name in (
            "neutron-server",
            "neutron-openvswitch-agent",
            "neutron-dhcp-agent",
            "neutron-l3-agent",
            "neutron-metadata-agent",
        )
    }


def test_agent_environments_are_kollas(run):
    c = run.containers()
    assert env(c["h3-neutron_openvswitch_agent"])["KOLLA_LEGACY_IPTABLES"] == "false"
    dhcp = env(c["h2-neutron_dhcp_agent"])
    assert dhcp["KOLLA_NAME"] == "neutron_dhcp_agent"
    assert dhcp["KOLLA_NEUTRON_WRAPPERS"] == "false"
    assert dhcp["KOLLA_IMAGE"] == "10.77.0.1:5000/openstack.kolla/neutron-dhcp-agent:2025.1-debian-bookworm"
    l3 = env(c["h2-neutron_l3_agent"])
    assert (l3["KOLLA_NAME"], l3["KOLLA_LEGACY_IPTABLES"], l3["KOLLA_NEUTRON_WRAPPERS"]) == (
        "neutron_l3_agent",
        "false",
        "false",
    )


def test_healthchecks_are_kollas(run):
    c = run.containers()

    def test_of(name: str) -> list[str] | None:
        check = c[name].inputs.get("healthcheck")
        return check["tests"] if check else None

    assert test_of("h1-neutron_server") == ["CMD-SHELL", "healthcheck_curl http://10.77.0.11:9696"]
    assert test_of("h4-neutron_openvswitch_agent") == ["CMD-SHELL", "healthcheck_port neutron-openvswitch-agent 5672"]
    assert test_of("h2-neutron_dhcp_agent") == ["CMD-SHELL", "healthcheck_port neutron-dhcp-agent 5672"]
    assert test_of("h2-neutron_l3_agent") == ["CMD-SHELL", "healthcheck_port 'neutron-l3-agent ' 5672"]
    # neutron_metadata_agent_enable_healthchecks is "no" in Kolla.
    assert test_of("h2-neutron_metadata_agent") is None


def test_neutron_server_has_kollas_haproxy_entries(plan):
    from components.catalogue import neutron
    from components.context import render_string

    ctx = plan.host_contexts["h1"]
    entries = {
        fe.name: (render_string(fe.port, ctx), render_string(fe.listen_port, ctx), fe.external, fe.backend_extra)
        for fe in neutron.SERVICE.container("neutron-server").haproxy
    }
    assert entries == {
        "neutron_server": ("9696", "9696", False, ("option httpchk",)),
        "neutron_server_external": ("9696", "9696", True, ("option httpchk",)),
    }


# Rendered files


def test_config_json_commands_and_files(plan):
    expected = {
        ("h1", "neutron-server"): (
            "neutron-server --config-file /etc/neutron/neutron.conf "
            "--config-file /etc/neutron/plugins/ml2/ml2_conf.ini",
            {"/etc/neutron/neutron.conf", "/etc/neutron/plugins/ml2/ml2_conf.ini", "/var/lib/neutron/.ssh/id_rsa"},
        ),
        ("h3", "neutron-openvswitch-agent"): (
            "neutron-openvswitch-agent --config-file /etc/neutron/neutron.conf "
            "--config-file /etc/neutron/plugins/ml2/openvswitch_agent.ini",
            {"/etc/neutron/neutron.conf", "/etc/neutron/plugins/ml2/openvswitch_agent.ini"},
        ),
        ("h2", "neutron-dhcp-agent"): (
            "neutron-dhcp-agent --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/dhcp_agent.ini",
            {"/etc/neutron/neutron.conf", "/etc/neutron/dhcp_agent.ini", "/etc/neutron/dnsmasq.conf"},
        ),
        ("h2", "neutron-l3-agent"): (
            "/usr/local/bin/neutron-l3-agent-wrapper.sh",
            {"/usr/local/bin/neutron-l3-agent-wrapper.sh", "/etc/neutron/neutron.conf", "/etc/neutron/l3_agent.ini"},
        ),
        ("h2", "neutron-metadata-agent"): (
            "neutron-metadata-agent --config-file /etc/neutron/neutron.conf "
            "--config-file /etc/neutron/metadata_agent.ini",
            {"/etc/neutron/neutron.conf", "/etc/neutron/metadata_agent.ini"},
        ),
    }
    for (host, key), (command, dests) in expected.items():
        document = json.loads(rendered_files(plan, host, key)["config.json"])
        assert document["command"] == command, key
        assert {f["dest"] for f in document["config_files"]} == dests, key
        assert {"path": "/var/log/kolla/neutron", "owner": "neutron:neutron", "recurse": True} in document[
            "permissions"
        ]


def test_neutron_conf_has_kollas_values(plan, config):
    pw = config["passwords"]
    conf = parse_ini(rendered_files(plan, "h1", "neutron-server")["neutron.conf"])
    default = conf["DEFAULT"]
    assert default["bind_host"] == "10.77.0.11"
    assert default["bind_port"] == "9696"
    assert default["core_plugin"] == "ml2"
    assert default["service_plugins"] == "router"
    assert default["interface_driver"] == "openvswitch"
    assert (default["api_workers"], default["rpc_workers"], default["rpc_state_report_workers"]) == ("5", "3", "3")
    assert default["state_path"] == "/var/lib/neutron/kolla"
    assert default["transport_url"] == f"rabbit://openstack:{pw['rabbitmq_password']}@10.77.0.11:5672//"
    assert conf["database"]["connection"] == (
        f"mysql+pymysql://neutron:{pw['neutron_database_password']}@10.77.0.11:3306/neutron"
    )
    auth = conf["keystone_authtoken"]
    assert (auth["username"], auth["password"]) == ("neutron", pw["neutron_keystone_password"])
    assert auth["www_authenticate_uri"] == auth["auth_url"] == "http://10.77.0.11:5000"
    assert auth["memcached_servers"] == "10.77.0.11:11211"
    assert auth["memcache_secret_key"] == pw["memcache_secret_key"]
    assert (conf["nova"]["username"], conf["nova"]["password"]) == ("nova", pw["nova_keystone_password"])
    placement = conf["placement"]
    assert (placement["username"], placement["password"]) == ("placement", pw["placement_keystone_password"])
    assert placement["auth_url"] == "http://10.77.0.11:5000"
    assert conf["oslo_messaging_notifications"]["driver"] == "noop"
    assert conf["oslo_messaging_rabbit"]["rabbit_quorum_queue"] == "true"
    assert conf["privsep"]["helper_command"] == "sudo neutron-rootwrap /etc/neutron/rootwrap.conf privsep-helper"


def test_neutron_conf_binds_each_host_to_its_own_address(plan):
    for host, address in (("h2", "10.77.0.12"), ("h4", "10.77.0.14")):
        assert (
            parse_ini(rendered_files(plan, host, "neutron-openvswitch-agent")["neutron.conf"])["DEFAULT"]["bind_host"]
            == address
        )


def test_ml2_conf_is_kollas_and_only_the_server_reads_it(plan):
    ml2 = parse_ini(rendered_files(plan, "h1", "neutron-server")["ml2_conf.ini"])
    assert ml2["ml2"]["type_drivers"] == "flat,vlan,vxlan"
    assert ml2["ml2"]["tenant_network_types"] == "vxlan"
    assert ml2["ml2"]["mechanism_drivers"] == "openvswitch,l2population"
    assert ml2["ml2"]["extension_drivers"] == "port_security"
    assert "overlay_ip_version" not in ml2["ml2"]
    assert ml2["ml2_type_flat"]["flat_networks"] == "physnet1"
    assert ml2["ml2_type_vlan"]["network_vlan_ranges"] == ""
    assert ml2["ml2_type_vxlan"]["vni_ranges"] == "1:1000"
    assert "ml2_conf.ini" not in rendered_files(plan, "h2", "neutron-openvswitch-agent")


def test_openvswitch_agent_ini_maps_the_external_bridge_on_network_hosts_only(plan):
    for host, address in (("h2", "10.77.0.12"), ("h3", "10.77.0.13"), ("h4", "10.77.0.14")):
        agent = parse_ini(rendered_files(plan, host, "neutron-openvswitch-agent")["openvswitch_agent.ini"])
        assert agent["agent"]["tunnel_types"] == "vxlan"
        assert agent["agent"]["l2_population"] == "true"
        assert agent["ovs"]["local_ip"] == address
        assert agent["ovs"]["ovsdb_connection"] == "tcp:127.0.0.1:6640"
        assert agent["ovs"]["datapath_type"] == "system"
        assert agent["securitygroup"]["firewall_driver"].endswith("OVSHybridIptablesFirewallDriver")
        assert agent["ovs"].get("bridge_mappings") == ("physnet1:br-ex" if host == NETWORK else None), host


def test_computes_that_need_the_external_bridge_map_it_too():
    plan = plan_of(multinode(computes_need_external_bridge=True, neutron_bridge_name="br-ex,br-ex2"))
    for host in (NETWORK, *COMPUTES):
        agent = parse_ini(rendered_files(plan, host, "neutron-openvswitch-agent")["openvswitch_agent.ini"])
        assert agent["ovs"]["bridge_mappings"] == "physnet1:br-ex,physnet2:br-ex2"
    ml2 = parse_ini(rendered_files(plan, "h1", "neutron-server")["ml2_conf.ini"])
    assert ml2["ml2_type_flat"]["flat_networks"] == "physnet1,physnet2"


def test_dhcp_agent_files_are_kollas(plan):
    files = rendered_files(plan, NETWORK, "neutron-dhcp-agent")
    dhcp = parse_ini(files["dhcp_agent.ini"])
    assert dhcp["DEFAULT"]["dnsmasq_config_file"] == "/etc/neutron/dnsmasq.conf"
    assert dhcp["DEFAULT"]["dnsmasq_dns_servers"] == "1.1.1.1,8.8.8.8,8.8.4.4"
    assert (dhcp["DEFAULT"]["enable_isolated_metadata"], dhcp["DEFAULT"]["force_metadata"]) == ("true", "true")
    assert dhcp["ovs"]["ovsdb_connection"] == "tcp:127.0.0.1:6640"
    assert files["dnsmasq.conf"] == "log-async\nlog-facility=/var/log/kolla/neutron/dnsmasq.log\n"


def test_l3_agent_files_are_kollas(plan):
    files = rendered_files(plan, NETWORK, "neutron-l3-agent")
    l3 = parse_ini(files["l3_agent.ini"])
    assert l3["DEFAULT"]["agent_mode"] == "legacy"
    assert l3["ovs"]["ovsdb_timeout"] == "10"
    assert "neutron-l3-agent \\\n" in files["neutron-l3-agent-wrapper.sh"]
    assert "--config-file /etc/neutron/l3_agent.ini\n" in files["neutron-l3-agent-wrapper.sh"]


def test_metadata_agent_ini_points_at_nova_metadata_with_the_shared_secret(plan, config):
    meta = parse_ini(rendered_files(plan, NETWORK, "neutron-metadata-agent")["metadata_agent.ini"])["DEFAULT"]
    assert meta["nova_metadata_host"] == "10.77.0.11"
    assert meta["nova_metadata_port"] == "8775"
    assert meta["nova_metadata_protocol"] == "http"
    assert meta["metadata_proxy_shared_secret"] == config["passwords"]["metadata_secret"]
    assert meta["metadata_workers"] == "5"


def test_neutron_server_gets_the_neutron_ssh_key(plan, config):
    key = config["passwords"]["neutron_ssh_key"]["private_key"]
    assert rendered_files(plan, "h1", "neutron-server")["id_rsa"].strip() == key.strip()


# Jobs


def test_jobs_run_in_kollas_order_on_the_first_server_host(run):
    r = run.resources
    assert "h1-kolla_toolbox" in r["h1-neutron_database"].depends_on
    assert "h1-neutron_database" in r["h1-neutron_register"].depends_on
    assert "h1-neutron_register" in r["h1-bootstrap_neutron"].depends_on
    for name in run.containers():
        if "-neutron_" in name:
            assert "h1-bootstrap_neutron" in r[name].depends_on, name
    assert not any(n.startswith(("h2-", "h3-")) and "neutron_database" in n for n in r)


def test_neutron_waits_for_keystone_everywhere_and_openvswitch_on_its_own_host(run):
    waited = run.services_waited_for("h1-neutron_database")
    assert {"mariadb", "memcached", "rabbitmq", "keystone"} <= waited
    # Open vSwitch is a local need: an agent waits for its own host's, the database job for none.
    assert "openvswitch" not in waited
    agent = run.resources["h3-neutron-openvswitch-agent-config"].depends_on
    assert {"h3-openvswitch_db", "h3-openvswitch_vswitchd"} <= set(agent)
    assert not [d for d in agent if d.startswith(("h2-openvswitch", "h4-openvswitch"))]


def test_bootstrap_runs_neutron_server_image_with_kolla_bootstrap(plan):
    job = next(j for s in plan.services for j in s.jobs if j.name == "bootstrap_neutron")
    assert job.host == "h1"
    assert "KOLLA_BOOTSTRAP" in job.script
    assert "NEUTRON_BOOTSTRAP_SERVICES" in job.script
    assert "openstack.kolla/neutron-server:2025.1-debian-bookworm" in job.script
    assert "/etc/kolla/neutron-server/:/var/lib/kolla/config_files/:ro" in job.script


def test_keystone_registration_is_kollas_service_ks_register(plan, config):
    job = next(j for s in plan.services for j in s.jobs if j.name == "neutron_register")
    params = json.loads(job.stdin)
    assert params["services"] == [
        {
            "name": "neutron",
            "type": "network",
            "description": "Openstack Networking",
            "endpoints": {"internal": "http://10.77.0.11:9696", "public": "http://10.77.0.11:9696"},
        }
    ]
    assert [(u["user"], u["project"], u["role"]) for u in params["users"]] == [("neutron", "service", "admin")]
    assert params["users"][0]["password"] == config["passwords"]["neutron_keystone_password"]
    assert params["user_roles"] == [{"user": "neutron", "project": "service", "role": "service"}]


def test_database_job_creates_kollas_database_and_user(plan, config):
    job = next(j for s in plan.services for j in s.jobs if j.name == "neutron_database")
    params = json.loads(job.stdin)
    assert (params["database"], params["user"]) == ("neutron", "neutron")
    assert params["password"] == config["passwords"]["neutron_database_password"]


# Secrets


def _secret_strings(passwords: dict[str, Any]) -> list[str]:
    out = []
    for value in passwords.values():
        if isinstance(value, dict):
            out += [line for v in value.values() for line in str(v).splitlines() if len(line) > 20]
        elif value and len(str(value)) >= 8:
            out.append(str(value))
    return out


def test_passwords_reach_neutron_only_as_secrets(run, config):
    secrets = _secret_strings(config["passwords"])
    for resource in run.resources.values():
        for key, value in resource.inputs.items():
            if key in resource.secret_inputs:
                continue
            text = json.dumps(value, default=str)
            for secret in secrets:
                assert secret not in text, f"{resource.name}.{key} carries a password in plain text"
    for name in ("h1-neutron-server-config", "h1-neutron_database", "h1-neutron_register"):
        assert "stdin" in run.resources[name].secret_inputs, name
    assert not any("envs" in c.secret_inputs for n, c in run.containers().items() if "neutron" in n)


# Blast radius


def _inputs(run: Run, type_suffix: str) -> dict[str, dict[str, Any]]:
    return {r.name: r.inputs for r in run.of_type(type_suffix)}


def _changed(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> set[str]:
    assert a.keys() == b.keys()
    return {name for name in a if a[name] != b[name]}


def _containers_changed(before: Run, after: Run) -> set[str]:
    return _changed(
        _inputs(before, "docker:index/container:Container"), _inputs(after, "docker:index/container:Container")
    )


def _custom(tmp: Path, files: dict[str, str]) -> dict[str, Any]:
    tmp.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        (tmp / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp / path).write_text(text)
    return multinode(node_custom_config=str(tmp))


def test_an_option_only_l3_agent_ini_reads_changes_only_the_l3_agent(tmp_path):
    before = run_program(_custom(tmp_path / "a", {}))
    after = run_program(_custom(tmp_path / "b", {"neutron/l3_agent.ini": "[DEFAULT]\nagent_mode = dvr_snat\n"}))
    assert _containers_changed(before, after) == {"h2-neutron_l3_agent"}


def test_an_option_only_dhcp_agent_ini_reads_changes_only_the_dhcp_agent(run):
    after = run_program(multinode(neutron_dnsmasq_dns_servers="9.9.9.9"))
    assert _containers_changed(run, after) == {"h2-neutron_dhcp_agent"}


def test_the_metadata_secret_changes_only_the_metadata_agent_and_stays_secret(run, config):
    changed = copy.deepcopy(config)
    changed["passwords"]["metadata_secret"] = "a-new-metadata-proxy-shared-secret"
    after = run_program(changed)
    assert _containers_changed(run, after) == {"h2-neutron_metadata_agent"}
    config_cmd = after.resources["h2-neutron-metadata-agent-config"]
    assert "stdin" in config_cmd.secret_inputs


def test_the_external_interface_changes_no_container_and_reruns_only_the_bridge_job(run):
    after = run_program(multinode(neutron_external_interface="eth2"))
    assert _containers_changed(run, after) == set()
    jobs = _changed(_inputs(run, "command:remote:Command"), _inputs(after, "command:remote:Command"))
    assert jobs == {"h2-openvswitch_external_bridge"}
    assert "add-port br-ex eth2" in after.resources["h2-openvswitch_external_bridge"].script
