"""Heat against Kolla 2025.1: its three containers, heat.conf, its keystone registration (with the stack
domain and its admin), job order, secrets, and the blast radius of turning it on."""

from __future__ import annotations

import io
import json
import sys
import types
from contextlib import redirect_stdout
from typing import Any

import pytest

from components import scripts
from components.catalogue import heat
from components.context import render_string
from tests.conftest import multinode_config, parse_ini, rendered_container, volumes_of
from tests.harness import Run, run_program

CONTAINERS = ("heat_api", "heat_api_cfn", "heat_engine")


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return multinode_config(enable_heat=True)


@pytest.mark.parametrize("name", CONTAINERS)
def test_containers_run_like_kollas(run, name):
    c = run.containers()[f"h1-{name}"]
    key = name.replace("_", "-")
    assert volumes_of(c) == {
        f"/etc/kolla/{key}/:/var/lib/kolla/config_files/:ro",
        "/etc/localtime:/etc/localtime:ro",
        "kolla_logs:/var/log/kolla/",
        "/dev/shm:/dev/shm",
    }
    assert not c.inputs.get("privileged")


def test_images_commands_and_healthchecks_are_kollas(plan):
    expected = {
        "heat-api": ("/usr/sbin/apache2 -DFOREGROUND", "healthcheck_curl http://10.77.0.11:8004"),
        "heat-api-cfn": ("/usr/sbin/apache2 -DFOREGROUND", "healthcheck_curl http://10.77.0.11:8000"),
        "heat-engine": ("heat-engine", "healthcheck_port heat-engine 5672"),
    }
    for key, (command, check) in expected.items():
        c = rendered_container(plan, "h1", key)
        assert c.image == f"10.77.0.1:5000/openstack.kolla/{key}:2025.1-debian-bookworm"
        assert json.loads(c.files["config.json"])["command"] == command
        assert c.healthcheck == ("CMD-SHELL", check)


def test_all_three_only_on_control_in_multinode(run):
    placed = {c.name for c in run.containers().values() if c.inputs["name"] in CONTAINERS}
    assert placed == {f"h1-{name}" for name in CONTAINERS}


def test_heat_conf_has_kollas_values(plan, config):
    pw = config["passwords"]
    conf = parse_ini(rendered_container(plan, "h1", "heat-engine").files["heat.conf"])
    default = conf["DEFAULT"]
    assert default["log_file"] == "$log_dir/heat-engine.log"
    assert default["heat_metadata_server_url"] == "http://10.77.0.11:8000"
    assert default["heat_waitcondition_server_url"] == "http://10.77.0.11:8000/v1/waitcondition"
    assert default["stack_domain_admin"] == "heat_domain_admin"
    assert default["stack_domain_admin_password"] == pw["heat_domain_admin_password"]
    assert default["stack_user_domain_name"] == "heat_user_domain"
    assert default["heat_stack_user_role"] == "heat_stack_user"
    assert default["num_engine_workers"] == "5"
    assert default["transport_url"] == f"rabbit://openstack:{pw['rabbitmq_password']}@10.77.0.11:5672//"
    assert conf["database"]["connection"] == f"mysql+pymysql://heat:{pw['heat_database_password']}@10.77.0.11:3306/heat"
    auth = conf["keystone_authtoken"]
    assert (auth["service_type"], auth["username"], auth["password"]) == (
        "orchestration",
        "heat",
        pw["heat_keystone_password"],
    )
    assert auth["memcached_servers"] == "10.77.0.11:11211"
    trustee = conf["trustee"]
    assert trustee["auth_url"] == "http://10.77.0.11:5000"
    assert trustee["user_domain_id"] == "default"
    assert trustee["password"] == pw["heat_keystone_password"]
    assert conf["ec2authtoken"]["auth_uri"] == "http://10.77.0.11:5000"
    assert conf["clients"]["endpoint_type"] == "internalURL"
    assert conf["cache"]["memcache_servers"] == "10.77.0.11:11211"
    assert conf["volumes"]["backups_enabled"] == "True"
    assert conf["oslo_messaging_rabbit"]["heartbeat_in_pthread"] == "False"
    assert "processname" not in conf["oslo_messaging_rabbit"]


