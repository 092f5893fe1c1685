"""Placement against Kolla 2025.1: placement_api's spec and placement, placement.conf, its WSGI server
config (uwsgi by default, Apache on request), migrate-db.rc, its jobs in Kolla's order, secrets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import multinode_config, parse_ini, plan_of, rendered_files, volumes_of

IMAGE = "10.77.0.1:5000/openstack.kolla/placement-api:2025.1-debian-bookworm"


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return multinode_config(enable_placement=True)


def test_placement_api_only_on_the_control_host(run):
    names = {n for n in run.containers() if n.endswith("placement_api")}
    assert names == {"h1-placement_api"}


def test_placement_api_spec_is_kollas(run):
    c = run.containers()["h1-placement_api"]
    assert c.inputs["name"] == "placement_api"
    assert volumes_of(c) == {
        "/etc/kolla/placement-api/:/var/lib/kolla/config_files/:ro",
        "/etc/localtime:/etc/localtime:ro",
        "kolla_logs:/var/log/kolla/",
    }
    assert not c.inputs.get("privileged")
    assert c.inputs["healthcheck"]["tests"] == ["CMD-SHELL", "healthcheck_curl http://10.77.0.11:8780"]


def test_placement_image(run):
    images = {r.inputs["name"] for r in run.of_type("RemoteImage") if "placement" in r.inputs["name"]}
    assert images == {IMAGE}


def test_placement_conf_has_kollas_values(config):
    pw = config["passwords"]
    conf = parse_ini(rendered_files(plan_of(config), "h1", "placement-api")["placement.conf"])
    assert conf["DEFAULT"]["log_file"] == "/var/log/kolla/placement/placement-api.log"
    assert conf["placement_database"]["connection"] == (
        f"mysql+pymysql://placement:{pw['placement_database_password']}@10.77.0.11:3306/placement"
    )
    auth = conf["keystone_authtoken"]
    assert auth["www_authenticate_uri"] == "http://10.77.0.11:5000"
    assert auth["auth_url"] == "http://10.77.0.11:5000"
    assert auth["username"] == "placement"
    assert auth["password"] == pw["placement_keystone_password"]
    assert auth["memcache_security_strategy"] == "ENCRYPT"
    assert auth["memcache_secret_key"] == pw["memcache_secret_key"]
    assert auth["memcached_servers"] == "10.77.0.11:11211"
    assert conf["cache"]["memcache_servers"] == "10.77.0.11:11211"


def test_uwsgi_is_kollas_default_wsgi_server(config):
    files = rendered_files(plan_of(config), "h1", "placement-api")
    assert "placement-api-wsgi.conf" not in files
    ini = parse_ini(files["placement-api-uwsgi.ini"])["uwsgi"]
    assert ini["http"] == "10.77.0.11:8780"
    assert ini["module"] == "placement.wsgi.api:application"
    assert ini["processes"] == "5"
    assert ini["uid"] == "placement"
    assert ini["plugins-dir"] == "/usr/lib/uwsgi/plugins"
    document = json.loads(files["config.json"])
    assert document["command"] == "uwsgi /etc/placement/placement-api-uwsgi.ini"
    dests = {f["dest"] for f in document["config_files"]}
    assert dests == {
        "/etc/placement/placement.conf",
        "/etc/placement/placement-api-uwsgi.ini",
        "/etc/placement/migrate-db.rc",
    }


def test_apache_wsgi_on_request(config):
    files = rendered_files(
        plan_of(multinode_config(enable_placement=True, placement_wsgi_provider="apache")), "h1", "placement-api"
    )
    assert "placement-api-uwsgi.ini" not in files
    assert "Listen 10.77.0.11:8780\n" in files["placement-api-wsgi.conf"]
    assert "WSGIDaemonProcess placement-api processes=5 threads=1 user=placement" in files["placement-api-wsgi.conf"]
    document = json.loads(files["config.json"])
    assert document["command"] == "/usr/sbin/apache2 -DFOREGROUND"
    assert "/etc/apache2/conf-enabled/00-placement-api.conf" in {f["dest"] for f in document["config_files"]}


def test_migrate_db_rc_names_both_databases(config):
    pw = config["passwords"]
    rc = dict(
        line.split("=", 1)
        for line in rendered_files(plan_of(config), "h1", "placement-api")["migrate-db.rc"].splitlines()
    )
    assert rc == {
        "NOVA_API_DB": "nova_api",
        "NOVA_API_USER": "nova_api",
        "NOVA_API_PASS": pw["nova_api_database_password"],
        "NOVA_API_DB_HOST": "10.77.0.11",
        "PLACEMENT_DB": "placement",
        "PLACEMENT_USER": "placement",
        "PLACEMENT_PASS": pw["placement_database_password"],
        "PLACEMENT_DB_HOST": "10.77.0.11",
    }


def test_jobs_in_kollas_order(run):
    r = run.resources
    # register.yml, then bootstrap.yml (database, then db sync), then the container.
    assert "h1-placement_register" in r["h1-placement_database"].depends_on
    assert "h1-placement_database" in r["h1-bootstrap_placement"].depends_on
    assert "h1-bootstrap_placement" in r["h1-placement_api"].depends_on
    assert "keystone" in run.services_waited_for("h1-placement_register")


def test_keystone_registration_is_kollas(config):
    plan = plan_of(config)
    job = next(j for s in plan.services for j in s.jobs if j.name == "placement_register")
    params = json.loads(job.stdin)
    assert params["services"] == [
        {
            "name": "placement",
            "type": "placement",
            "description": "Placement Service",
            "endpoints": {"internal": "http://10.77.0.11:8780", "public": "http://10.77.0.11:8780"},
        }
    ]
    assert [(u["user"], u["project"], u["role"]) for u in params["users"]] == [("placement", "service", "admin")]
    assert params["users"][0]["password"] == config["passwords"]["placement_keystone_password"]
    assert (
        "KOLLA_BOOTSTRAP=" in next(j for s in plan.services for j in s.jobs if j.name == "bootstrap_placement").script
    )


def test_haproxy_entries_are_kollas():
    from components.catalogue import placement

    frontends = {f.name: f for f in placement.SERVICE.container("placement-api").haproxy}
    assert set(frontends) == {"placement_api", "placement_api_external"}
    assert frontends["placement_api_external"].external and not frontends["placement_api"].external
    assert all(f.backend_extra == ("option httpchk GET /",) for f in frontends.values())


def test_passwords_only_in_secret_inputs(run, config):
    secrets = [
        config["passwords"][k]
        for k in ("placement_database_password", "placement_keystone_password", "nova_api_database_password")
    ]
    for resource in run.resources.values():
        for key, value in resource.inputs.items():
            if key in resource.secret_inputs:
                continue
            text = json.dumps(value, default=str)
            assert not any(s in text for s in secrets), f"{resource.name}.{key}"
    for name in ("h1-placement-api-config", "h1-placement_database", "h1-placement_register"):
        assert "stdin" in run.resources[name].secret_inputs
