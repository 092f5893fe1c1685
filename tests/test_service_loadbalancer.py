"""The loadbalancer (Kolla's `loadbalancer` role with haproxy-config): haproxy and keepalived on the
network host, every enabled service's haproxy entries gathered into services.d, the VIP checks, and
the blast radius of frontends and members (only haproxy's files change)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from components import haproxy
from components.catalogue import SERVICES, keystone
from components.catalogue.model import Container, Frontend, Service
from components.config import ConfigError
from components.config.stack import resolve_stack_config
from components.deployment import DeploymentPlan, plan_deployment
from components.render import NO_OVERRIDES, CustomConfig
from tests.conftest import make_config, multinode_config, plan_of, rendered_container, volumes_of
from tests.harness import run_program

VIP = "10.77.0.10"
EXTERNAL_VIP = "10.77.1.10"
LB_VOLUMES = {
    "/etc/kolla/haproxy/:/var/lib/kolla/config_files/:ro",
    "/etc/localtime:/etc/localtime:ro",
    "haproxy_socket:/var/lib/kolla/haproxy/",
    "letsencrypt_certificates:/etc/haproxy/certificates",
}
KEEPALIVED_VOLUMES = {
    "/etc/kolla/keepalived/:/var/lib/kolla/config_files/:ro",
    "/etc/localtime:/etc/localtime:ro",
    "/lib/modules:/lib/modules:ro",
    "haproxy_socket:/var/lib/kolla/haproxy/",
}


def lb_config(groups: dict[str, list[str]] | None = None, **globals_overrides: Any) -> dict[str, Any]:
    """Kolla's multinode shape: control h1, network h2 (the loadbalancer), compute h3 and h4."""
    config = multinode_config(**{"enable_haproxy": True, "kolla_internal_vip_address": VIP, **globals_overrides})
    config["inventory"]["groups"].update(groups or {})
    return config


def sections(text: str) -> dict[str, list[str]]:
    """haproxy config: section header ('frontend x_front') -> its stripped lines."""
    out: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        if line and not line[0].isspace():
            current = out.setdefault(line.strip(), [])
        elif line.strip():
            current.append(line.strip())
    return out


def service_cfg(plan: DeploymentPlan, service: str, host: str = "h2") -> dict[str, list[str]]:
    return sections(rendered_container(plan, host, "haproxy").files[haproxy.service_file_source(service)])


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return lb_config()


@pytest.fixture(scope="module")
def external_plan() -> DeploymentPlan:
    return plan_of(lb_config(kolla_external_vip_address=EXTERNAL_VIP))


# Specs and placement


def test_haproxy_and_keepalived_run_on_the_loadbalancer_group_only(run):
    placed = {name for name in run.containers() if name.split("-", 1)[1] in {"haproxy", "keepalived"}}
    assert placed == {"h2-haproxy", "h2-keepalived"}


def test_haproxy_container_is_kollas(run):
    c = run.containers()["h2-haproxy"]
    assert c.inputs["privileged"] is True
    assert c.inputs["networkMode"] == "host"
    assert volumes_of(c) == LB_VOLUMES
    assert c.inputs["healthcheck"]["tests"] == ["CMD-SHELL", "healthcheck_curl http://10.77.0.12:61313"]


def test_keepalived_container_is_kollas(run):
    c = run.containers()["h2-keepalived"]
    assert c.inputs["privileged"] is True
    assert c.inputs["networkMode"] == "host"
    assert volumes_of(c) == KEEPALIVED_VOLUMES
    assert "healthcheck" not in c.inputs  # Kolla gives keepalived none


def test_images_and_config_json_commands(plan):
    assert (
        rendered_container(plan, "h2", "haproxy").image
        == "10.77.0.1:5000/openstack.kolla/haproxy:2025.1-debian-bookworm"
    )
    assert rendered_container(plan, "h2", "keepalived").image.split("/")[-1] == "keepalived:2025.1-debian-bookworm"
    assert json.loads(rendered_container(plan, "h2", "haproxy").files["config.json"])["command"] == (
        "/etc/haproxy/haproxy_run.sh"
    )
    assert json.loads(rendered_container(plan, "h2", "keepalived").files["config.json"])["command"] == (
        "/usr/sbin/keepalived -nld -p /run/keepalived.pid"
    )