def test_heat_conf_is_rendered_per_container(plan):
    for key in ("heat-api", "heat-api-cfn"):
        conf = parse_ini(rendered_container(plan, "h1", key).files["heat.conf"])
        assert conf["DEFAULT"]["log_file"] == f"$log_dir/{key}.log"
        assert "num_engine_workers" not in conf["DEFAULT"]
        assert conf["oslo_messaging_rabbit"]["processname"] == key
        assert conf["oslo_messaging_rabbit"]["heartbeat_in_pthread"] == "True"


def test_apis_run_under_apache_like_kollas(plan):
    for key, port in (("heat-api", 8004), ("heat-api-cfn", 8000)):
        c = rendered_container(plan, "h1", key)
        wsgi = c.files[f"wsgi-{key}.conf"]
        assert f"Listen 10.77.0.11:{port}\n" in wsgi
        assert f"WSGIDaemonProcess {key} processes=5 threads=1 user=heat group=heat display-name={key}\n" in wsgi
        dests = {f["dest"] for f in json.loads(c.files["config.json"])["config_files"]}
        assert dests == {"/etc/heat/heat.conf", f"/etc/apache2/conf-enabled/wsgi-{key}.conf"}


def test_haproxy_entries_are_kollas(plan):
    ctx = plan.base
    entries = {f.name: f for key in ("heat-api", "heat-api-cfn") for f in heat.SERVICE.container(key).haproxy}
    ports = {
        name: (render_string(f.port, ctx), render_string(f.listen_port, ctx), f.external) for name, f in entries.items()
    }
    assert ports == {
        "heat_api": ("8004", "8004", False),
        "heat_api_external": ("8004", "8004", True),
        "heat_api_cfn": ("8000", "8000", False),
        "heat_api_cfn_external": ("8000", "8000", True),
    }
    assert all(f.backend_extra == ("option httpchk",) for f in entries.values())


def _registration(plan) -> dict[str, Any]:
    (job,) = [j for s in plan.services for j in s.jobs if j.name == "heat_register"]
    return json.loads(job.stdin)


def test_registration_is_kollas_plus_the_stack_domain(plan, config):
    params = _registration(plan)
    assert [(s["name"], s["type"], s["endpoints"]) for s in params["services"]] == [
        (
            "heat",
            "orchestration",
            {
                "internal": "http://10.77.0.11:8004/v1/%(tenant_id)s",
                "public": "http://10.77.0.11:8004/v1/%(tenant_id)s",
            },
        ),
        (
            "heat-cfn",
            "cloudformation",
            {"internal": "http://10.77.0.11:8000/v1", "public": "http://10.77.0.11:8000/v1"},
        ),
    ]
    users = {u["user"]: u for u in params["users"]}
    assert users["heat"]["password"] == config["passwords"]["heat_keystone_password"]
    assert (users["heat"]["project"], users["heat"]["role"], users["heat"]["domain"]) == ("service", "admin", "")
    admin = users["heat_domain_admin"]
    assert (admin["domain"], admin["role"]) == ("heat_user_domain", "admin")
    assert admin["password"] == config["passwords"]["heat_domain_admin_password"]
    assert params["roles"] == ["heat_stack_owner", "heat_stack_user"]
    assert params["user_roles"] == [{"user": "admin", "project": "admin", "role": "heat_stack_owner"}]


def test_bootstrap_only_syncs_the_schema_and_carries_no_secret(run, config):
    job = run.resources["h1-bootstrap_heat"]
    assert job.script.rstrip().endswith("bash -c 'sudo -E kolla_set_configs && heat-manage db_sync'")
    assert "KOLLA_BOOTSTRAP" not in job.script, "the image's bootstrap path wants admin credentials"
    assert config["passwords"]["keystone_admin_password"] not in job.stdin
    assert config["passwords"]["heat_domain_admin_password"] not in job.stdin


def test_jobs_in_order_database_registration_bootstrap_containers(run):
    r = run.resources
    assert {"mariadb", "keystone"} <= run.services_waited_for("h1-heat_database")
    assert "h1-heat_database" in r["h1-heat_register"].depends_on
    assert "h1-heat_register" in r["h1-bootstrap_heat"].depends_on
    for name in CONTAINERS:
        assert "h1-bootstrap_heat" in r[f"h1-{name}"].depends_on


