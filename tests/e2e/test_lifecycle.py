"""End to end: the program's own stack on two test-bed hosts, through the real engine and the
Automation API, checked on the hosts themselves (container ids, files, docker state).

The tests run in file order on one stack: deploy, no-change preview, a config change replacing
exactly its containers, a container removed by hand, an `up` killed halfway, the shell's `pulumi
preview`, destroy.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from testbed import env
from testbed.engine import engine_path
from testbed.versions import ROOT
from tests.conftest import ALL_IN_ONE_CONTAINER_NAMES
from tests.e2e import secret_scan
from tests.e2e.bed import clean_bed, project_copy

pytestmark = pytest.mark.e2e

STACK = "e2e"
PROJECT = "kolla-pulumi"
CONTROL = ALL_IN_ONE_CONTAINER_NAMES
# The operations a plan is compared on (a replace's create/delete halves are reported differently by
# the event stream and by `preview --json`).
PLAN_OPS = {"create", "update", "replace", "delete"}
COMPUTE = {"kolla_toolbox", "cron", "fluentd"}


def stack_config(**globals_overrides: Any) -> dict[str, Any]:
    """A control + compute split over h1 and h2, as a user's Pulumi.<stack>.yaml would hold it."""
    cache = "~/.cache/kolla-pulumi/testbed"
    hosts = {
        name: {
            "address": address,
            "user": "root",
            "private_key_file": f"{cache}/id_ed25519",
            "host_key_file": f"{cache}/host-keys/{name}/ssh_host_ed25519_key.pub",
        }
        for name, address in (("h1", "10.77.0.11"), ("h2", "10.77.0.12"))
    }
    return {
        f"{PROJECT}:globals": {
            "kolla_base_distro": "debian",
            "kolla_base_distro_version": "trixie",
            "docker_registry": "10.77.0.1:5000",
            "docker_registry_insecure": True,
            "kolla_internal_vip_address": "10.77.0.11",
            "enable_haproxy": False,
            "enable_openstack_core": False,
            "enable_keystone": True,
            "enable_proxysql": False,
            "openstack_service_workers": 1,
            **globals_overrides,
        },
        f"{PROJECT}:inventory": {
            "hosts": hosts,
            "groups": {
                "control": ["h1"],
                "network": ["h1"],
                "storage": ["h1"],
                "monitoring": ["h1"],
                "compute": ["h2"],
            },
        },
    }


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from testbed.deploy import stack_with_config

    started_at = time.time()
    with clean_bed(2) as started:
        state = tmp_path_factory.mktemp("e2e-state")
        yield {
            "hosts": {h.name: h for h in started},
            "state": state,
            "stack": lambda **g: stack_with_config(STACK, state, stack_config(**g)),
            "captured": {},
            "started_at": started_at,
        }


def containers(host: Any) -> dict[str, str]:
    """name -> id of every container on the host, asked of its own Docker engine."""
    out = host.ssh("docker ps -a --format '{{.Names}} {{.ID}} {{.State}}'").stdout.split()
    return {out[i]: f"{out[i + 1]}:{out[i + 2]}" for i in range(0, len(out), 3)}


def ids(bed: dict[str, Any]) -> dict[str, str]:
    return {f"{h}/{name}": cid for h, host in bed["hosts"].items() for name, cid in containers(host).items()}