def test_without_haproxy_nothing_is_deployed_and_the_vip_is_a_host():
    run = run_program(make_config())
    assert not {n for n in run.containers() if n.endswith(("-haproxy", "-keepalived"))}


# haproxy.cfg and the gathered services.d


def test_haproxy_cfg_has_kollas_global_defaults_stats_and_monitor(plan, config):
    cfg = sections(rendered_container(plan, "h2", "haproxy").files["haproxy.cfg"])
    assert "log 10.77.0.12:5140 local1" in cfg["global"]
    assert "stats socket /var/lib/kolla/haproxy/haproxy.sock group kolla mode 660" in cfg["global"]
    assert "maxconn 10000" in cfg["defaults"]
    assert "bind 10.77.0.12:1984" in cfg["listen stats"]
    assert f"stats auth openstack:{config['passwords']['haproxy_password']}" in cfg["listen stats"]
    assert cfg["frontend status"][:2] == ["bind 10.77.0.12:61313", f"bind {VIP}:61313"]


def test_one_services_d_file_per_service_with_frontends(plan):
    files = rendered_container(plan, "h2", "haproxy").files
    generated = {name for name in files if name.startswith("services.d_")}
    assert generated == {haproxy.service_file_source(s) for s in ("mariadb", "rabbitmq", "keystone")}
    entries = json.loads(files["config.json"])["config_files"]
    dests = {e["dest"] for e in entries}
    assert {"/etc/haproxy/services.d/keystone.cfg", "/etc/haproxy/services.d/mariadb.cfg"} <= dests
    assert [e["dest"] for e in entries][:2] == ["/etc/haproxy/haproxy_run.sh", "/etc/haproxy/haproxy.cfg"]


def test_keystone_frontend_balances_to_the_keystone_hosts(plan):
    cfg = service_cfg(plan, "keystone")
    front = cfg["frontend keystone_internal_front"]
    assert f"bind {VIP}:5000" in front
    assert [line for line in front if line.startswith("option")] == ["option httplog", "option forwardfor"]
    assert cfg["backend keystone_internal_back"] == [
        "mode http",
        "balance roundrobin",
        "option httpchk",
        "server h1 10.77.0.11:5000 check inter 2000 rise 2 fall 5",
    ]
    # Kolla's haproxy_enable_external_vip: no external frontend while the VIPs are the same.
    assert "frontend keystone_external_front" not in cfg


def test_mariadb_frontend_is_tcp_on_the_vip(plan):
    cfg = service_cfg(plan, "mariadb")
    front = cfg["frontend mariadb_front"]
    assert front[:4] == ["mode tcp", "option clitcpka", "timeout client 3600s", "option tcplog"]
    assert f"bind {VIP}:3306" in front
    assert cfg["backend mariadb_back"] == [
        "mode tcp",
        "option srvtcpka",
        "timeout server 3600s",
        "server h1 10.77.0.11:3306 check port 3306 inter 2000 rise 2 fall 5",
    ]


def test_rabbitmq_management_frontend(plan):
    cfg = service_cfg(plan, "rabbitmq")
    assert f"bind {VIP}:15672" in cfg["frontend rabbitmq_management_front"]
    assert "server h1 10.77.0.11:15672 check inter 2000 rise 2 fall 5" in cfg["backend rabbitmq_management_back"]


def test_external_frontends_bind_a_separate_external_vip(external_plan):
    cfg = service_cfg(external_plan, "keystone")
    front = cfg["frontend keystone_external_front"]
    assert f"bind {EXTERNAL_VIP}:5000" in front
    assert "http-request deny if { path -i -m beg /server-status }" in front
    assert f"bind {VIP}:5000" in cfg["frontend keystone_internal_front"]
    assert "server h1 10.77.0.11:5000 check inter 2000 rise 2 fall 5" in cfg["backend keystone_external_back"]


def test_members_follow_the_hosts_each_container_is_placed_on():
    plan = plan_of(lb_config(groups={"control": ["h1", "h3"]}))
    keystone_back = service_cfg(plan, "keystone")["backend keystone_internal_back"]
    assert [line for line in keystone_back if line.startswith("server")] == [
        "server h1 10.77.0.11:5000 check inter 2000 rise 2 fall 5",
        "server h3 10.77.0.13:5000 check inter 2000 rise 2 fall 5",
    ]
    # Galera is active/passive behind haproxy: one writer, the rest backups.
    mariadb_back = service_cfg(plan, "mariadb")["backend mariadb_back"]
    assert [line for line in mariadb_back if line.startswith("server")] == [
        "server h1 10.77.0.11:3306 check port 3306 inter 2000 rise 2 fall 5",
        "server h3 10.77.0.13:3306 check port 3306 inter 2000 rise 2 fall 5 backup",
    ]


