"""Config directories changed by hand: what the host records, how the program reads it, what it declares.

The shell halves run here for real (sh, find, sha256sum) on temporary directories; the program half
runs under Pulumi's mocks, its hosts' answers given."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from components import config_drift, scripts
from components.config.inventory import Host
from tests.conftest import make_config
from tests.harness import RecordingMocks, run_program

FILES = {"nova.conf": "[DEFAULT]\ndebug = False\n", "config.json": '{"command": "nova-compute"}\n'}


def sh(script: str, stdin: str = "") -> str:
    done = subprocess.run(["sh", "-c", script], input=stdin, capture_output=True, text=True, check=True)
    return done.stdout


class Host_:
    """A config directory and its record, under tmp_path instead of /etc."""

    def __init__(self, root: Path) -> None:
        self.etc, self.written = root / "etc-kolla", root / "written"
        self.directory = self.etc / "nova_compute"
        self.record = self.written / "nova_compute"

    def write(self, repair: str = "", files: dict[str, str] = FILES) -> str:
        script = scripts.write_config_dir(str(self.directory), (), str(self.record), repair)
        return sh(script, scripts.config_dir_stdin(files)).strip()

    def read(self) -> config_drift.HostRecords:
        out = sh(scripts.read_written(str(self.etc), str(self.written)))
        return config_drift.parse("".join(f"h1 {line}\n" for line in out.splitlines()), ["h1"])["h1"]


@pytest.fixture
def host(tmp_path: Path) -> Host_:
    return Host_(tmp_path)


def test_a_written_directory_reads_back_as_written_and_keeps_no_repair(host: Host_) -> None:
    assert host.write() == "changed"
    found = host.read()
    assert found.reachable and found.drifted() == []
    assert found.repair_token("nova_compute") == ""
    assert host.write() == "unchanged"
    assert (host.directory / "nova.conf").read_text() == FILES["nova.conf"]


@pytest.mark.parametrize(
    "by_hand",
    [
        lambda d: (d / "nova.conf").write_text("[DEFAULT]\ndebug = True\n"),
        lambda d: os.chmod(d / "nova.conf", 0o644),
        lambda d: (d / "extra.conf").write_text("x\n"),
        lambda d: (d / "config.json").unlink(),
        lambda d: subprocess.run(["rm", "-rf", str(d)], check=True),
    ],
    ids=["edited", "chmod", "file added", "file removed", "directory removed"],
)
def test_a_change_by_hand_is_drift_and_a_write_with_its_token_restores_it_for_good(host: Host_, by_hand) -> None:
    host.write()
    by_hand(host.directory)
    found = host.read()
    assert found.drifted() == ["nova_compute"]
    token = found.repair_token("nova_compute")
    assert token and token.startswith("repair-")
    assert host.write(token) == "changed"
    assert (host.directory / "nova.conf").read_text() == FILES["nova.conf"]
    assert stat.S_IMODE((host.directory / "nova.conf").stat().st_mode) == 0o660
    assert sorted(p.name for p in host.directory.iterdir()) == sorted(FILES)
    # The next run reads the same token back: no further change.
    again = host.read()
    assert again.drifted() == [] and again.repair_token("nova_compute") == token


def test_the_same_change_twice_gets_a_new_token_each_time(host: Host_) -> None:
    host.write()
    subprocess.run(["rm", "-rf", str(host.directory)], check=True)
    first = host.read().repair_token("nova_compute")
    host.write(first or "")
    subprocess.run(["rm", "-rf", str(host.directory)], check=True)
    second = host.read().repair_token("nova_compute")
    assert first and second and first != second


def test_a_config_change_is_no_drift(host: Host_) -> None:
    host.write()
    host.write(files={**FILES, "nova.conf": "[DEFAULT]\ndebug = True\n"})
    assert host.read().drifted() == []


def test_remove_dir_takes_the_record_too(host: Host_) -> None:
    host.write()
    sh(scripts.remove_dir(str(host.directory), (), str(host.record)))
    assert not host.directory.exists() and not host.record.exists()
    assert host.read().written == {}


def test_an_unanswering_host_keeps_the_states_tokens() -> None:
    records = config_drift.parse(
        "h1 ok\nh2 unreachable ssh: connect to host 10.0.0.2 port 22: No route to host\n", ["h1", "h2", "h3"]
    )
    assert records["h1"].repair_token("nova_compute") == ""
    assert not records["h2"].reachable and "No route to host" in records["h2"].why
    assert records["h2"].repair_token("nova_compute") is None
    assert not records["h3"].reachable and records["h3"].why == "no answer"


def test_check_reads_the_records_after_its_health_lines_and_takes_none_of_those_for_one() -> None:
    """kolla-pulumi check runs the health script and scripts.read_written in one ssh: a health line has
    three fields, a record four; a container called `ok` does not make an unanswered read answered."""
    found = config_drift.parse_host(["keystone running healthy", "ok", "keystone aaaa bbbb -", "cron cccc cccc t1"])
    assert found.reachable and set(found.written) == {"keystone", "cron"}
    assert found.state("keystone") == config_drift.CHANGED and found.state("cron") == config_drift.AS_WRITTEN
    assert found.state("memcached") == config_drift.UNRECORDED
    assert found.repair_token("cron") == "t1"
    assert not config_drift.parse_host(["ok running healthy"]).reachable


def test_the_read_command_reads_every_host_in_parallel_and_names_the_one_that_fails(tmp_path: Path) -> None:
    """The real command line, with `ssh` replaced by a stand-in that runs the script here (for 10.0.0.1,
    saying a four-word warning on stderr as OpenSSH may) or fails as OpenSSH does (for 10.0.0.2)."""
    fake = tmp_path / "bin" / "ssh"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\ncase \"$*\" in *10.0.0.2*) echo 'ssh: connect to host 10.0.0.2 port 22: No route to host' >&2;"
        " exit 255;; esac\necho 'Warning: added host key' >&2\nexec sh -s\n"
    )
    fake.chmod(0o755)
    hosts = {
        name: Host(name, address, 22, "root", "k", "ssh-ed25519 AAAA", address, name)
        for name, address in (("h1", "10.0.0.1"), ("h2", "10.0.0.2"))
    }
    command = config_drift.read_command(hosts, {n: ("/nonexistent/id", "/nonexistent/known") for n in hosts})
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=env, check=True).stdout
    records = config_drift.parse(out, ["h1", "h2"])
    assert records["h1"].reachable and records["h1"].written == {}  # ssh's chatter on stderr is no record
    assert not records["h2"].reachable and "No route to host" in records["h2"].why


def test_the_read_command_reads_at_most_parallel_hosts_at_once_and_every_one(tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "ssh"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexec sh -s\n")
    fake.chmod(0o755)
    names = [f"c{i}" for i in range(2 * config_drift.PARALLEL + 5)]
    hosts = {
        n: Host(n, f"10.0.1.{i}", 22, "root", "k", "ssh-ed25519 AAAA", f"10.0.1.{i}", n) for i, n in enumerate(names)
    }
    command = config_drift.read_command(hosts, {n: ("/nonexistent/id", "/nonexistent/known") for n in hosts})
    assert command.count("\nwait\n") == 3  # after each PARALLEL, and at the end
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=env, check=True).stdout
    assert all(found.reachable for found in config_drift.parse(out, names).values())


def _drifted_answer(key: str) -> str:
    return f"h1 ok\nh1 {key} aaaa bbbb -\n"


def test_the_program_repairs_only_the_drifted_directory_and_its_container() -> None:
    baseline = run_program(make_config(hosts=2)).resources
    mocks = RecordingMocks(host_answers={"h1": _drifted_answer("keystone")})
    repaired = run_program(make_config(hosts=2), mocks=mocks).resources
    changed = sorted(
        name
        for name, declared in repaired.items()
        if declared.inputs != baseline[name].inputs and not name.endswith("-docker")
    )
    assert changed == ["h1-keystone", "h1-keystone-config"], changed
    token = next(e for e in repaired["h1-keystone"].inputs["envs"] if e.startswith(config_drift.TOKEN_ENV))
    assert token.split("=", 1)[1] in repaired["h1-keystone-config"].inputs["create"]
    assert mocks.commands_run and "# host h1" in mocks.commands_run[0]


def test_an_unanswering_host_declares_its_config_and_containers_as_the_state_has_them() -> None:
    mocks = RecordingMocks(host_answers={"h2": "h2 unreachable ssh: timed out\n"})
    resources = run_program(make_config(hosts=2), mocks=mocks).resources
    on_h2 = [
        r
        for name, r in resources.items()
        if name.startswith("h2-") and (name.endswith("-config") or r.type == "docker:index/container:Container")
    ]
    assert on_h2 and all(r.ignore_changes for r in on_h2)
    assert all(not r.ignore_changes for name, r in resources.items() if name.startswith("h1-"))
