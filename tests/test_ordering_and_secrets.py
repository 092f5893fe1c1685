"""Ordering (jobs before containers, keystone after its dependencies) and secrets (never in plain text)."""

from __future__ import annotations

import json

import pytest

from components.service import JobSpec, after_container_order
from tests.conftest import make_config
from tests.harness import Run, run_program


@pytest.fixture(scope="module")
def aio() -> Run:
    config = make_config()
    run = run_program(config)
    run.config = config  # type: ignore[attr-defined]
    return run


def test_bootstrap_jobs_run_before_the_containers_that_need_them(aio):
    r = aio.resources
    assert "h1-bootstrap_mariadb" in r["h1-mariadb"].depends_on
    assert "h1-rabbitmq_bootstrap" in r["h1-rabbitmq"].depends_on
    for name in ("h1-keystone", "h1-keystone_fernet", "h1-keystone_ssh"):
        for job in ("h1-keystone_database", "h1-bootstrap_keystone", "h1-bootstrap_keystone_fernet"):
            assert job in r[name].depends_on, (name, job)


def _per_host(name: str, *hosts: str) -> list[JobSpec]:
    return [JobSpec(name, host, "", "", after_containers=True, per_host=True) for host in hosts]


def _once(name: str, host: str) -> list[JobSpec]:
    return [JobSpec(name, host, "", "", after_containers=True)]


def _waits(jobs: list[JobSpec], hosts: tuple[str, ...] = ("h1", "h2", "h3")) -> dict[str, list[tuple[str, ...]]]:
    return {f"{job.host}/{job.name}": waits for job, waits in after_container_order(jobs, hosts)}


def test_per_host_jobs_follow_their_own_host_only():
    waits = _waits([*_per_host("a", "h1", "h2", "h3"), *_per_host("b", "h2", "h3"), *_per_host("c", "h1", "h3")])
    assert waits["h1/a"] == [("containers", "h1")]
    assert waits["h2/b"] == [("job", "h2", "a")]
    # h1 had no b: its c follows its own a, not another host's b.
    assert waits["h1/c"] == [("job", "h1", "a")] and waits["h3/c"] == [("job", "h3", "b")]


def test_a_run_once_job_follows_every_hosts_last_job_and_the_hosts_no_job_ran_on():
    # A per-host step on some hosts only (compute, network) must not hide the other hosts' containers,
    # nor the earlier steps on hosts the latest step skipped.
    waits = _waits([*_per_host("a", "h1", "h2"), *_per_host("b", "h2"), *_once("c", "h1")])
    assert sorted(waits["h1/c"]) == [("containers", "h3"), ("job", "h1", "a"), ("job", "h2", "b")]


def test_after_a_run_once_job_per_host_jobs_follow_it_and_the_next_run_once_follows_them():
    waits = _waits([*_once("a", "h1"), *_per_host("b", "h2", "h3"), *_once("c", "h1"), *_once("d", "h1")])
    assert waits["h1/a"] == [("containers", "h1"), ("containers", "h2"), ("containers", "h3")]
    assert waits["h2/b"] == [("job", "h1", "a")]
    # Hosts b skipped are covered by a, which followed every container.
    assert sorted(waits["h1/c"]) == [("job", "h1", "a"), ("job", "h2", "b"), ("job", "h3", "b")]
    assert waits["h1/d"] == [("job", "h1", "c")]


def test_keystone_jobs_are_in_kollas_order(aio):
    r = aio.resources
    assert "h1-keystone_database" in r["h1-bootstrap_keystone"].depends_on
    assert "h1-bootstrap_keystone" in r["h1-bootstrap_keystone_fernet"].depends_on
    # keystone-manage bootstrap needs the running keystone container.
    assert "h1-keystone" in r["h1-distribute_fernet_keys"].depends_on
    assert "h1-distribute_fernet_keys" in r["h1-keystone_bootstrap"].depends_on


def test_keystone_waits_for_the_database_cache_and_bus(aio):
    assert {"mariadb", "memcached", "rabbitmq"} <= aio.services_waited_for("h1-keystone_database")
    assert {"mariadb", "memcached", "rabbitmq"} <= aio.services_waited_for("h1-keystone-config")
    # The database is usable once its users exist: keystone waits for mariadb's last job.
    assert "h1-mariadb_monitor_user" in aio.resources["h1-keystone_database"].depends_on