def test_operator_services_d_snippets_are_added():
    snippet = "listen extra\n    bind {{ kolla_internal_vip_address }}:8888\n"
    config = resolve_stack_config(lb_config(), CustomConfig(files={"haproxy/services.d/extra.cfg": snippet}))
    files = rendered_container(plan_deployment(config), "h2", "haproxy").files
    assert files[haproxy.service_file_source("extra")] == f"listen extra\n    bind {VIP}:8888\n"
    assert "/etc/haproxy/services.d/extra.cfg" in files["config.json"]


# Duplicates


def _other(*frontends: Frontend) -> Service:
    container = Container(key="other", container_name="other", image="other", group="control", command="x")
    return Service(
        name="other",
        enable_flag="",
        containers=(Container(**{**container.__dict__, "haproxy": frontends}),),
    )


def test_a_frontend_name_claimed_twice_names_both_services(plan):
    ctx = plan.host_contexts["h2"]
    config = resolve_stack_config(lb_config(), NO_OVERRIDES)
    with pytest.raises(haproxy.FrontendConflict, match=r"'keystone_internal' is declared by both keystone and other"):
        haproxy.gather_frontends(
            [keystone.SERVICE, _other(Frontend("keystone_internal", "5999"))], config.inventory, ctx
        )


def test_a_vip_port_claimed_twice_names_both_frontends(plan):
    ctx = plan.host_contexts["h2"]
    config = resolve_stack_config(lb_config(), NO_OVERRIDES)
    with pytest.raises(
        haproxy.FrontendConflict, match=rf"keystone/keystone_internal and other/api both bind {VIP}:5000"
    ):
        haproxy.gather_frontends([keystone.SERVICE, _other(Frontend("api", "5000"))], config.inventory, ctx)


def test_the_catalogue_has_no_duplicate_frontends(external_plan):
    config = resolve_stack_config(lb_config(kolla_external_vip_address=EXTERNAL_VIP), NO_OVERRIDES)
    gathered = haproxy.gather_frontends(SERVICES, config.inventory, external_plan.host_contexts["h2"])
    assert [f.name for f in gathered["keystone"]] == ["keystone_internal", "keystone_external"]


# VIP checks


