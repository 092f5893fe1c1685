"""End to end through the command line, as an operator types it: `pulumi stack init`, then
`kolla-pulumi genpwd`, `prechecks`, `deploy`, `post-deploy`, a config change with `pulumi config set`,
`preview`, `reconfigure --service`, `destroy`, on the test bed's two hosts (a local program: the engine
starts the project's python language host, the real one built from its source). Nothing the session
did leaves a password in plain text in the state, the logs, the commands' output or the containers."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from testbed import env
from testbed.engine import engine_path
from testbed.versions import ROOT
from tests.conftest import ALL_IN_ONE_CONTAINER_NAMES
from tests.e2e import secret_scan
from tests.e2e.bed import clean_bed, project_copy
from tests.e2e.test_lifecycle import containers, stack_config

pytestmark = pytest.mark.e2e

STACK = "operator"
CLI = ROOT / ".venv" / "bin" / "kolla-pulumi"


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    env.require(CLI.exists(), f"the kolla-pulumi command ({CLI}: pip install -e . installs it)")
    started_at = time.time()
    with clean_bed(2) as started:
        base = tmp_path_factory.mktemp("cli-session")
        yield {
            "hosts": {h.name: h for h in started},
            "project": project_copy(base / "project"),
            "env": env.pulumi_env(base / "state"),
            "state": base / "state",
            "out": base / "out",
            "captured": {},
            "started_at": started_at,
        }


def run(session: dict[str, Any], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """One command line, typed in the project directory with the engine's environment."""
    command = [str(CLI), *args] if args[0] != "pulumi" else [str(engine_path()), *args[1:]]
    result = subprocess.run(
        command, cwd=session["project"], env=session["env"], capture_output=True, text=True, timeout=900
    )
    session["captured"][f"{len(session['captured'])}: {' '.join(args)}"] = result.stdout + result.stderr
    if check:
        assert result.returncode == 0, f"{' '.join(args)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def cli(session: dict[str, Any], verb: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(session, verb, "--stack", STACK, "--project-dir", str(session["project"]), *args, check=check)


def ids(session: dict[str, Any]) -> dict[str, str]:
    return {f"{h}/{n}": cid for h, host in session["hosts"].items() for n, cid in containers(host).items()}


def test_stack_init_and_config_as_a_user_writes_them(session):
    run(session, "pulumi", "stack", "init", STACK, "--non-interactive")
    path = session["project"] / f"Pulumi.{STACK}.yaml"
    document = yaml.safe_load(path.read_text()) or {}
    document["config"] = stack_config()
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_genpwd_stores_every_needed_password_as_a_secret(session):
    out = cli(session, "genpwd").stdout
    assert "database_password" in out and "keystone_admin_password" in out
    path = session["project"] / f"Pulumi.{STACK}.yaml"
    stored = path.read_text()
    assert "secure:" in stored
    # Nothing left to generate: a second run names no password and leaves every secret as it was.
    again = cli(session, "genpwd").stdout
    assert "database_password" not in again and "keystone_admin_password" not in again
    assert path.read_text() == stored


