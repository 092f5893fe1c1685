"""`kolla-pulumi mariadb-recovery` (components/operate/mariadb_recovery.py): which node bootstraps, in
which order the others rejoin, and that no secret is ever on a command line. The real thing runs on
the test bed in tests/e2e/test_ha.py after every controller lost power."""

from __future__ import annotations

import pytest

from components.config.stack import resolve_stack_config
from components.deployment import plan_deployment
from components.offline_plan import _stack_config
from components.operate import mariadb_recovery as recovery
from components.operate.ssh import Completed
from components.render import NO_OVERRIDES


@pytest.fixture(scope="module")
def stack():
    raw, _notes = _stack_config("ha")
    config = resolve_stack_config(raw, NO_OVERRIDES)
    return config, plan_deployment(config)


def test_a_clean_shutdown_is_read_from_grastate():
    output = "grastate 15e3-uuid 4521\nrecovered 15e3-uuid:4400\n"
    assert recovery.parse_position("h2", output) == recovery.Position("h2", "15e3-uuid", 4521, "grastate.dat")


def test_a_crash_is_read_from_wsrep_recover():
    output = "grastate 15e3d333-f1df-11f1-9e3f-ae18b953d209 -1\nrecovered 15e3d333-f1df-11f1-9e3f-ae18b953d209:4521\n"
    position = recovery.parse_position("h1", output)
    assert (position.seqno, position.source) == (4521, "--wsrep-recover")


def test_nothing_readable_is_an_unknown_position():
    assert recovery.parse_position("h3", "").seqno == -1


def test_the_most_recent_node_bootstraps_the_first_on_a_tie():
    positions = [recovery.Position(h, "u", s, "grastate.dat") for h, s in (("h1", 10), ("h2", 12), ("h3", 12))]
    assert recovery.choose(positions).host == "h2"


def test_no_known_position_asks_for_the_host():
    with pytest.raises(recovery.RecoveryError, match="--host"):
        recovery.choose([recovery.Position("h1", "", -1, "unknown")])


class FakeHosts:
    """Answers position_script with a seqno per host; records every script run, in order."""

    def __init__(self, seqnos: dict[str, int]) -> None:
        self.seqnos = seqnos
        self.runs: list[tuple[str, str]] = []

    def __call__(self, host, script: str) -> Completed:
        self.runs.append((host.name, script))
        if "--wsrep-recover" in script:
            return Completed(0, f"grastate 15e3d333 -1\nrecovered 15e3d333:{self.seqnos[host.name]}\n", "")
        return Completed(0, "", "")


def test_recovery_bootstraps_the_most_recent_node_then_rejoins_the_others_one_at_a_time(stack):
    config, plan = stack
    hosts = FakeHosts({"h1": 7, "h2": 9, "h3": 8})
    chosen = recovery.recover(config, plan, runner=hosts, log=lambda _: None)
    assert chosen.host == "h2"
    steps = [(host, kind) for host, script in hosts.runs for kind in [_kind(script)]]
    assert steps == [
        ("h1", "position"),
        ("h2", "position"),
        ("h3", "position"),
        ("h2", "bootstrap"),
        ("h1", "rejoin"),
        ("h3", "rejoin"),
        ("h2", "hand over"),
    ]
    bootstrap = hosts.runs[3][1]
    assert "safe_to_bootstrap: 1" in bootstrap and "BOOTSTRAP_ARGS=--wsrep-new-cluster" in bootstrap
    assert "docker start mariadb" in hosts.runs[-1][1]  # its own container, never re-created


def test_the_root_password_is_only_on_stdin(stack):
    """Scripts travel on ssh's stdin; inside them the password is piped to mysql, never an argument."""
    config, plan = stack
    hosts = FakeHosts({"h1": 1, "h2": 1, "h3": 1})
    recovery.recover(config, plan, runner=hosts, log=lambda _: None)
    password = plan.host_contexts["h1"]["database_password"]
    for _host, script in hosts.runs:
        if password in script:
            # Only as the option file printf pipes into mysql's --defaults-extra-file=/dev/stdin.
            assert script.count(password) == script.count(f"password={password}")
            assert "until printf '%s\\n' '[client]" in script
            assert f"-p{password}" not in script and "--password" not in script


def test_an_unknown_host_is_refused(stack):
    config, plan = stack
    with pytest.raises(recovery.RecoveryError, match="not a mariadb host"):
        recovery.recover(config, plan, host="h4", runner=FakeHosts({}), log=lambda _: None)


def test_a_failing_step_says_where(stack):
    config, plan = stack

    def failing(host, script):
        return (
            Completed(1, "", "mariadb_bootstrap exited")
            if "wsrep-new-cluster" in script
            else FakeHosts({"h1": 3, "h2": 2, "h3": 1})(host, script)
        )

    with pytest.raises(recovery.RecoveryError, match="h1: bootstrapping failed: mariadb_bootstrap exited"):
        recovery.recover(config, plan, runner=failing, log=lambda _: None)


def _kind(script: str) -> str:
    if "--wsrep-recover" in script:
        return "position"
    if "--wsrep-new-cluster" in script:
        return "bootstrap"
    return "hand over" if "docker stop -t 60 mariadb_bootstrap" in script else "rejoin"
