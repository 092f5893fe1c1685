"""ProxySQL (Kolla's enable_proxysql, part of the `loadbalancer` role, with proxysql-config and mariadb's
register.yml): the proxysql container on the loadbalancer hosts, proxysql.yaml, the users and rules files
gathered from every enabled service's database jobs, the shard root and monitor users, the database jobs'
login user, ordering, the config checks, the blast radius and where the passwords go."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from components import proxysql
from components.catalogue import SERVICES
from components.catalogue.model import DatabaseJob
from components.config import ConfigError
from components.config.stack import resolve_stack_config
from components.context import render_string
from components.deployment import DeploymentPlan
from components.placement import service_enabled
from components.render import NO_OVERRIDES
from components.service import JobSpec
from tests.conftest import make_config, plan_of, rendered_container, volumes_of
from tests.harness import run_program
from tests.test_service_loadbalancer import VIP, _texts, lb_config

PROXYSQL_VOLUMES = {
    "/etc/kolla/proxysql/:/var/lib/kolla/config_files/:ro",
    "/etc/localtime:/etc/localtime:ro",
    "kolla_logs:/var/log/kolla/",
    "proxysql:/var/lib/proxysql/",
    "proxysql_socket:/var/lib/kolla/proxysql/",
}


def ps_config(groups: dict[str, list[str]] | None = None, **globals_overrides: Any) -> dict[str, Any]:
    return lb_config(groups=groups, **{"enable_proxysql": True, **globals_overrides})


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return ps_config()


@pytest.fixture(scope="module")
def heat_plan() -> DeploymentPlan:
    return plan_of(ps_config(enable_heat=True))


def proxysql_yaml(plan: DeploymentPlan, host: str = "h2") -> dict[str, Any]:
    return yaml.safe_load(rendered_container(plan, host, "proxysql").files["proxysql.yaml"])


def shard_file(plan: DeploymentPlan, kind: str, service: str) -> list[dict[str, Any]]:
    text = rendered_container(plan, "h2", "proxysql").files[proxysql.shard_file_source(kind, service)]
    return yaml.safe_load(text)["mysql_users" if kind == "users" else "mysql_query_rules"]


def jobs(plan: DeploymentPlan) -> dict[str, JobSpec]:
    return {job.name: job for service in plan.services for job in service.jobs}


def params(job: JobSpec) -> dict[str, Any]:
    return json.loads(job.stdin)


# Container spec and placement


def test_proxysql_runs_on_the_loadbalancer_group_only(run):
    assert {n for n in run.containers() if n.endswith("-proxysql")} == {"h2-proxysql"}


def test_proxysql_follows_the_loadbalancer_group():
    plan = plan_of(ps_config(groups={"loadbalancer": ["h2", "h3"]}))
    placed = {c.host for s in plan.services for c in s.containers if c.key == "proxysql"}
    assert placed == {"h2", "h3"}


def test_proxysql_container_is_kollas(run, plan):
    c = run.containers()["h2-proxysql"]
    assert "privileged" not in c.inputs  # Kolla: privileged False
    assert c.inputs["networkMode"] == "host"
    assert volumes_of(c) == PROXYSQL_VOLUMES
    assert c.inputs["healthcheck"]["tests"] == ["CMD-SHELL", "healthcheck_listen proxysql 6032"]
    r = rendered_container(plan, "h2", "proxysql")
    assert r.image == "10.77.0.1:5000/openstack.kolla/proxysql:2025.1-debian-bookworm"
    config_json = json.loads(r.files["config.json"])
    assert config_json["command"] == "/etc/proxysql_run.sh"
    assert config_json["config_files"][:2] == [
        {
            "source": "/var/lib/kolla/config_files/proxysql_run.sh",
            "dest": "/etc/proxysql_run.sh",
            "owner": "proxysql",
            "perm": "0700",
        },
        {
            "source": "/var/lib/kolla/config_files/proxysql.yaml",
            "dest": "/etc/proxysql/proxysql.yaml",
            "owner": "proxysql",
            "perm": "0600",
        },
    ]
    assert "--no-version-check -f -c /etc/proxysql.cnf" in r.files["proxysql_run.sh"]


def test_keepalived_shares_the_proxysql_socket_and_checks_proxysql(plan, config):
    keepalived = rendered_container(plan, "h2", "keepalived")
    assert "proxysql_socket:/var/lib/kolla/proxysql/" in keepalived.volumes
    check = keepalived.files["check_alive_proxysql.sh"]
    assert "--socket=/var/lib/kolla/proxysql/admin.sock" in check
    assert f"--password={config['passwords']['proxysql_admin_password']}" in check
    dests = {e["dest"] for e in json.loads(keepalived.files["config.json"])["config_files"]}
    assert {"/checks/check_alive_haproxy.sh", "/checks/check_alive_proxysql.sh"} <= dests


def test_without_proxysql_nothing_of_it_is_deployed():
    plan = plan_of(lb_config())
    assert not [c for s in plan.services for c in s.containers if c.key == "proxysql"]
    keepalived = rendered_container(plan, "h2", "keepalived")
    assert not [v for v in keepalived.volumes if "proxysql" in v]
    assert "check_alive_proxysql.sh" not in keepalived.files


def test_haproxy_has_no_mariadb_frontend_with_proxysql(plan):
    files = rendered_container(plan, "h2", "haproxy").files
    assert "services.d_mariadb.cfg" not in files
    assert f"{VIP}:3306" not in "".join(files.values())


# proxysql.yaml


def test_admin_and_stats_credentials_and_interfaces(plan, config):
    admin = proxysql_yaml(plan)["admin_variables"]
    assert admin["admin_credentials"] == f"kolla-admin:{config['passwords']['proxysql_admin_password']}"
    assert admin["stats_credentials"] == f"kolla-stats:{config['passwords']['proxysql_stats_password']}"
    assert admin["mysql_ifaces"] == f"10.77.0.12:6032;{VIP}:6032;/var/lib/kolla/proxysql/admin.sock"
    assert admin["restapi_enabled"] == "False"


def test_mysql_variables_listen_on_the_vip_with_the_monitor_user(plan, config):
    variables = proxysql_yaml(plan)["mysql_variables"]
    assert variables["interfaces"] == f"{VIP}:3306"
    assert variables["monitor_username"] == "monitor"
    assert variables["monitor_password"] == config["passwords"]["mariadb_monitor_password"]
    assert (variables["threads"], variables["max_connections"], variables["monitor_connect_interval"]) == (
        5,
        40000,
        2000,
    )
    # One mariadb host: Kolla's single-node tweaks.
    assert (variables["shun_on_failures"], variables["connect_retries_delay"]) == (10, 1000)
    assert variables["connect_retries_on_failure"] == 20


def test_servers_are_the_mariadb_hosts_in_shard_0():
    plan = plan_of(ps_config(groups={"control": ["h1", "h3"]}))
    doc = proxysql_yaml(plan)
    assert doc["mysql_servers"] == [
        {
            "address": "10.77.0.11",
            "port": 3306,
            "hostgroup": 0,
            "max_connections": 10000,
            "max_replication_lag": 0,
            "weight": 100,
            "comment": "Writer h1",
        },
        {
            "address": "10.77.0.13",
            "port": 3306,
            "hostgroup": 0,
            "max_connections": 10000,
            "max_replication_lag": 0,
            "weight": 10,
            "comment": "Writer h3",
        },
    ]
    assert doc["mysql_galera_hostgroups"] == [
        {
            "writer_hostgroup": 0,
            "backup_writer_hostgroup": 1,
            "reader_hostgroup": 2,
            "offline_hostgroup": 3,
            "max_connections": 10000,
            "max_writers": 1,
            "writer_is_also_reader": 0,
            "comment": "Galera cluster for shard 0",
        }
    ]
    # Two hosts: no single-node tweaks.
    assert "shun_on_failures" not in doc["mysql_variables"]


# users/ and rules/


def test_shard_root_user_is_in_mariadbs_users_file(plan, config):
    assert shard_file(plan, "users", "mariadb") == [
        {
            "username": "root_shard_0",
            "password": config["passwords"]["database_password"],
            "default_hostgroup": 0,
            "transaction_persistent": 1,
            "active": 1,
        }
    ]
    assert proxysql.shard_file_source("rules", "mariadb") not in rendered_container(plan, "h2", "proxysql").files


def test_keystone_user_and_schema_rule(plan, config):
    assert shard_file(plan, "users", "keystone") == [
        {
            "username": "keystone",
            "password": config["passwords"]["keystone_database_password"],
            "transaction_persistent": 1,
            "active": 1,
        }
    ]
    assert shard_file(plan, "rules", "keystone") == [
        {"schemaname": "keystone", "destination_hostgroup": 0, "apply": 1, "active": 1}
    ]


def test_users_and_rules_files_reach_their_directories(plan):
    entries = json.loads(rendered_container(plan, "h2", "proxysql").files["config.json"])["config_files"]
    assert {e["dest"]: e["source"] for e in entries[2:]} == {
        "/etc/proxysql/users/mariadb.yaml": "/var/lib/kolla/config_files/users_mariadb.yaml",
        "/etc/proxysql/users/keystone.yaml": "/var/lib/kolla/config_files/users_keystone.yaml",
        "/etc/proxysql/rules/keystone.yaml": "/var/lib/kolla/config_files/rules_keystone.yaml",
    }
    assert {(e["owner"], e["perm"]) for e in entries[2:]} == {("proxysql", "0700")}


def test_enabling_heat_adds_heats_user_and_rule(heat_plan):
    assert [u["username"] for u in shard_file(heat_plan, "users", "heat")] == ["heat"]
    assert [r["schemaname"] for r in shard_file(heat_plan, "rules", "heat")] == ["heat"]


def test_every_database_job_of_an_enabled_service_has_its_user_and_rule():
    plan = plan_of(ps_config(enable_openstack_core=True))
    ctx = plan.host_contexts["h2"]
    files = rendered_container(plan, "h2", "proxysql").files
    users = {
        u["username"] for n, t in files.items() if n.startswith("users_") for u in yaml.safe_load(t)["mysql_users"]
    }
    rules = {
        r["schemaname"]
        for n, t in files.items()
        if n.startswith("rules_")
        for r in yaml.safe_load(t)["mysql_query_rules"]
    }
    databases = [j for s in SERVICES if service_enabled(s, ctx) for j in s.jobs if isinstance(j, DatabaseJob)]
    expected_rules = {render_string(j.database, ctx) for j in databases if j.database}
    assert {"keystone", "glance", "neutron", "nova", "nova_api", "nova_cell0", "placement", "heat"} <= rules
    assert rules == expected_rules
    assert users == {render_string(j.user, ctx) for j in databases if j.database} | {"root_shard_0"}
    assert "monitor" not in users  # ProxySQL's own monitor login, not a client


# MariaDB with proxysql: users, environment, login users


def test_mariadb_creates_the_shard_root_and_monitor_users_on_its_own_host(plan, config):
    all_jobs = jobs(plan)
    root, monitor = params(all_jobs["mariadb_shard_root_user"]), params(all_jobs["mariadb_monitor_user"])
    assert all_jobs["mariadb_shard_root_user"].host == all_jobs["mariadb_monitor_user"].host == "h1"
    for p in (root, monitor):
        assert (p["host"], p["login_user"]) == ("10.77.0.11", "root")
        assert p["login_password"] == config["passwords"]["database_password"]
    assert (root["user"], root["password"], root["database"]) == (
        "root_shard_0",
        config["passwords"]["database_password"],
        "",
    )
    assert (root["privileges"], root["grant_option"]) == ("ALL PRIVILEGES", True)
    assert (monitor["user"], monitor["password"]) == ("monitor", config["passwords"]["mariadb_monitor_password"])
    assert (monitor["privileges"], monitor["grant_option"]) == ("USAGE, REPLICATION CLIENT", False)
    assert all_jobs["mariadb_shard_root_user"].after_containers and all_jobs["mariadb_monitor_user"].after_containers


def test_without_proxysql_the_monitor_user_is_haproxy_without_password():
    all_jobs = jobs(plan_of(lb_config()))
    monitor = params(all_jobs["mariadb_monitor_user"])
    assert (monitor["user"], monitor["password"]) == ("haproxy", "")
    assert params(all_jobs["mariadb_shard_root_user"])["user"] == "root"


def test_mariadb_container_gets_the_monitor_password_as_a_secret_only_with_proxysql(run, config):
    c = run.containers()["h1-mariadb"]
    assert "envs" in c.secret_inputs
    envs = c.inputs["envs"]["value"] if isinstance(c.inputs["envs"], dict) else c.inputs["envs"]
    env = dict(e.split("=", 1) for e in envs)
    assert env["MYSQL_USERNAME"] == "monitor"
    assert env["MYSQL_PASSWORD"] == config["passwords"]["mariadb_monitor_password"]
    off = plan_of(lb_config())
    mariadb = rendered_container(off, "h1", "mariadb")
    assert mariadb.secret_environment == {} and "MYSQL_PASSWORD" not in mariadb.environment
    assert mariadb.environment["MYSQL_USERNAME"] == "haproxy"


def test_service_database_jobs_log_in_as_the_shard_root_user_through_the_vip(plan, heat_plan, config):
    for name in ("keystone_database", "heat_database"):
        p = params(jobs(heat_plan)[name])
        assert (p["host"], p["port"], p["login_user"]) == (VIP, "3306", "root_shard_0")
        assert p["login_password"] == config["passwords"]["database_password"]


def test_without_proxysql_database_jobs_log_in_as_root():
    plan = plan_of(lb_config(enable_heat=True))
    for name in ("keystone_database", "heat_database"):
        assert params(jobs(plan)[name])["login_user"] == "root"


# Ordering


def _closure(name: str) -> set[str]:
    by_name = {s.name: s for s in SERVICES}
    seen: set[str] = set()
    todo = [name]
    while todo:
        for dep in by_name[todo.pop()].depends_on:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_every_database_job_through_the_vip_waits_for_the_loadbalancer():
    for service in SERVICES:
        for job in service.jobs:
            if isinstance(job, DatabaseJob) and job.login_host != "{{ api_interface_address }}":
                assert "loadbalancer" in _closure(service.name), (service.name, job.name)


def test_mariadbs_jobs_do_not_wait_for_proxysql_and_proxysql_waits_for_them(config):
    assert "loadbalancer" not in _closure("mariadb")
    run = run_program(config)
    r = run.resources
    assert "mariadb" in run.services_waited_for("h2-proxysql")
    assert "h1-mariadb_shard_root_user" in r["h1-mariadb_monitor_user"].depends_on
    assert "h1-mariadb" in r["h1-mariadb_shard_root_user"].depends_on
    assert "loadbalancer" not in run.services_waited_for("h1-mariadb_shard_root_user")
    assert {"mariadb", "loadbalancer"} <= run.services_waited_for("h1-keystone_database")


def test_plan_runs_the_shard_users_before_service_databases(plan):
    order = [j.name for s in plan.services for j in s.jobs]
    assert order.index("mariadb_shard_root_user") < order.index("mariadb_monitor_user")
    assert order.index("mariadb_monitor_user") < order.index("keystone_database")


# Config checks


def _problems(config: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as raised:
        resolve_stack_config(config, NO_OVERRIDES)
    return str(raised.value)


def test_proxysql_is_an_implemented_flag(config):
    resolved = resolve_stack_config(config, NO_OVERRIDES)
    assert resolved.globals["enable_proxysql"] is True
    assert not [n for n in resolved.notices if "proxysql" in n]


def test_kollas_default_turns_proxysql_on_with_haproxy():
    config = lb_config()
    del config["globals"]["enable_proxysql"]
    assert resolve_stack_config(config, NO_OVERRIDES).globals["enable_proxysql"] is True


def test_kollas_default_without_haproxy_is_switched_off_with_a_notice():
    config = make_config()
    del config["globals"]["enable_proxysql"]
    resolved = resolve_stack_config(config, NO_OVERRIDES)
    assert resolved.globals["enable_proxysql"] is False
    assert any("enable_proxysql" in n and "enable_haproxy false" in n for n in resolved.notices)


def test_proxysql_without_haproxy_is_refused():
    message = _problems(make_config(enable_proxysql=True))
    assert "globals.enable_proxysql = True: expected false when enable_haproxy is false" in message


def test_proxysql_without_mariadb_is_refused():
    message = _problems(ps_config(enable_mariadb=False))
    assert "globals.enable_proxysql = True: expected false when enable_mariadb is false" in message


def test_proxysql_without_a_loadbalancer_host_is_refused():
    config = ps_config()
    config["inventory"]["groups"]["loadbalancer"] = []
    assert "inventory.groups.loadbalancer: no host to run haproxy, keepalived and proxysql on" in _problems(config)


# Blast radius


def _containers(config: dict[str, Any]) -> dict[str, dict]:
    return {n: r.inputs for n, r in run_program(config).containers().items()}


def test_enabling_heat_changes_only_proxysqls_database_files(plan, heat_plan):
    before, after = (
        rendered_container(plan, "h2", "proxysql").files,
        rendered_container(heat_plan, "h2", "proxysql").files,
    )
    changed = {n for n in before.keys() | after.keys() if before.get(n) != after.get(n)}
    assert changed == {"users_heat.yaml", "rules_heat.yaml", "config.json"}
    assert rendered_container(plan, "h2", "keepalived").files == rendered_container(heat_plan, "h2", "keepalived").files
    # haproxy changes by heat's own frontends only, not by its database.
    before, after = (
        rendered_container(plan, "h2", "haproxy").files,
        rendered_container(heat_plan, "h2", "haproxy").files,
    )
    assert {n for n in before.keys() | after.keys() if before.get(n) != after.get(n)} == {
        "services.d_heat.cfg",
        "config.json",
    }


def test_a_database_only_change_replaces_proxysql_and_no_other_loadbalancer_container(run):
    before = {n: r.inputs for n, r in run.containers().items()}
    after = _containers(ps_config(keystone_database_user="keystone2"))
    changed = {n for n in before if before[n] != after[n]}
    assert "h2-proxysql" in changed
    assert not changed & {"h2-haproxy", "h2-keepalived", "h1-mariadb"}


# Secrets


def test_proxysql_passwords_are_only_in_secret_inputs(run, config):
    keys = ("proxysql_admin_password", "proxysql_stats_password", "mariadb_monitor_password", "database_password")
    secrets = {k: config["passwords"][k] for k in keys}
    carriers: dict[str, set[str]] = {k: set() for k in keys}
    for resource in run.resources.values():
        for key, value in resource.inputs.items():
            text = _texts(value)
            for name, secret in secrets.items():
                if secret in text:
                    assert key in resource.secret_inputs, f"{resource.name}.{key} carries {name} in plain text"
                    carriers[name].add(resource.name)
    assert carriers["proxysql_admin_password"] == {"h2-proxysql-config", "h2-keepalived-config"}
    assert carriers["proxysql_stats_password"] == {"h2-proxysql-config"}
    assert {"h2-proxysql-config", "h1-mariadb", "h1-mariadb_monitor_user"} <= carriers["mariadb_monitor_password"]
    assert {"h2-proxysql-config", "h1-mariadb_shard_root_user", "h1-keystone_database"} <= carriers["database_password"]


def test_no_password_is_in_a_database_jobs_script(plan, config):
    secrets = [v for v in config["passwords"].values() if isinstance(v, str) and len(v) >= 8]
    for job in jobs(plan).values():
        assert not any(s in job.script for s in secrets), job.name
