"""Container specs against Kolla's: volumes, privileges, network mode, environment, restart policy."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ALL_IN_ONE_CONTAINERS, make_config
from tests.harness import Run, run_program


@pytest.fixture(scope="module")
def aio() -> Run:
    return run_program(make_config())


def _volumes(container) -> set[str]:
    out = set()
    for v in container.inputs.get("volumes", []):
        source = v.get("hostPath") or v.get("volumeName")
        out.add(f"{source}:{v['containerPath']}{':ro' if v.get('readOnly') else ''}")
    for m in container.inputs.get("mounts", []):
        out.add(f"{m['source']}:{m['target']}:{m['bindOptions']['propagation']}")
    return out


def _env(container) -> dict[str, str]:
    envs = container.inputs["envs"]
    if isinstance(envs, dict):  # a secret reaches the mocks wrapped with its signature
        envs = envs["value"]
    return dict(e.split("=", 1) for e in envs)


def test_all_in_one_has_kollas_containers(aio):
    assert set(aio.containers()) == ALL_IN_ONE_CONTAINERS


@pytest.mark.parametrize("name", sorted(ALL_IN_ONE_CONTAINERS))
def test_every_container_runs_like_kolla_container_does(aio, name):
    c = aio.containers()[name]
    env = _env(c)
    assert c.inputs["networkMode"] == "host"
    assert c.inputs["restart"] == "unless-stopped"
    assert c.inputs["mustRun"] is True
    assert env["KOLLA_CONFIG_STRATEGY"] == "COPY_ALWAYS"
    assert env["KOLLA_SERVICE_NAME"] == c.inputs["name"].replace("_", "-")
    assert len(env["KOLLA_CONFIG_HASH"]) == 64
    key = {"kolla_toolbox": "kolla-toolbox", "keystone_ssh": "keystone-ssh", "keystone_fernet": "keystone-fernet"}.get(
        c.inputs["name"], c.inputs["name"]
    )
    assert f"/etc/kolla/{key}/:/var/lib/kolla/config_files/:ro" in _volumes(c)
    assert "/etc/localtime:/etc/localtime:ro" in _volumes(c)
    assert c.delete_before_replace, "fixed container names need delete-before-replace"
    assert "healthcheck" in c.replace_on_changes
    assert c.provider == "h1-docker"


def test_keystone_volumes(aio):
    assert _volumes(aio.containers()["h1-keystone"]) == {
        "/etc/kolla/keystone/:/var/lib/kolla/config_files/:ro",
        "/etc/localtime:/etc/localtime:ro",
        "kolla_logs:/var/log/kolla/",
        "/dev/shm:/dev/shm",
        "keystone_fernet_tokens:/etc/keystone/fernet-keys",
    }


def test_mariadb_keeps_its_data_in_a_named_volume(aio):
    c = aio.containers()["h1-mariadb"]
    assert "mariadb:/var/lib/mysql" in _volumes(c)
    assert _env(c)["MYSQL_HOST"] == "10.77.0.11"
    volume = aio.resources["h1-volume-mariadb"]
    assert volume.retain_on_delete, "data volumes outlive destroy unless asked"


def test_kolla_toolbox_is_privileged_with_shared_run(aio):
    c = aio.containers()["h1-kolla_toolbox"]
    assert c.inputs.get("privileged") is True
    assert "/run/:/run/:shared" in _volumes(c)
    assert not aio.containers()["h1-keystone"].inputs.get("privileged")


def test_healthchecks_follow_kolla_defaults(aio):
    hc = aio.containers()["h1-memcached"].inputs["healthcheck"]
    assert hc["tests"] == ["CMD-SHELL", "healthcheck_listen memcached 11211"]
    assert (hc["interval"], hc["timeout"], hc["startPeriod"], hc["retries"]) == ("30s", "30s", "5s", 3)


def test_healthchecks_can_be_turned_off():
    run = run_program(make_config(enable_container_healthchecks=False))
    assert "healthcheck" not in run.containers()["h1-memcached"].inputs


def test_images_are_kollas_names_and_tag(aio):
    images = {r.inputs["name"] for r in aio.of_type(":RemoteImage")}
    assert "10.77.0.1:5000/openstack.kolla/mariadb-server:2025.1-debian-bookworm" in images
    assert "10.77.0.1:5000/openstack.kolla/keystone-fernet:2025.1-debian-bookworm" in images
    for c in aio.containers().values():
        assert c.inputs["image"].startswith("sha256:"), "containers run the pulled image's id"


def test_host_provider_pins_the_host_key(aio):
    provider = aio.resources["h1-docker"]
    assert provider.inputs["host"] == "ssh://root@10.77.0.11:22"
    opts = provider.inputs["sshOpts"]
    # Provider config reaches the engine JSON-encoded.
    opts = json.loads(opts) if isinstance(opts, str) else opts
    assert "StrictHostKeyChecking=yes" in opts
    known_hosts = next(o for o in opts if o.startswith("UserKnownHostsFile="))
    with open(known_hosts.split("=", 1)[1]) as handle:
        assert handle.read().startswith("10.77.0.11 ssh-ed25519 ")


def test_fluentd_follows_its_flag():
    assert "h1-fluentd" not in run_program(make_config(enable_fluentd=False)).containers()


def test_capabilities_are_written_as_docker_reads_them_back():
    """A refresh reads CAP_<name>: written as Kolla names them, every refresh would replace the container
    (tests/testbed/test_provider_rules.py shows it on the real provider)."""
    from components.service import capability_names

    assert capability_names(["NET_ADMIN", "CAP_SYS_ADMIN"]) == ["CAP_NET_ADMIN", "CAP_SYS_ADMIN"]