def test_heat_secrets_are_only_in_secret_inputs(run, config):
    secrets = [config["passwords"][k] for k in heat.SERVICE.passwords]
    for resource in run.resources.values():
        for key, value in resource.inputs.items():
            text = json.dumps(value, default=str)
            for secret in secrets:
                if secret in text:
                    assert key in resource.secret_inputs, f"{resource.name}.{key} carries a password in plain text"
    assert "stdin" in run.resources["h1-heat_register"].secret_inputs


class FakeCloud:
    """An in-memory keystone with the openstacksdk cloud-layer calls the registration script makes."""

    def __init__(self) -> None:
        self.domains = {"default": {"id": "default", "name": "Default"}}
        self.projects: dict[tuple[str, str], dict] = {("admin", "default"): {"id": "p-admin"}}
        self.users: dict[tuple[str, str], dict] = {("admin", "default"): {"id": "u-admin"}}
        self.passwords: dict[str, str] = {}
        self.roles: set[str] = {"admin"}
        self.grants: set[tuple] = set()
        self.services: list[dict] = []
        self.endpoints: list[dict] = []

    def authorize(self) -> None:
        pass

    def get_service(self, name, filters):
        return next((s for s in self.services if s["name"] == name), None)

    def create_service(self, name, service_type, description):
        self.services.append({"id": f"s-{name}", "name": name, "description": description})
        return self.services[-1]

    def search_endpoints(self, filters):
        return [e for e in self.endpoints if all(e[k] == v for k, v in filters.items())]

    def create_endpoint(self, service_id, url, interface, region):
        self.endpoints.append(
            {
                "id": len(self.endpoints),
                "service_id": service_id,
                "interface": interface,
                "region_id": region,
                "url": url,
            }
        )

    def get_domain(self, domain_id=None, name_or_id=None):
        key = name_or_id or domain_id
        return next((d for d in self.domains.values() if key in (d["id"], d["name"])), None)

    def create_domain(self, name):
        self.domains[name] = {"id": f"d-{name}", "name": name}
        return self.domains[name]

    def get_project(self, name, domain_id):
        return self.projects.get((name, domain_id))

    def create_project(self, name, domain_id):
        self.projects[(name, domain_id)] = {"id": f"p-{name}"}

    def get_role(self, name):
        return name if name in self.roles else None

    def create_role(self, name):
        self.roles.add(name)

    def get_user(self, name, domain_id):
        return self.users.get((name, domain_id))

    def create_user(self, name, password, domain_id, default_project=None):
        self.users[(name, domain_id)] = {"id": f"u-{name}", "default_project": default_project}
        self.passwords[f"u-{name}"] = password
        return self.users[(name, domain_id)]

    def update_user(self, user_id, password):
        self.passwords[user_id] = password

    def grant_role(self, role, user, project=None, domain=None):
        assert role in self.roles and (project is None) != (domain is None)
        grant = (role, user, project, domain)
        if grant in self.grants:
            return False
        self.grants.add(grant)
        return True


def _register(cloud: FakeCloud, params: dict[str, Any]) -> str:
    """Run the registration program itself (as kolla_toolbox would) against the fake keystone."""
    module = types.ModuleType("openstack")
    module.connect = lambda **_: cloud  # type: ignore[attr-defined]
    exceptions = types.ModuleType("openstack.exceptions")
    exceptions.ConflictException = Conflict  # type: ignore[attr-defined]
    module.exceptions = exceptions  # type: ignore[attr-defined]
    names = ("openstack", "openstack.exceptions")
    saved_stdin, saved = sys.stdin, {name: sys.modules.get(name) for name in names}
    sys.modules.update({"openstack": module, "openstack.exceptions": exceptions})
    sys.stdin = io.StringIO(json.dumps(params))
    out = io.StringIO()
    try:
        with redirect_stdout(out):
            exec(compile(scripts._KEYSTONE_PY, "register", "exec"), {"__name__": "__main__"})
    finally:
        sys.stdin = saved_stdin
        for name, previous in saved.items():
            if previous is None:
                del sys.modules[name]
            else:
                sys.modules[name] = previous
    return out.getvalue()


class Conflict(Exception):
    """openstacksdk's ConflictException (keystone's 409)."""


