"""Glance against Kolla 2025.1: glance_api's spec and placement, glance-api.conf, its jobs and secrets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.catalogue import glance
from components.context import render_string
from tests.conftest import multinode_config, parse_ini, plan_of, rendered_files, volumes_of
from tests.harness import Run

IMAGE = "10.77.0.1:5000/openstack.kolla/glance-api:2025.1-debian-bookworm"


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return multinode_config(enable_glance=True)


def _hosts_of(run: Run, container_name: str) -> set[str]:
    return {c.provider.removesuffix("-docker") for c in run.containers().values() if c.inputs["name"] == container_name}


def test_glance_api_runs_like_kollas(run):
    c = run.containers()["h1-glance_api"]
    assert volumes_of(c) == {
        "/etc/kolla/glance-api/:/var/lib/kolla/config_files/:ro",
        "/etc/localtime:/etc/localtime:ro",
        "glance:/var/lib/glance/",
        "kolla_logs:/var/log/kolla/",
        "/dev/shm:/dev/shm",
    }
    assert not c.inputs.get("privileged"), "Kolla's glance_api is privileged only for cinder iSCSI/ceph backends"
    assert c.inputs["healthcheck"]["tests"] == ["CMD-SHELL", "healthcheck_curl http://10.77.0.11:9292"]
    assert "glance" in {r.inputs.get("name") for r in run.of_type("docker:index/volume:Volume")}


def test_glance_api_image_is_kollas(config):
    plan = plan_of(config)
    (api,) = [c for s in plan.services if s.service.name == "glance" for c in s.containers]
    assert api.image == IMAGE
    assert api.container_name == "glance_api"


def test_glance_api_only_on_control_in_multinode(run):
    assert _hosts_of(run, "glance_api") == {"h1"}


def test_glance_api_hosts_follows_kollas_rule():
    """Kolla's glance_api_hosts: the first glance-api host with the file store on the named volume, all of
    them with any other datadir (e.g. a shared mount)."""
    config = multinode_config(enable_glance=True)
    config["inventory"]["groups"]["control"] = ["h1", "h2"]
    assert plan_of(config).host_contexts["h1"]["glance_api_hosts"] == ["h1"]
    shared = multinode_config(enable_glance=True, glance_file_datadir_volume="/srv/glance")
    shared["inventory"]["groups"]["control"] = ["h1", "h2"]
    assert plan_of(shared).host_contexts["h2"]["glance_api_hosts"] == ["h1", "h2"]


def test_glance_api_only_on_the_first_glance_api_host_with_the_file_store():
    config = multinode_config(enable_glance=True)
    config["inventory"]["groups"]["control"] = ["h1", "h2"]
    hosts = {c.host for s in plan_of(config).services if s.service.name == "glance" for c in s.containers}
    assert hosts == {"h1"}


def test_glance_api_conf_has_kollas_values(config):
    pw = config["passwords"]
    conf = parse_ini(rendered_files(plan_of(config), "h1", "glance-api")["glance-api.conf"])
    assert conf["DEFAULT"]["bind_host"] == "10.77.0.11"
    assert conf["DEFAULT"]["bind_port"] == "9292"
    assert conf["DEFAULT"]["worker_self_reference_url"] == "http://10.77.0.11:9292"
    assert conf["DEFAULT"]["enabled_backends"] == "file:file, http:http"
    assert conf["DEFAULT"]["transport_url"] == f"rabbit://openstack:{pw['rabbitmq_password']}@10.77.0.11:5672//"
    assert conf["database"]["connection"] == (
        f"mysql+pymysql://glance:{pw['glance_database_password']}@10.77.0.11:3306/glance"
    )
    auth = conf["keystone_authtoken"]
    assert auth["www_authenticate_uri"] == "http://10.77.0.11:5000"
    assert auth["auth_url"] == "http://10.77.0.11:5000"
    assert auth["username"] == "glance"
    assert auth["password"] == pw["glance_keystone_password"]
    assert auth["project_name"] == "service"
    assert auth["memcache_security_strategy"] == "ENCRYPT"
    assert auth["memcache_secret_key"] == pw["memcache_secret_key"]
    assert auth["memcached_servers"] == "10.77.0.11:11211"
    assert conf["paste_deploy"]["flavor"] == "keystone"
    # Kolla renders `default_backend = "file"`; merge_configs' oslo parser drops the quotes, as ours does.
    assert conf["glance_store"]["default_backend"] == "file"
    assert conf["file"]["filesystem_store_datadir"] == "/var/lib/glance/images/"
    assert conf["os_glance_staging_store"]["filesystem_store_datadir"] == "/var/lib/glance/staging"
    assert conf["oslo_messaging_notifications"]["driver"] == "noop"
    assert conf["cors"]["allowed_origin"] == "http://10.77.0.11"


def test_glance_cache_conf_only_with_the_image_cache(config):
    assert "glance-cache.conf" not in rendered_files(plan_of(config), "h1", "glance-api")
    files = rendered_files(
        plan_of(multinode_config(enable_glance=True, enable_glance_image_cache=True)), "h1", "glance-api"
    )
    cache = parse_ini(files["glance-cache.conf"])
    assert cache["DEFAULT"]["image_cache_dir"] == "/var/lib/glance/image-cache"
    assert parse_ini(files["glance-api.conf"])["paste_deploy"]["flavor"] == "keystone+cachemanagement"
    dests = [f["dest"] for f in json.loads(files["config.json"])["config_files"]]
    assert dests == ["/etc/glance/glance-api.conf", "/etc/glance/glance-cache.conf"]


def test_config_json_is_kollas(config):
    document = json.loads(rendered_files(plan_of(config), "h1", "glance-api")["config.json"])
    assert document["command"] == "glance-api"
    assert document["config_files"] == [
        {
            "source": "/var/lib/kolla/config_files/glance-api.conf",
            "dest": "/etc/glance/glance-api.conf",
            "owner": "glance",
            "perm": "0600",
        }
    ]
    assert {"path": "/var/lib/glance", "owner": "glance:glance", "recurse": True} in document["permissions"]


def test_haproxy_entries_are_kollas(config):
    ctx = plan_of(config).base
    entries = {f.name: f for f in glance.SERVICE.container("glance-api").haproxy}
    assert set(entries) == {"glance_api", "glance_api_external"}
    assert entries["glance_api_external"].external and not entries["glance_api"].external
    for f in entries.values():
        assert render_string(f.port, ctx) == "9292"
        assert [render_string(x, ctx) for x in f.frontend_extra] == ["timeout client 6h"]
        assert [render_string(x, ctx) for x in f.backend_extra] == ["timeout server 6h", "option httpchk"]


def test_registration_is_kollas(config):
    (job,) = [j for s in plan_of(config).services for j in s.jobs if j.name == "glance_register"]
    params = json.loads(job.stdin)
    assert params["services"] == [
        {
            "name": "glance",
            "type": "image",
            "description": "Openstack Image",
            "endpoints": {"internal": "http://10.77.0.11:9292", "public": "http://10.77.0.11:9292"},
        }
    ]
    (user,) = params["users"]
    assert (user["user"], user["project"], user["role"]) == ("glance", "service", "admin")
    assert user["password"] == config["passwords"]["glance_keystone_password"]


def test_jobs_in_kollas_order(run):
    r = run.resources
    assert {"mariadb", "keystone"} <= run.services_waited_for("h1-glance_database")
    assert "h1-glance_database" in r["h1-glance_register"].depends_on
    # Kolla's mysql_variables tasks around the db sync: trust function creators for its triggers only.
    assert "h1-glance_register" in r["h1-bootstrap_glance_database_variables_on"].depends_on
    assert "h1-bootstrap_glance_database_variables_on" in r["h1-bootstrap_glance"].depends_on
    assert "h1-bootstrap_glance" in r["h1-bootstrap_glance_database_variables_off"].depends_on
    assert "h1-bootstrap_glance_database_variables_off" in r["h1-glance_api"].depends_on
    assert "h1-glance-api-config" in r["h1-bootstrap_glance"].depends_on


def test_database_variables_are_set_for_the_sync_and_reset_after(run):
    on = json.loads(run.resources["h1-bootstrap_glance_database_variables_on"].stdin)
    off = json.loads(run.resources["h1-bootstrap_glance_database_variables_off"].stdin)
    assert on["variables"] == {"log_bin_trust_function_creators": "1"}
    assert off["variables"] == {"log_bin_trust_function_creators": "0"}
    # They run again whenever the db sync does (same image and config hash in their inputs).
    sync = run.resources["h1-bootstrap_glance"].script
    marker = run.resources["h1-bootstrap_glance_database_variables_on"].script.splitlines()[0]
    image, config_hash = marker.removeprefix("# inputs: ").split()
    assert image in sync and f"KOLLA_CONFIG_HASH={config_hash}" in sync


def test_bootstrap_is_kollas(run):
    script = run.resources["h1-bootstrap_glance"].script
    assert "-e KOLLA_BOOTSTRAP=" in script
    assert "-v glance:/var/lib/glance/" in script
    assert IMAGE in script


def test_glance_secrets_are_only_in_secret_inputs(run, config):
    secrets = [config["passwords"][k] for k in glance.SERVICE.passwords]
    seen = set()
    for resource in run.resources.values():
        for key, value in resource.inputs.items():
            text = json.dumps(value, default=str)
            for secret in secrets:
                if secret in text:
                    assert key in resource.secret_inputs, f"{resource.name}.{key} carries a password in plain text"
                    seen.add(resource.name)
    assert {"h1-glance_database", "h1-glance_register"} <= seen
    # Config files travel base64-encoded on stdin: the whole stdin is a secret.
    assert "stdin" in run.resources["h1-glance-api-config"].secret_inputs