def test_prechecks_pass_on_the_test_bed(session):
    result = cli(session, "prechecks", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_starts_every_container(session):
    cli(session, "deploy", "--quiet")
    on = ids(session)
    assert {k.split("/")[1] for k in on if k.startswith("h1/")} == ALL_IN_ONE_CONTAINER_NAMES
    assert all(v.endswith(":running") for v in on.values()), on
    session["ids"] = on


def test_post_deploy_writes_the_openrc_and_clouds_yaml_private(session):
    out = session["out"]
    cli(session, "post-deploy", "--dir", str(out))
    for name in ("admin-openrc.sh", "clouds.yaml"):
        assert stat.S_IMODE(os.stat(out / name).st_mode) == 0o600, name
    openrc = (out / "admin-openrc.sh").read_text()
    assert "export OS_AUTH_URL='http://10.77.0.11:5000'" in openrc
    key = "kolla-pulumi:passwords.keystone_admin_password"
    password = run(session, "pulumi", "config", "get", "--stack", STACK, "--path", key).stdout.strip()
    assert len(password) == 40 and f"export OS_PASSWORD='{password}'" in openrc
    assert yaml.safe_load((out / "clouds.yaml").read_text())["clouds"]


def test_check_reports_every_container_healthy_then_one_stopped_by_hand(session):
    assert cli(session, "check").returncode == 0
    h1 = session["hosts"]["h1"]
    h1.ssh("docker stop memcached")
    try:
        stopped = cli(session, "check", "--json", check=False)
    finally:
        h1.ssh("docker start memcached")
    rows = [json.loads(line) for line in stopped.stdout.splitlines() if line.startswith("{")]
    assert stopped.returncode == 3
    assert [(r["host"], r["container"], r["state"]) for r in rows if not r["ok"]] == [("h1", "memcached", "exited")]
    common = {("h2", name) for name in ("kolla_toolbox", "cron", "fluentd")}  # every host runs Kolla's common
    assert {(r["host"], r["container"]) for r in rows} == {("h1", n) for n in ALL_IN_ONE_CONTAINER_NAMES} | common


def test_genconfig_writes_what_the_hosts_hold(session):
    out = session["out"] / "genconfig"
    cli(session, "genconfig", "--dir", str(out))
    written = {
        str(p.relative_to(out / "h1")): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (out / "h1").rglob("*")
        if p.is_file()
    }
    directories = " ".join(sorted({f"/etc/kolla/{name.split('/')[0]}" for name in written}))
    listing = session["hosts"]["h1"].ssh(f"find {directories} -type f -exec sha256sum {{}} +").stdout
    held = {
        path.removeprefix("/etc/kolla/"): digest for digest, path in (line.split() for line in listing.splitlines())
    }
    assert written and held == written, sorted(set(held.items()) ^ set(written.items()))[:10]


def test_a_config_change_previews_and_reconfigures_exactly_its_container(session):
    key = "kolla-pulumi:globals.memcached_max_memory"
    run(session, "pulumi", "config", "set", "--stack", STACK, "--path", key, "96")
    events = [json.loads(line) for line in cli(session, "preview", "--json").stdout.splitlines() if line.strip()]
    replaced = {
        e["resourcePreEvent"]["metadata"]["urn"].rsplit("::", 1)[-1]
        for e in events
        if e.get("resourcePreEvent") and e["resourcePreEvent"]["metadata"]["op"] == "replace"
    }
    # The container, and its serving gate (the wait until the new one is healthy).
    assert replaced == {"h1-memcached", "h1-memcached-serving"}
    before = ids(session)
    cli(session, "reconfigure", "--service", "memcached", "--quiet")
    after = ids(session)
    assert before["h1/memcached"] != after["h1/memcached"]
    assert {k: v for k, v in before.items() if k != "h1/memcached"} == {
        k: v for k, v in after.items() if k != "h1/memcached"
    }
    assert "-m 96" in session["hosts"]["h1"].ssh("docker exec memcached cat /run_command").stdout


def test_an_unknown_service_is_a_usage_error(session):
    result = cli(session, "reconfigure", "--service", "memcache", check=False)
    assert result.returncode == 2
    assert "memcached" in result.stdout + result.stderr


def test_stop_then_deploy_starts_the_same_containers_again(session):
    before = ids(session)
    cli(session, "stop", "--yes")
    stopped = ids(session)
    assert {k: v.rsplit(":", 1)[0] for k, v in stopped.items()} == {k: v.rsplit(":", 1)[0] for k, v in before.items()}
    assert all(v.endswith(":exited") for v in stopped.values()), stopped
    assert cli(session, "check", check=False).returncode == 3
    deployed = cli(session, "deploy")
    assert "started 9 stopped containers" in deployed.stdout, deployed.stdout[-2000:]
    assert ids(session) == before  # the same containers, running again; the `up` changed nothing
    assert cli(session, "check").returncode == 0


def _images(session: dict[str, Any]) -> dict[str, str]:
    """host/container -> the tags of the image it runs (the program runs containers by image id)."""
    found = {}
    for name, host in session["hosts"].items():
        script = "for c in $(docker ps -aq); do docker inspect -f '{{.Name}} {{.Image}}' $c; done"
        for line in host.ssh(script).stdout.splitlines():
            container, image = line.split()
            tags = host.ssh(f"docker image inspect -f '{{{{join .RepoTags \" \"}}}}' {image}").stdout.split()
            found[f"{name}{container}"] = " ".join(sorted(tags))
    return found


def _rebuilt(repo: str, tag: str, new_tag: str) -> None:
    """`repo:new_tag` in the test bed's registry: `repo:tag` with one label more, so a new image id (as
    a rebuilt image would have), the same layers."""
    from testbed import registry

    manifest = registry.get_manifest(repo, tag)
    assert manifest is not None, f"{repo}:{tag} not in the registry"
    config = json.loads(registry.get_blob(repo, manifest["config"]["digest"]))
    config["config"].setdefault("Labels", {})["kolla_pulumi.e2e_rebuild"] = new_tag
    blob = json.dumps(config).encode()
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    registry.upload_blob(repo, digest, blob)
    manifest["config"] = {**manifest["config"], "digest": digest, "size": len(blob)}
    registry.put_manifest(repo, new_tag, json.dumps(manifest).encode())


def test_deploy_containers_moves_every_container_to_a_new_tag_without_writing_config_or_running_jobs(session):
    """Kolla's use of deploy-containers: new images under a new tag. Every container is replaced on
    them; no config writer and no job runs, so a preview afterwards lists exactly the jobs (which read
    the images) as pending, and `deploy` runs them."""
    images = _images(session)
    references = {ref for refs in images.values() for ref in refs.split()}
    tags = {ref.rsplit(":", 1)[1] for ref in references}
    assert len(tags) == 1, tags
    (tag,) = tags
    for reference in references:
        _rebuilt(reference.split("/", 1)[1].rsplit(":", 1)[0], tag, f"{tag}-rc1")
    key = "kolla-pulumi:globals.openstack_tag_suffix"
    run(session, "pulumi", "config", "set", "--stack", STACK, "--path", key, "--", "-rc1")
    before = ids(session)
    cli(session, "deploy-containers", "--quiet")
    after = ids(session)
    assert set(after) == set(before) and all(after[k] != before[k] for k in before), (before, after)
    assert all(refs.endswith(f":{tag}-rc1") for refs in _images(session).values()), _images(session)
    events = [json.loads(line) for line in cli(session, "preview", "--json").stdout.splitlines() if line.strip()]
    pending = {
        e["resourcePreEvent"]["metadata"]["urn"].rsplit("::", 1)[-1]
        for e in events
        if e.get("resourcePreEvent") and e["resourcePreEvent"]["metadata"]["op"] not in ("same", "read")
    }
    assert pending and not any(name.endswith(("-config", "-serving")) for name in pending), pending
    assert not any(name.rsplit("-", 1)[-1] in ("memcached", "keystone", "mariadb") for name in pending), pending
    cli(session, "deploy", "--quiet")
    assert ids(session) == after  # the jobs ran; no container was touched again
    assert cli(session, "check").returncode == 0


def test_prune_images_removes_an_orphaned_kolla_image_and_nothing_in_use(session):
    h1 = session["hosts"]["h1"]
    orphan = h1.ssh("docker commit cron").stdout.strip()  # untagged, and labelled kolla_version as cron's image
    in_use = set(h1.ssh("docker inspect -f '{{.Image}}' $(docker ps -aq)").stdout.split())
    assert cli(session, "prune-images", check=False).returncode == 4  # no terminal to confirm on, no --yes
    pruned = cli(session, "prune-images", "--yes")
    assert re.search(r"^h1: [1-9]\d* image layers removed", pruned.stdout, re.M), pruned.stdout
    assert h1.ssh(f"docker image inspect {orphan}", check=False).returncode != 0
    left = set(h1.ssh("docker images -q --no-trunc").stdout.split())
    assert in_use <= left, in_use - left


def test_rabbitmq_reset_state_empties_rabbitmq_and_kollas_definitions_come_back(session):
    h1 = session["hosts"]["h1"]
    h1.ssh("docker exec rabbitmq rabbitmqctl add_vhost kp-scratch")
    cli(session, "rabbitmq-reset-state", "--yes")
    vhosts = h1.ssh("docker exec rabbitmq rabbitmqctl list_vhosts --quiet --no-table-headers").stdout.split()
    users = h1.ssh("docker exec rabbitmq rabbitmqctl list_users --quiet --no-table-headers").stdout
    assert "kp-scratch" not in vhosts and "/" in vhosts, vhosts
    assert re.search(r"^openstack\s", users, re.M), users
    assert cli(session, "check").returncode == 0


def test_config_mistakes_are_one_clear_message_from_the_engine_and_the_cli(session):
    """Typed in a shell, `pulumi preview` runs the program under the real language host: the mistakes,
    all of them, are the engine's error message, never a Python traceback; `kolla-pulumi` exits 2."""
    keys = {"globals.keystone_public_listen_port": "eleven", "globals.docker_namespace": "Kolla"}
    for key, value in keys.items():
        run(session, "pulumi", "config", "set", "--stack", STACK, "--path", f"kolla-pulumi:{key}", value)
    try:
        shell = run(session, "pulumi", "preview", "--stack", STACK, "--non-interactive", check=False)
        verb = cli(session, "preview", check=False)
    finally:
        for key in keys:
            run(session, "pulumi", "config", "rm", "--stack", STACK, "--path", f"kolla-pulumi:{key}")
    assert shell.returncode != 0 and verb.returncode == 2, (shell.returncode, verb.returncode)
    for result in (shell, verb):
        output = result.stdout + result.stderr
        assert "invalid stack config (2 problems)" in output, output[-3000:]
        assert "globals.keystone_public_listen_port = 'eleven': expected a port number from 1 to 65535" in output
        assert "globals.docker_namespace = 'Kolla': expected lower-case" in output
        assert "Traceback" not in output and "unhandled exception" not in output, output[-3000:]


def test_nothing_secret_in_state_logs_output_or_containers(session):
    shown = json.loads(run(session, "pulumi", "config", "--stack", STACK, "--show-secrets", "--json").stdout)
    config = {key: auto.ConfigValue(value=item.get("value", ""), secret=item["secret"]) for key, item in shown.items()}
    # What the operator asked to see in plain text (`config get` of a password, --show-secrets) is no leak.
    asked = ("--show-secrets", "config get")
    captured = {k: v for k, v in session["captured"].items() if not any(a in k for a in asked)}
    problems = secret_scan.problems_of(
        config, session["state"], session["hosts"].values(), captured, session["started_at"]
    )
    assert not problems, problems


def test_destroy_needs_a_confirmation_then_leaves_the_hosts_clean(session):
    assert cli(session, "destroy", check=False).returncode == 4  # no terminal, no --yes
    cli(session, "destroy", "--yes", "--quiet")
    for host in session["hosts"].values():
        assert containers(host) == {}
        assert host.ssh("ls -A /etc/kolla").stdout.split() == []
