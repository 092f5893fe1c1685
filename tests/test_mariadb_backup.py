"""Kolla's mariabackup (enable_mariabackup) and the `mariadb-backup` / `mariadb-restore` verbs
(components/operate/mariadb_backup.py): what the deploy writes and creates, which scripts run where and
in which order, and that no secret is on a command line. The real thing runs on the test bed in
tests/e2e/test_openstack_all_in_one.py (a dropped database restored from a full and an incremental)."""

from __future__ import annotations

import base64

import pytest

from components.config.errors import ConfigError
from components.config.stack import resolve_stack_config
from components.deployment import plan_deployment
from components.offline_plan import _stack_config
from components.operate import mariadb_backup as backups
from components.operate.ssh import Completed
from components.render import NO_OVERRIDES
from tests.harness import run_program


def _raw(name: str, **globals_: object) -> dict:
    raw, _notes = _stack_config(name)
    raw["globals"].update(globals_)
    return raw


@pytest.fixture(scope="module")
def ha():
    config = resolve_stack_config(_raw("ha"), NO_OVERRIDES)  # Pulumi.ha.yaml turns it on
    return config, plan_deployment(config)


def test_mariabackup_is_a_config_directory_on_the_backup_host_and_never_a_running_container(ha):
    config, plan = ha
    mariadb = next(s for s in plan.services if s.service.name == "mariadb")
    assert [(r.host, r.key) for r in mariadb.on_demand] == [("h1", "mariabackup")]
    assert "mariabackup" not in {r.key for r in mariadb.containers}
    (rendered,) = mariadb.on_demand
    password = config.passwords.values["mariadb_backup_database_password"]
    assert rendered.files["my.cnf"].split("\n") == [
        "[client]",
        "default-character-set = utf8",
        "user = backup",
        f"password = {password}",
        "host = 10.77.0.10",  # the VIP: haproxy's active node is the first mariadb host, the one backed up
        "port = 3306",
        "",
        "",
    ]
    assert '"command": "false"' in rendered.files["config.json"]
    assert {"mariadb:/var/lib/mysql", "mariadb_backup:/backup"} <= set(rendered.volumes)


def test_the_deploy_writes_its_directory_pulls_its_image_and_creates_the_backup_user():
    run = run_program(_raw("ha"))
    config = run.resources["h1-mariabackup-config"]
    assert "/etc/kolla/mariabackup" in config.script
    written = {
        name: base64.b64decode(data).decode()
        for name, _perm, data in (line.split("\t") for line in config.stdin.splitlines() if line)
    }
    assert set(written) == {"my.cnf", "config.json"} and "user = backup" in written["my.cnf"]
    assert not [n for n in run.containers() if "mariabackup" in n]
    assert not [n for n in run.resources if n.startswith(("h2-mariabackup", "h3-mariabackup"))]
    job = run.resources["h1-mariadb_backup_user"]
    params = job.stdin
    assert '"user": "backup"' in params and "RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR" in params
    assert '"mysql.mariadb_backup_history", "CREATE, ALTER, INSERT"' in params
    assert "stdin" in job.secret_inputs
    assert "h1-mariadb_monitor_user" in job.depends_on  # in the chain after the server and its users


def test_without_enable_mariabackup_nothing_of_it_is_deployed():
    run = run_program(_raw("ha", enable_mariabackup=False))
    assert not [n for n in run.resources if "mariabackup" in n or "mariadb_backup_user" in n]


def test_with_proxysql_it_is_refused_naming_both_keys():
    raw = _raw("ha", enable_proxysql=True)  # Pulumi.ha.yaml turns mariabackup on
    with pytest.raises(ConfigError) as caught:
        resolve_stack_config(raw, NO_OVERRIDES)
    message = str(caught.value)
    assert "globals.enable_mariabackup" in message and "enable_proxysql" in message


class FakeHosts:
    """Records every script run (host, script); a failure where `fail` is found in the script."""

    def __init__(self, fail: str = "") -> None:
        self.fail = fail
        self.runs: list[tuple[str, str]] = []

    def __call__(self, host, script: str) -> Completed:
        self.runs.append((host.name, script))
        if self.fail and self.fail in script:
            return Completed(1, "", "mbstream: corrupt stream")
        if "--wsrep-recover" in script:
            return Completed(0, "grastate 0000 -1\nrecovered 15e3d333:40\n", "")
        if "kolla_mariadb_backup.sh" in script:
            return Completed(0, "backup: 4000 ./full-07-12-2026-1/mysqlbackup.qp.xbc.xbs.gz\n", "")
        return Completed(0, "ok\n", "")