class RacingCloud(FakeCloud):
    """Another service's registration creates the `service` project and the roles between this one's
    look-up and its create, as glance's and placement's did on a real first `up`."""

    def create_project(self, name, domain_id):
        super().create_project(name, domain_id)
        raise Conflict(f"409: project {name} exists")

    def create_role(self, name):
        super().create_role(name)
        raise Conflict(f"409: role {name} exists")


def test_registrations_running_at_once_both_succeed(plan):
    cloud = RacingCloud()
    out = _register(cloud, _registration(plan))
    assert ("service", "default") in cloud.projects
    assert "project service created" not in out  # the other registration made it
    assert ("heat", "default") in cloud.users


def test_registration_creates_the_stack_domain_and_admin_once(plan, config):
    cloud = FakeCloud()
    params = _registration(plan)
    first = _register(cloud, params)
    domain = cloud.domains["heat_user_domain"]
    admin = cloud.users[("heat_domain_admin", domain["id"])]
    assert admin["default_project"] is None
    assert cloud.passwords[admin["id"]] == config["passwords"]["heat_domain_admin_password"]
    # The stack domain admin holds `admin` on its domain, not on a project (heat's stack_domain_admin).
    assert ("admin", admin["id"], None, domain["id"]) in cloud.grants
    assert ("admin", "u-heat", "p-service", None) in cloud.grants
    assert ("heat_stack_owner", "u-admin", "p-admin", None) in cloud.grants
    assert {"heat_stack_owner", "heat_stack_user"} <= cloud.roles
    assert ("heat", "default") in cloud.users and ("heat_domain_admin", "default") not in cloud.users
    assert "domain heat_user_domain created" in first
    # Idempotent: a second run creates and grants nothing (passwords are re-set, as Kolla's
    # update_keystone_service_user_passwords does).
    state = (dict(cloud.domains), dict(cloud.users), set(cloud.grants), set(cloud.roles), len(cloud.endpoints))
    assert _register(cloud, params).strip() == "keystone registration unchanged"
    assert state == (cloud.domains, cloud.users, cloud.grants, cloud.roles, len(cloud.endpoints))


def test_registration_corrects_a_changed_domain_admin_password(plan):
    cloud = FakeCloud()
    params = _registration(plan)
    _register(cloud, params)
    for user in params["users"]:
        user["password"] = "rotated-" + user["user"]
    _register(cloud, params)
    admin = cloud.users[("heat_domain_admin", cloud.domains["heat_user_domain"]["id"])]
    assert cloud.passwords[admin["id"]] == "rotated-heat_domain_admin"


def _snapshot(run: Run) -> tuple[dict[str, Any], set[str]]:
    return {n: r.inputs for n, r in run.containers().items()}, {r.name for r in run.of_type("command:remote:Command")}


def test_turning_heat_on_adds_only_heats_resources():
    """enable_heat false -> true, with glance and horizon on: heat's containers and jobs are added; of the
    existing containers only those Kolla also changes change: cron and fluentd (logrotate.conf and
    fluentd.conf list the enabled services' log dirs, /var/log/kolla/heat now among them) and horizon
    (its ENABLE_HEAT environment turns the heat dashboard on)."""
    base = {"enable_glance": True, "enable_horizon": True}
    # Snapshot each run before the next: the harness's recorder of a run keeps seeing later runs.
    containers_before, jobs_before = _snapshot(run_program(multinode_config(**base, enable_heat=False)))
    containers_after, jobs_after = _snapshot(run_program(multinode_config(**base, enable_heat=True)))
    added = containers_after.keys() - containers_before.keys()
    changed = {n for n in containers_before if containers_before[n] != containers_after.get(n)}
    assert added == {f"h1-{name}" for name in CONTAINERS}
    hosts = ("h1", "h2", "h3", "h4")
    assert changed == {f"{h}-{c}" for h in hosts for c in ("cron", "fluentd")} | {"h1-horizon"}
    assert jobs_after - jobs_before == {
        "h1-heat_database",
        "h1-heat_register",
        "h1-bootstrap_heat",
        *(f"h1-{key}-config" for key in ("heat-api", "heat-api-cfn", "heat-engine")),
        "h1-heat-serving",
    }
    assert not jobs_before - jobs_after