def _problems(config: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as raised:
        resolve_stack_config(config, NO_OVERRIDES)
    return str(raised.value)


def test_with_haproxy_the_vip_must_not_be_a_host_address():
    message = _problems(lb_config(kolla_internal_vip_address="10.77.0.12"))
    assert "globals.kolla_internal_vip_address = '10.77.0.12': expected an address no host has (it is h2's)" in message


def test_with_haproxy_a_separate_external_vip_must_not_be_a_host_address():
    message = _problems(lb_config(kolla_external_vip_address="10.77.0.13"))
    assert "globals.kolla_external_vip_address = '10.77.0.13': expected an address no host has (it is h3's)" in message
    assert "kolla_internal_vip_address" not in message


def test_without_haproxy_the_vip_must_be_a_mariadb_host():
    config = lb_config(enable_haproxy=False)
    message = _problems(config)
    assert "globals.kolla_internal_vip_address = '10.77.0.10': expected the API address of a mariadb host" in message
    config["globals"]["kolla_internal_vip_address"] = "10.77.0.11"
    assert resolve_stack_config(config, NO_OVERRIDES).globals["enable_haproxy"] is False


def test_keepalived_without_haproxy_is_refused():
    config = make_config(enable_keepalived=True)
    assert "globals.enable_keepalived = True: expected false when enable_haproxy is false" in _problems(config)


def test_single_external_frontend_is_refused():
    message = _problems(lb_config(haproxy_single_external_frontend=True))
    assert "globals.haproxy_single_external_frontend = True: expected false" in message


# keepalived


def test_keepalived_conf_holds_the_vip_with_kollas_values(plan, config):
    conf = rendered_container(plan, "h2", "keepalived").files["keepalived.conf"]
    lines = [line.strip() for line in conf.splitlines()]
    assert "vrrp_instance kolla_internal_vip_51 {" in lines
    assert {"interface eth0", "virtual_router_id 51", "priority 1", "state BACKUP", "nopreempt"} <= set(lines)
    assert f"{VIP} dev eth0" in lines
    assert f"auth_pass {config['passwords']['keepalived_password']}" in lines
    assert 'script "/check_alive.sh"' in lines and "check_alive" in lines
    checks = json.loads(rendered_container(plan, "h2", "keepalived").files["config.json"])["config_files"]
    assert {
        "source": "/var/lib/kolla/config_files/check_alive_haproxy.sh",
        "dest": "/checks/check_alive_haproxy.sh",
        "owner": "root",
        "perm": "0770",
    } in checks


def test_keepalived_priority_follows_host_order_and_external_vip_is_held_too():
    plan = plan_of(
        lb_config(
            groups={"network": ["h2", "h3"]},
            kolla_external_vip_address=EXTERNAL_VIP,
            keepalived_virtual_router_id=77,
            keepalived_traffic_mode="unicast",
        )
    )
    first = rendered_container(plan, "h2", "keepalived").files["keepalived.conf"]
    second = [
        line.strip() for line in rendered_container(plan, "h3", "keepalived").files["keepalived.conf"].splitlines()
    ]
    assert "priority 1" in first and "virtual_router_id 77" in first
    assert "priority 2" in second
    assert f"{EXTERNAL_VIP} dev eth0" in second
    assert "unicast_src_ip 10.77.0.13" in second
    assert second[second.index("unicast_peer {") + 1] == "10.77.0.12"


# Ordering


def test_keystone_waits_for_the_loadbalancer(config):
    run = run_program(config)
    assert "loadbalancer" in run.services_waited_for("h1-keystone_database")
    assert "loadbalancer" in run.services_waited_for("h1-keystone-config")
    assert "loadbalancer" not in run.services_waited_for("h1-mariadb-config")


def test_loadbalancer_comes_after_mariadb_and_before_keystone():
    names = [s.name for s in SERVICES]
    assert names.index("mariadb") < names.index("loadbalancer") < names.index("keystone")


# Blast radius


def _containers(config: dict[str, Any]) -> dict[str, dict]:
    return {n: r.inputs for n, r in run_program(config).containers().items()}


def test_a_keystone_only_change_does_not_touch_the_loadbalancer(run):
    before = {n: r.inputs for n, r in run.containers().items()}
    after = _containers(lb_config(fernet_token_expiry=3600))
    changed = {n for n in before if before[n] != after[n]}
    assert changed == {"h1-keystone", "h1-keystone_fernet"}


def test_a_second_keystone_host_changes_haproxy_and_nothing_else_running(run):
    before = {n: r.inputs for n, r in run.containers().items()}
    after = _containers(lb_config(groups={"keystone": ["h1", "h3"]}))
    changed = {n for n in before if before[n] != after[n]}
    assert after.keys() - before.keys() == {"h3-keystone", "h3-keystone_ssh", "h3-keystone_fernet"}
    # Keystone's own containers follow their peers (fernet sync); outside keystone only haproxy changes.
    assert {n for n in changed if "keystone" not in n} == {"h2-haproxy"}


# Secrets


def _texts(value: Any) -> str:
    """An input as JSON, plus the decoded contents of config-delivery stdin (name, perm, base64 lines)."""
    text = json.dumps(value, default=str)
    raw = value.get("value", "") if isinstance(value, dict) else value
    if isinstance(raw, str):
        for line in raw.splitlines():
            parts = line.split("\t")
            if len(parts) == 3:
                text += base64.b64decode(parts[2]).decode(errors="replace")
    return text


def test_loadbalancer_passwords_are_only_in_secret_inputs(run, config):
    secrets = [config["passwords"]["haproxy_password"], config["passwords"]["keepalived_password"]]
    carriers = set()
    for resource in run.resources.values():
        for key, value in resource.inputs.items():
            if any(s in _texts(value) for s in secrets):
                assert key in resource.secret_inputs, f"{resource.name}.{key} carries a password in plain text"
                carriers.add(resource.name)
    assert carriers == {"h2-haproxy-config", "h2-keepalived-config"}