def test_database_jobs_wait_for_the_kolla_toolbox_they_run_in(aio):
    r = aio.resources
    assert "h1-kolla_toolbox" in r["h1-keystone_database"].depends_on
    assert "h1-kolla_toolbox" in r["h1-mariadb_monitor_user"].depends_on
    # ...and for nothing else of `common`, which is on every host (a graph linear in hosts).
    common = [d for d in r["h1-keystone_database"].depends_on if r[d].parent == "common"]
    assert common == ["h1-kolla_toolbox"]


def test_containers_wait_for_their_config_files_and_host_bootstrap(aio):
    r = aio.resources
    assert "h1-keystone-config" in r["h1-keystone"].depends_on
    assert "h1-bootstrap-etc-hosts" in r["h1-keystone-config"].depends_on
    assert "h1-bootstrap-daemon-json" in r["h1-keystone-config"].depends_on


def test_config_delivery_and_jobs_carry_secrets_only_as_secrets(aio):
    for resource in aio.of_type("command:remote:Command"):
        in_service = aio.resources[resource.parent].type == "kolla:openstack:Service"
        if "stdin" in resource.inputs and in_service:
            assert "stdin" in resource.secret_inputs, resource.name
        assert "connection" in resource.secret_inputs, f"{resource.name}: the private key must be secret"


def test_the_hosts_helpers_are_code_not_secrets(aio):
    """The one plain stdin: kolla-pulumi's helpers (components/tools/), installed by the host's bootstrap."""
    tools = aio.resources["h1-bootstrap-tools"]
    assert "stdin" not in tools.secret_inputs
    assert "kp\t0750\t" in tools.inputs["stdin"] and "haproxy_servers.py\t0750\t" in tools.inputs["stdin"]


def test_every_job_has_a_time_limit(aio):
    """A hung job fails the run (which a re-run recovers) rather than holding it forever."""
    commands = [r for r in aio.resources.values() if r.type == "command:remote:Command"]
    in_services = [r for r in commands if aio.resources[r.parent].type == "kolla:openstack:Service"]
    jobs = [r for r in in_services if not r.name.endswith("-config")]
    assert len(jobs) >= 9
    for job in jobs:
        assert job.custom_timeouts is not None, job.name
        assert (job.custom_timeouts.create, job.custom_timeouts.update) == ("20m", "20m"), job.name


def test_no_container_has_a_secret_in_its_environment(aio):
    """`docker inspect` shows a container's environment to whoever reaches the engine."""
    secret_envs = {c.name for c in aio.containers().values() if "envs" in c.secret_inputs}
    assert secret_envs == set()


def test_no_password_appears_in_any_plain_input(aio):
    secrets = [s for s in _all_secret_strings(aio.config["passwords"]) if len(s) >= 8]
    for resource in aio.resources.values():
        for key, value in resource.inputs.items():
            if key in resource.secret_inputs:
                continue
            text = json.dumps(value, default=str)
            for secret in secrets:
                assert secret not in text, f"{resource.name}.{key} carries a password in plain text"


def test_post_deploy_outputs_are_secret(aio):
    assert {"admin_openrc", "clouds_yaml"} <= aio.secret_outputs
    assert "summary" not in aio.secret_outputs
    openrc = aio.outputs["admin_openrc"]
    assert "export OS_AUTH_URL='http://10.77.0.11:5000'" in openrc
    assert f"export OS_PASSWORD='{aio.config['passwords']['keystone_admin_password']}'" in openrc
    assert "kolla-admin:" in aio.outputs["clouds_yaml"]


def test_summary_lists_containers_and_jobs_in_order(aio):
    summary = aio.outputs["summary"]
    assert [c["container"] for c in summary["hosts"]["h1"]][:3] == ["kolla_toolbox", "cron", "fluentd"]
    jobs = summary["jobs"]
    assert jobs.index("h1/bootstrap_mariadb") < jobs.index("h1/keystone_database") < jobs.index("h1/keystone_bootstrap")


def _all_secret_strings(passwords: dict) -> list[str]:
    out = []
    for value in passwords.values():
        if isinstance(value, dict):
            out += [line for v in value.values() for line in str(v).splitlines() if len(line) > 20]
        elif value:
            out.append(str(value))
    return out