def planned(stack: auto.Stack) -> tuple[dict[str, int], set[tuple[str, str]]]:
    """The preview's counts and its (operation, resource name) steps other than `same`."""
    steps: set[tuple[str, str]] = set()

    def on_event(event: auto.EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre and pre.metadata.op.value in PLAN_OPS:
            steps.add((pre.metadata.op.value, pre.metadata.urn.rsplit("::", 1)[-1]))

    result = stack.preview(on_event=on_event)
    return dict(result.change_summary), steps


def test_up_deploys_both_hosts_and_bootstraps_them(bed):
    stack = bed["stack"]()
    result = stack.up()
    bed["captured"]["first up"] = result.stdout + result.stderr
    assert result.summary.result == "succeeded"
    on = ids(bed)
    assert {k.split("/")[1] for k in on if k.startswith("h1/")} == CONTROL
    assert {k.split("/")[1] for k in on if k.startswith("h2/")} == COMPUTE
    assert all(v.endswith(":running") for v in on.values()), on
    h2 = bed["hosts"]["h2"]
    # bootstrap-servers ran for real on the compute host.
    assert "10.77.0.11 h1\n" in h2.ssh("cat /etc/hosts").stdout
    assert "net.ipv4.ip_nonlocal_bind = 1" in h2.ssh("cat /etc/sysctl.d/99-kolla.conf").stdout
    assert h2.ssh("stat -c %a /etc/kolla/cron").stdout.strip() == "770"
    # Only the engine's encrypted form of a password may be in the state file.
    state = (bed["state"] / "backend/.pulumi/stacks" / PROJECT / f"{STACK}.json").read_text()
    assert '"ciphertext"' in state
    password = json.loads(stack.get_config("passwords").value)["database_password"]
    assert password not in state
    bed["ids"] = ids(bed)


def test_genpwd_fills_only_what_is_missing(bed):
    from components.genpwd import fill_missing_passwords, needed_keys

    stack = bed["stack"]()
    before = stack.get_config("passwords").value
    assert fill_missing_passwords(stack, needed_keys()) == []
    assert stack.get_config("passwords").value == before
    assert stack.get_config("passwords").secret
    # A new key (every key of passwords.yml) is generated; the existing ones stay.
    generated = fill_missing_passwords(stack, needed_keys(every_key=True))
    assert "cinder_database_password" in generated and "database_password" not in generated
    after = json.loads(stack.get_config("passwords").value)
    assert {k: v for k, v in after.items() if k in json.loads(before)} == json.loads(before)


def test_second_preview_changes_nothing(bed):
    counts, steps = planned(bed["stack"]())
    assert steps == set(), steps
    assert set(counts) == {"same"}


_LIST_CATALOGUE = r"""
import json, sys, openstack
auth = json.load(sys.stdin)
conn = openstack.connect(auth=auth, region_name="RegionOne", interface="internal")
service = conn.get_service("glance")
print(json.dumps({
    "type": service["type"],
    "endpoints": {e["interface"]: e["url"] for e in conn.search_endpoints(filters={"service_id": service["id"]})},
    "user": bool(conn.get_user("glance")),
    "roles": [conn.get_role(a["role"]["id"])["name"] for a in conn.list_role_assignments(
        filters={"user": conn.get_user("glance")["id"], "project": conn.get_project("service")["id"]})],
}))
"""


def test_keystone_registration_runs_against_the_real_keystone_and_converges(bed):
    """glance's service-ks-register job, as the catalogue declares it, against the deployed keystone:
    it creates what is missing, corrects a changed URL, and a re-run changes nothing."""
    from components.catalogue import glance
    from components.catalogue.model import KeystoneRegistration
    from components.config.stack import resolve_stack_config
    from components.deployment import plan_deployment
    from components.jobs import keystone_registration_params
    from components.render import NO_OVERRIDES
    from components.scripts import register_in_keystone

    stack = bed["stack"]()
    raw = {key.split(":", 1)[1]: value for key, value in stack_config().items()}
    raw["passwords"] = json.loads(stack.get_config("passwords").value)
    ctx = plan_deployment(resolve_stack_config(raw, NO_OVERRIDES)).host_contexts["h1"]
    ctx = {**ctx, "glance_keystone_password": ctx.get("glance_keystone_password") or "g" * 40}
    job = next(j for j in glance.SERVICE.jobs if isinstance(j, KeystoneRegistration))
    h1 = bed["hosts"]["h1"]

    def register(context: dict[str, Any]) -> str:
        result = h1.ssh(register_in_keystone(), input=keystone_registration_params(job, context), check=False)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    first = register(ctx)
    assert "service glance created" in first and "user glance created" in first, first
    assert "role admin granted to glance on service" in first, first
    assert register(ctx).strip() == "keystone registration unchanged"
    moved = register({**ctx, "glance_public_endpoint": "http://10.77.0.11:19292"})
    assert moved.strip() == "endpoint glance public updated", moved
    listing = h1.ssh(
        "docker exec -i kolla_toolbox python3 -c " + shlex.quote(_LIST_CATALOGUE),
        input=json.dumps(dict(ctx["openstack_auth"])),
    ).stdout
    assert json.loads(listing) == {
        "type": "image",
        "endpoints": {"internal": "http://10.77.0.11:9292", "public": "http://10.77.0.11:19292"},
        "user": True,
        "roles": ["admin"],
    }


def test_config_change_replaces_exactly_its_containers(bed):
    stack = bed["stack"](memcached_max_memory="128")
    _, steps = planned(stack)
    # The container, and its serving gate (the wait until the new one is healthy).
    assert {name for op, name in steps if op == "replace"} == {"h1-memcached", "h1-memcached-serving"}
    assert {name for op, name in steps if op == "update"} == {"h1-memcached-config"}
    before = ids(bed)
    stack.up()
    after = ids(bed)
    assert before["h1/memcached"] != after["h1/memcached"]
    assert {k: v for k, v in before.items() if k != "h1/memcached"} == {
        k: v for k, v in after.items() if k != "h1/memcached"
    }
    cmd = bed["hosts"]["h1"].ssh("docker exec memcached cat /run_command").stdout
    assert "-m 128" in cmd


def test_container_removed_by_hand_comes_back(bed):
    h2 = bed["hosts"]["h2"]
    h2.ssh("docker rm -f cron")
    stack = bed["stack"](memcached_max_memory="128")
    stack.refresh()
    stack.up()
    assert containers(h2)["cron"].endswith(":running")
    assert planned(stack)[1] == set()


def test_config_changed_or_removed_by_hand_is_seen_by_a_preview_and_written_back_by_up(bed):
    """A file of /etc/kolla/memcached edited by hand on h1, h2's /etc/kolla/cron removed: the preview
    names those two config directories (written again) and their two containers (restarted on them),
    nothing else; `up` writes them back; the preview after it finds nothing to change."""
    h1, h2 = bed["hosts"]["h1"], bed["hosts"]["h2"]
    stack = bed["stack"](memcached_max_memory="128")
    written = {
        "h1": h1.ssh("cat /etc/kolla/memcached/config.json").stdout,
        "h2": h2.ssh("cat /etc/kolla/cron/config.json").stdout,
    }
    h1.ssh("echo '# by hand' >> /etc/kolla/memcached/config.json")
    h2.ssh("rm -rf /etc/kolla/cron")
    _, steps = planned(stack)
    assert {name for op, name in steps if op == "update"} == {"h1-memcached-config", "h2-cron-config"}, steps
    # Each container with the serving gate of its service on that host (the wait until it runs again).
    replaced = {"h1-memcached", "h1-memcached-serving", "h2-cron", "h2-common-serving"}
    assert {name for op, name in steps if op == "replace"} == replaced, steps
    before = ids(bed)
    result = stack.up()
    assert "differs from what kolla-pulumi wrote" in result.stdout
    assert h1.ssh("cat /etc/kolla/memcached/config.json").stdout == written["h1"]
    assert h2.ssh("cat /etc/kolla/cron/config.json").stdout == written["h2"]
    after = ids(bed)
    assert {k for k in before if before[k] != after.get(k)} == {"h1/memcached", "h2/cron"}
    assert after["h1/memcached"].endswith(":running") and after["h2/cron"].endswith(":running")
    assert planned(stack)[1] == set()


def test_up_killed_halfway_converges_when_run_again(bed, tmp_path):
    script = tmp_path / "up.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(ROOT)!r})
            from testbed.deploy import stack_with_config
            from tests.e2e.test_lifecycle import stack_config
            stack = stack_with_config({STACK!r}, __import__("pathlib").Path({str(bed["state"])!r}),
                                      stack_config(memcached_max_memory="128", openstack_logging_debug=True))
            stack.up(on_output=print)
            """
        )
    )
    process = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    for line in process.stdout:
        # Kill the whole run (engine and plugins) once a replacement is under way.
        if "replacing" in line or "deleting original" in line or time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=30)
    stack = bed["stack"](memcached_max_memory="128", openstack_logging_debug=True)
    # What an operator does after a killed run: release its lock, drop its pending creates, re-run.
    stack.cancel()
    stack.refresh(clear_pending_creates=True)
    stack.up()
    assert planned(stack)[1] == set()
    on = ids(bed)
    assert all(v.endswith(":running") for v in on.values()), on
    conf = bed["hosts"]["h1"].ssh("cat /etc/kolla/keystone/keystone.conf").stdout
    assert "debug = True" in conf


def test_shell_preview_gives_the_same_plan(bed, tmp_path):
    """`pulumi preview` typed in a shell on the project (language host) plans what the API plans."""
    project = project_copy(tmp_path / "project")
    stack = bed["stack"](memcached_max_memory="64", openstack_logging_debug=True)
    shutil.copy(Path(stack.workspace.work_dir) / f"Pulumi.{STACK}.yaml", project / f"Pulumi.{STACK}.yaml")
    _, api_steps = planned(stack)
    shell = subprocess.run(
        [str(engine_path()), "preview", "--stack", STACK, "--json", "--non-interactive"],
        cwd=project,
        env=env.pulumi_env(bed["state"]),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shell.returncode == 0, shell.stderr[-2000:] + shell.stdout[-2000:]
    document = json.loads(shell.stdout)
    shell_steps = {(s["op"], s["urn"].rsplit("::", 1)[-1]) for s in document.get("steps", []) if s["op"] in PLAN_OPS}
    assert shell_steps == api_steps
    assert {name for op, name in api_steps if op == "replace"} == {"h1-memcached", "h1-memcached-serving"}


def test_nothing_secret_in_state_logs_outputs_or_containers(bed):
    stack = bed["stack"](memcached_max_memory="128", openstack_logging_debug=True)
    problems = secret_scan.problems_of(
        stack.get_all_config(), bed["state"], bed["hosts"].values(), bed["captured"], bed["started_at"]
    )
    assert not problems, problems


def test_destroy_leaves_the_hosts_clean(bed):
    stack = bed["stack"](memcached_max_memory="128", openstack_logging_debug=True)
    stack.destroy()
    for host in bed["hosts"].values():
        assert containers(host) == {}
        assert host.ssh("ls -A /etc/kolla").stdout.split() == []
        assert host.ssh("ls -A /etc/kolla-pulumi/written 2>/dev/null || true").stdout.split() == []
        # Data volumes outlive destroy by design (kolla-ansible's destroy without --include-volumes).
        volumes = set(host.ssh("docker volume ls -q").stdout.split())
        assert volumes <= {"kolla_logs", "fluentd_data", "mariadb", "rabbitmq", "keystone_fernet_tokens"}