def test_a_backup_runs_kollas_script_in_a_one_shot_container_on_the_backup_host(ha):
    config, plan = ha
    hosts = FakeHosts()
    listed = backups.backup(config, plan, "incremental", runner=hosts, log=lambda _: None)
    assert listed == ["4000 ./full-07-12-2026-1/mysqlbackup.qp.xbc.xbs.gz"]
    ((host, script),) = hosts.runs
    assert host == "h1"
    assert "docker run --name mariabackup --network host --restart no --rm" in script
    assert "-e BACKUP_TYPE=incremental" in script
    assert "sudo -E kolla_set_configs && /usr/local/bin/kolla_mariadb_backup.sh" in script
    assert "-v /etc/kolla/mariabackup/:/var/lib/kolla/config_files/:ro" in script
    assert "docker inspect -f '{{.Config.Image}}' mariadb" in script  # the running server's image
    assert config.passwords.values["mariadb_backup_database_password"] not in script


def test_a_stack_without_mariabackup_is_told_what_to_set():
    raw = _raw("ha", enable_mariabackup=False)
    config = resolve_stack_config(raw, NO_OVERRIDES)
    with pytest.raises(backups.BackupError, match=r"set globals\.enable_mariabackup to true"):
        backups.backup(config, plan_deployment(config), runner=FakeHosts(), log=lambda _: None)


def test_an_unknown_backup_type_is_refused(ha):
    with pytest.raises(backups.BackupError, match="expected one of full, incremental"):
        backups.backup(*ha, "differential", runner=FakeHosts(), log=lambda _: None)


def test_a_restore_prepares_first_stops_every_node_then_starts_the_cluster_from_the_backup_host(ha):
    config, plan = ha
    hosts = FakeHosts()
    chosen = backups.restore(config, plan, runner=hosts, log=lambda _: None)
    assert chosen.host == "h1"
    steps = [(host, _kind(script)) for host, script in hosts.runs]
    assert steps[0] == ("h1", "prepare")
    assert sorted(steps[1:3]) == [("h2", "stop, forget state"), ("h3", "stop, forget state")]
    assert steps[3:] == [
        ("h1", "copy back"),
        ("h1", "position"),  # only the backup host's: the others rejoin by a full state transfer
        ("h1", "bootstrap"),
        ("h2", "rejoin"),
        ("h3", "rejoin"),
        ("h1", "hand over"),
    ]
    prepare, copy_back = hosts.runs[0][1], hosts.runs[3][1]
    assert "--incremental-dir restore/incr" in prepare and "SKIP_INCREMENTAL=1" not in prepare
    # The data it replaces is kept in the backup volume first.
    assert copy_back.index("cp -a /var/lib/mysql/.") < copy_back.index("find /var/lib/mysql -mindepth 1 -delete")
    assert "safe_to_bootstrap: 1" in copy_back


def test_a_full_only_restore_skips_the_incrementals(ha):
    hosts = FakeHosts()
    backups.restore(*ha, incremental=False, runner=hosts, log=lambda _: None)
    assert "-e SKIP_INCREMENTAL=1" in hosts.runs[0][1]


def test_a_failed_prepare_changes_nothing(ha):
    hosts = FakeHosts(fail="mbstream -x -C restore/full")
    with pytest.raises(backups.BackupError, match="h1: preparing the backup failed: mbstream: corrupt stream"):
        backups.restore(*ha, runner=hosts, log=lambda _: None)
    assert [host for host, _ in hosts.runs] == ["h1"]  # no node stopped


def _kind(script: str) -> str:
    if "mariabackup --prepare" in script:
        return "prepare"
    if "grastate.dat" in script and "gvwstate.dat" in script:
        return "stop, forget state"
    if "--copy-back" in script:
        return "copy back"
    if "--wsrep-recover" in script:
        return "position"
    if "--wsrep-new-cluster" in script:
        return "bootstrap"
    return "hand over" if "docker stop -t 60 mariadb_bootstrap" in script else "rejoin"
