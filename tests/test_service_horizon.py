"""Horizon against Kolla 2025.1: the container, its Apache and Django settings, haproxy entries, secrets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.catalogue import horizon
from components.context import render_string
from tests.conftest import multinode_config, plan_of, rendered_container


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return multinode_config(enable_horizon=True)


def _env(container) -> dict[str, str]:
    return dict(e.split("=", 1) for e in container.inputs["envs"])


def test_horizon_runs_like_kollas(run):
    c = run.containers()["h1-horizon"]
    volumes = {
        f"{v.get('hostPath') or v.get('volumeName')}:{v['containerPath']}{':ro' if v.get('readOnly') else ''}"
        for v in c.inputs["volumes"]
    }
    assert volumes == {
        "/etc/kolla/horizon/:/var/lib/kolla/config_files/:ro",
        "/etc/localtime:/etc/localtime:ro",
        "kolla_logs:/var/log/kolla/",
    }
    assert c.inputs["healthcheck"]["tests"] == ["CMD-SHELL", "healthcheck_curl http://10.77.0.11:80"]
    env = _env(c)
    assert env["ENABLE_HEAT"] == "no" and env["ENABLE_DESIGNATE"] == "no" and env["FORCE_GENERATE"] == "no"
    assert {k for k in env if k.startswith("ENABLE_")} == {f"ENABLE_{p.upper()}" for p in horizon.PLUGINS}


def test_horizon_only_on_control_in_multinode(run):
    assert {c.name for c in run.containers().values() if c.inputs["name"] == "horizon"} == {"h1-horizon"}


def test_enabled_services_select_the_dashboards():
    env = rendered_container(
        plan_of(multinode_config(enable_horizon=True, enable_heat=True)), "h1", "horizon"
    ).environment
    assert env["ENABLE_HEAT"] == "yes"
    assert env["ENABLE_OCTAVIA"] == "no"


def test_image_command_and_config_json_are_kollas(config):
    c = rendered_container(plan_of(config), "h1", "horizon")
    assert c.image == "10.77.0.1:5000/openstack.kolla/horizon:2025.1-debian-bookworm"
    document = json.loads(c.files["config.json"])
    assert document["command"] == "/usr/sbin/apache2 -DFOREGROUND"
    assert [(f["source"].rsplit("/", 1)[1], f["dest"]) for f in document["config_files"]] == [
        ("horizon.conf", "/etc/apache2/conf-enabled/000-default.conf"),
        ("_9998-kolla-settings.py", "/etc/openstack-dashboard/local_settings.d/_9998-kolla-settings.py"),
        ("_9999-custom-settings.py", "/etc/openstack-dashboard/local_settings.d/_9999-custom-settings.py"),
    ]
    rocky = json.loads(
        rendered_container(
            plan_of(multinode_config(enable_horizon=True, kolla_base_distro="rocky")), "h1", "horizon"
        ).files["config.json"]
    )
    assert rocky["command"] == "/usr/sbin/httpd -DFOREGROUND"
    assert rocky["config_files"][0]["dest"] == "/etc/httpd/conf.d/horizon.conf"


def test_kolla_settings_have_kollas_values(config):
    settings = rendered_container(plan_of(config), "h1", "horizon").files["_9998-kolla-settings.py"]
    assert f"SECRET_KEY='{config['passwords']['horizon_secret_key']}'\n" in settings
    assert 'OPENSTACK_KEYSTONE_URL = "http://10.77.0.11:5000/v3"\n' in settings
    assert 'OPENSTACK_HOST = "10.77.0.11"\n' in settings
    assert 'OPENSTACK_KEYSTONE_DEFAULT_ROLE = "member"\n' in settings
    assert "SESSION_ENGINE = 'django.contrib.sessions.backends.cache'\n" in settings
    assert "CACHES['default']['LOCATION'] = ['10.77.0.11:11211']\n" in settings
    assert "DATABASES" not in settings, "Kolla's horizon_backend_database is false by default"
    assert "AVAILABLE_REGIONS" not in settings
    assert "SECURE_PROXY_SSL_HEADER" not in settings
    assert "'enable_backup': True," in settings
    assert rendered_container(plan_of(config), "h1", "horizon").files["_9999-custom-settings.py"] == ""


def test_memcached_locations_list_every_memcached_host():
    config = multinode_config(enable_horizon=True)
    config["inventory"]["groups"]["control"] = ["h1", "h2"]
    settings = rendered_container(plan_of(config), "h2", "horizon").files["_9998-kolla-settings.py"]
    assert "CACHES['default']['LOCATION'] = ['10.77.0.11:11211','10.77.0.12:11211']\n" in settings


def test_apache_vhost_is_kollas(config):
    conf = rendered_container(plan_of(config), "h1", "horizon").files["horizon.conf"]
    assert "Listen 10.77.0.11:80\n" in conf
    assert "<VirtualHost 10.77.0.11:80>\n" in conf
    assert (
        "WSGIDaemonProcess horizon-http processes=5 threads=1 user=horizon group=horizon display-name=horizon\n"
    ) in conf
    assert "WSGIScriptAlias / /var/lib/kolla/venv/lib/python3/site-packages/openstack_dashboard/wsgi.py\n" in conf
    assert "SSLEngine" not in conf


def test_haproxy_entries_are_kollas(config):
    ctx = plan_of(config).base
    entries = {f.name: f for f in horizon.SERVICE.container("horizon").haproxy}
    assert set(entries) == {"horizon", "horizon_redirect", "horizon_external", "horizon_external_redirect"}
    for name in ("horizon", "horizon_external"):
        f = entries[name]
        assert (render_string(f.port, ctx), render_string(f.listen_port, ctx), f.mode) == ("80", "80", "http")
        assert [render_string(x, ctx) for x in f.backend_extra] == ["balance roundrobin", "option httpchk"]
        assert f.enabled(ctx)
    assert entries["horizon_external"].external and not entries["horizon"].external
    # The redirect listeners exist only with TLS, as in Kolla.
    assert entries["horizon_redirect"].mode == "redirect"
    assert not entries["horizon_redirect"].enabled(ctx) and not entries["horizon_external_redirect"].enabled(ctx)
    tls = plan_of(multinode_config(enable_horizon=True, kolla_enable_tls_internal=True)).base
    assert entries["horizon_redirect"].enabled(tls) and entries["horizon_external_redirect"].enabled(tls)
    assert render_string(entries["horizon"].port, tls) == "443"


def test_no_database_and_no_jobs_by_default(run):
    commands = run.of_type("command:remote:Command")
    assert not [r for r in commands if "horizon" in r.name and not r.name.endswith(("-config", "-serving"))]
    assert horizon.SERVICE.jobs == ()


def test_horizon_waits_for_keystone_and_memcached(run):
    assert {"keystone", "memcached"} <= run.services_waited_for("h1-horizon-config")


def test_secret_key_is_only_in_secret_inputs(run, config):
    secret = config["passwords"]["horizon_secret_key"]
    for resource in run.resources.values():
        for key, value in resource.inputs.items():
            if secret in json.dumps(value, default=str):
                assert key in resource.secret_inputs, f"{resource.name}.{key} carries the secret key in plain text"
    assert "stdin" in run.resources["h1-horizon-config"].secret_inputs
