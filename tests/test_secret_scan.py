"""The secret scan's mechanism on synthetic inputs: what it looks for, how it reports, where it reads."""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import subprocess
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.secret_scan import (
    INSPECT_ALL,
    SECRET_SIG_KEY,
    SECRET_SIG_VALUE,
    container_env_sources,
    count_ciphertexts,
    current_checkpoints,
    encrypted_logs,
    engine_log_sources,
    find_leaks,
    read_text,
    scan_deployment,
    secret_values,
    stack_passwords,
    state_sources,
)

DB = "Vq3kR8sLm2ZpX7tY1wNc4bHd6fJg9aQe0uTiOyPs"
RABBIT = "rabbitSecret/with&odd=chars 42"
PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIJKAIBAAKCAgEAxq1Lw0Z9uYp3T5fGhJkLmNoPqRsTuVwXyZaBcDeFgHiJkLm\n"
    "NoPqRsTuVwXyZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN\n"
    "-----END RSA PRIVATE KEY-----\n"
)
PUBLIC_KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAACAQDGrUvDRn25in kolla"
PASSWORDS: dict[str, Any] = {
    "database_password": DB,
    "rabbitmq_password": RABBIT,
    "keystone_admin_password": "admin",  # too short to mean anything
    "horizon_secret_key": "password",  # too common
    "ceph_rgw_keystone_password": None,  # a blank key of passwords.yml
    "nova_ssh_key": {"private_key": PRIVATE_KEY, "public_key": PUBLIC_KEY},
}
CIPHERTEXT = {SECRET_SIG_KEY: SECRET_SIG_VALUE, "ciphertext": "v1:c2FsdA==:ZW5jcnlwdGVk"}


def checkpoint(*outputs: dict[str, Any]) -> str:
    """A file-backend checkpoint with one resource per `outputs`."""
    resources = [
        {"urn": f"urn:pulumi:dev::kolla-pulumi::command:remote:Command::r{i}", "outputs": out}
        for i, out in enumerate(outputs)
    ]
    return json.dumps({"version": 3, "checkpoint": {"latest": {"resources": resources}}}, indent=4)


def assert_no_secret(text: str) -> None:
    for form in secret_values(PASSWORDS):
        assert form not in text


# --- what is looked for -----------------------------------------------------------------------------


def test_secret_values_holds_each_value_and_its_encodings():
    values = secret_values(PASSWORDS)
    assert values[DB] == "database_password"
    assert values[base64.b64encode(DB.encode()).decode()] == "database_password"
    assert values[urllib.parse.quote(RABBIT, safe="")] == "rabbitmq_password"
    assert values[json.dumps(PRIVATE_KEY)[1:-1]] == "nova_ssh_key.private_key"
    assert values[PRIVATE_KEY] == "nova_ssh_key.private_key"
    # Go's default JSON escaping of & differs from Python's.
    assert values[RABBIT.replace("&", "\\u0026")] == "rabbitmq_password"


def test_secret_values_leaves_out_short_common_blank_and_public_values():
    keys = set(secret_values(PASSWORDS).values())
    assert keys == {"database_password", "rabbitmq_password", "nova_ssh_key.private_key"}
    assert PUBLIC_KEY not in secret_values(PASSWORDS)
    assert "admin" not in secret_values(PASSWORDS)
    # Eight characters are enough.
    assert secret_values({"k": "x1y2z3w4"}) != {}


def test_a_value_shared_by_two_keys_names_both():
    assert secret_values({"b_password": DB, "a_password": DB})[DB] == "a_password|b_password"


# --- how leaks are found and reported ---------------------------------------------------------------


def test_state_with_ciphertext_and_one_leaked_plaintext():
    state = checkpoint({"password": CIPHERTEXT}, {"stdout": f"connected with {DB} ok"}, {"other": "nothing"})
    leaks = find_leaks({"state": state}, secret_values(PASSWORDS))
    assert [(leak.source, leak.key) for leak in leaks] == [("state", "database_password")]
    assert "connected with <redacted:database_password> ok" in leaks[0].context
    assert state[leaks[0].offset :].startswith(DB)
    assert count_ciphertexts(state) == 1


def test_context_is_the_text_either_side_with_the_secret_redacted():
    text = "0123456789abcdefghijKLMNOPQRSTUVWXYZ" + DB + "!after-the-secret-and-more"
    (leak,) = find_leaks({"s": text}, secret_values(PASSWORDS))
    assert leak.context == "ghijKLMNOPQRSTUVWXYZ<redacted:database_password>!after-the-secret-an"


def test_base64_leaks_are_found_alone_and_inside_a_longer_encoded_text():
    values = secret_values(PASSWORDS)
    alone = base64.b64encode(DB.encode()).decode()
    for prefix in ("", "u:", "us:", "usr:"):  # every byte alignment of the secret in the encoded text
        basic = base64.b64encode(f"{prefix}{DB}@host".encode()).decode()
        leaks = find_leaks({"auth": f"Authorization: Basic {basic}"}, values)
        assert [leak.key for leak in leaks] == ["database_password"], prefix
    # The full base64 and its aligned core match the same place: one leak, not two.
    assert len(find_leaks({"s": f"x {alone} y"}, values)) == 1


def test_url_quoted_leak_is_found():
    url = f"amqp://openstack:{urllib.parse.quote(RABBIT, safe='')}@10.77.0.11:5672//"
    leaks = find_leaks({"conf": url}, secret_values(PASSWORDS))
    assert [leak.key for leak in leaks] == ["rabbitmq_password"]
    assert "amqp://openstack:<redacted:rabbitmq_password>@10.77.0.11:5672" in leaks[0].context


def test_private_key_is_found_json_escaped_and_reindented_but_not_the_public_key():
    values = secret_values(PASSWORDS)
    state = json.dumps({"outputs": {"key": PRIVATE_KEY, "pub": PUBLIC_KEY}})
    assert [leak.key for leak in find_leaks({"state": state}, values)] == ["nova_ssh_key.private_key"]
    yaml_text = "ssh:\n  key: |\n" + "".join(f"    {line}\r\n" for line in PRIVATE_KEY.splitlines())
    leaks = find_leaks({"yaml": yaml_text}, values)
    assert {leak.key for leak in leaks} == {"nova_ssh_key.private_key"} and len(leaks) == 2
    assert find_leaks({"pub": f"authorized_keys: {PUBLIC_KEY}"}, values) == []
    assert find_leaks({"short": "password=admin password=password"}, values) == []


def test_report_never_holds_a_secret_even_one_next_to_another():
    text = f"DB={DB};RABBIT={RABBIT};B64={base64.b64encode(DB.encode()).decode()}\n{PRIVATE_KEY}"
    leaks = find_leaks({"env": text}, secret_values(PASSWORDS))
    assert {leak.key for leak in leaks} == {"database_password", "rabbitmq_password", "nova_ssh_key.private_key"}
    rabbit = next(leak for leak in leaks if leak.key == "rabbitmq_password")
    assert "<redacted:database_password>;RABBIT=<redacted:rabbitmq_password>" in rabbit.context
    for leak in leaks:
        assert_no_secret(str(leak) + repr(leak) + leak.context)
    for line in PRIVATE_KEY.splitlines()[1:-1]:
        assert all(line not in leak.context for leak in leaks)


def test_leaks_are_sorted_and_do_not_depend_on_input_order():
    values = secret_values(PASSWORDS)
    sources = {"b": f"{RABBIT} {DB}", "a": f"{DB} x {DB}", "c": "clean"}
    leaks = find_leaks(sources, values)
    assert leaks == sorted(leaks)
    assert leaks == find_leaks(dict(reversed(sources.items())), dict(reversed(values.items())))
    assert [(leak.source, leak.key, leak.offset) for leak in leaks] == [
        ("a", "database_password", 0),
        ("a", "database_password", len(DB) + 3),
        ("b", "database_password", len(RABBIT) + 1),
        ("b", "rabbitmq_password", 0),
    ]
    with pytest.raises(AttributeError):
        leaks[0].key = "x"  # type: ignore[misc]


def test_count_ciphertexts_counts_only_encrypted_secrets():
    plaintext_secret = {SECRET_SIG_KEY: SECRET_SIG_VALUE, "plaintext": json.dumps(DB)}
    state = checkpoint({"a": CIPHERTEXT, "b": [CIPHERTEXT, {"c": CIPHERTEXT}]}, {"d": plaintext_secret})
    assert count_ciphertexts(state) == 3
    assert count_ciphertexts(checkpoint({"a": "ciphertext"})) == 0
    assert count_ciphertexts("not json {") == 0


# --- where it reads ---------------------------------------------------------------------------------


def backend(tmp_path: Path) -> Path:
    """A file backend as the engine lays it out (pkg/backend/diy): live checkpoint, its .bak, history
    and backups, tags and a lock."""
    root = tmp_path / "backend"
    stacks = root / ".pulumi/stacks/kolla-pulumi"
    history = root / ".pulumi/history/kolla-pulumi/dev"
    backups = root / ".pulumi/backups/kolla-pulumi/dev"
    locks = root / ".pulumi/locks/organization/kolla-pulumi/dev"
    for directory in (stacks, history, backups, locks):
        directory.mkdir(parents=True)
    (stacks / "dev.json").write_text(checkpoint({"password": CIPHERTEXT}))
    (stacks / "dev.json.bak").write_text(checkpoint({"password": "clean"}))
    (stacks / "dev.pulumi-tags").write_text('{"version": 1, "tags": {}}')
    (history / "dev-1700000000000000000.history.json").write_text('{"kind": "update"}')
    (history / "dev-1700000000000000000.checkpoint.json.gz").write_bytes(
        gzip.compress(checkpoint({"stdout": f"old run printed {DB}"}).encode())
    )
    (backups / "dev.1700000000000000000.json").write_text(checkpoint({"x": CIPHERTEXT}))
    (locks / "0123.json").write_text('{"pid": 1}')
    (root / "unrelated.json").write_text(f"outside .pulumi: {DB}")
    return root


def test_state_sources_reads_every_file_of_the_backend_and_decompresses_gzip(tmp_path):
    sources = state_sources(backend(tmp_path))
    assert sorted(sources) == [
        "state:.pulumi/backups/kolla-pulumi/dev/dev.1700000000000000000.json",
        "state:.pulumi/history/kolla-pulumi/dev/dev-1700000000000000000.checkpoint.json.gz",
        "state:.pulumi/history/kolla-pulumi/dev/dev-1700000000000000000.history.json",
        "state:.pulumi/locks/organization/kolla-pulumi/dev/0123.json",
        "state:.pulumi/stacks/kolla-pulumi/dev.json",
        "state:.pulumi/stacks/kolla-pulumi/dev.json.bak",
        "state:.pulumi/stacks/kolla-pulumi/dev.pulumi-tags",
    ]
    leaks = find_leaks(sources, secret_values(PASSWORDS))
    assert [leak.source for leak in leaks] == [
        "state:.pulumi/history/kolla-pulumi/dev/dev-1700000000000000000.checkpoint.json.gz"
    ]
    assert list(current_checkpoints(sources)) == ["state:.pulumi/stacks/kolla-pulumi/dev.json"]
    assert state_sources(tmp_path / "nowhere") == {}


def test_a_gzip_backup_of_a_gzip_checkpoint_is_read_by_content(tmp_path):
    path = tmp_path / "dev.json.gz.bak"
    path.write_bytes(gzip.compress(b'{"leak": "' + DB.encode() + b'"}'))
    assert DB in read_text(path)


def test_a_truncated_gzip_log_is_read_as_far_as_it_goes(tmp_path):
    path = tmp_path / "pulumi-20260101T000000-1-config_set.log"
    whole = gzip.compress(("line\n" * 2000 + DB).encode())
    path.write_bytes(whole[: len(whole) - 12])  # no trailer yet: the CLI is still writing
    assert read_text(path).startswith("line\nline\n")


@pytest.mark.skipif(not shutil.which("zstd"), reason="no zstd command")
def test_a_zstd_checkpoint_is_read(tmp_path):
    path = tmp_path / "dev.json.zst"
    path.write_bytes(subprocess.run(["zstd", "-q", "-c"], input=DB.encode(), capture_output=True, check=True).stdout)
    assert read_text(path) == DB


def logs(tmp_path: Path) -> tuple[Path, Path]:
    home_logs, tmp = tmp_path / "home/logs", tmp_path / "tmp"
    home_logs.mkdir(parents=True)
    tmp.mkdir()
    (home_logs / "pulumi-20260101T000000-11-config_set.log").write_bytes(gzip.compress(f"args {DB}".encode()))
    (home_logs / "dev-20260101T000001-upd.log").write_bytes(b"PLOG\x01\x00\x10" + os.urandom(64))
    (tmp / "pulumi.host.root.log.INFO.20260101-000000.12").write_text(f"verbose {RABBIT}")
    (tmp / "pulumi-resource-docker.host.root.log.INFO.20260101-000000.13").write_text("plugin log")
    (tmp / "other-program.txt").write_text(DB)
    return home_logs, tmp


def test_engine_log_sources_reads_gzip_and_glog_files_and_captured_output(tmp_path):
    home_logs, tmp = logs(tmp_path)
    sources = engine_log_sources([home_logs, tmp], {"up:stderr": f"oops {DB}"})
    assert sorted(sources) == [
        f"log:{home_logs}/pulumi-20260101T000000-11-config_set.log",
        f"log:{tmp}/pulumi-resource-docker.host.root.log.INFO.20260101-000000.13",
        f"log:{tmp}/pulumi.host.root.log.INFO.20260101-000000.12",
        "output:up:stderr",
    ]
    keys = {(leak.source.split("/")[-1], leak.key) for leak in find_leaks(sources, secret_values(PASSWORDS))}
    assert keys == {
        ("pulumi-20260101T000000-11-config_set.log", "database_password"),
        ("pulumi.host.root.log.INFO.20260101-000000.12", "rabbitmq_password"),
        ("output:up:stderr", "database_password"),
    }
    assert encrypted_logs([home_logs, tmp]) == [str(home_logs / "dev-20260101T000001-upd.log")]


def test_engine_log_sources_since_leaves_out_older_files(tmp_path):
    _, tmp = logs(tmp_path)
    old = tmp / "pulumi.host.root.log.INFO.20200101-000000.1"
    old.write_text(DB)
    os.utime(old, (1_000_000_000, 1_000_000_000))
    assert f"log:{old}" in engine_log_sources([tmp])
    assert f"log:{old}" not in engine_log_sources([tmp], since=1_500_000_000)
    assert engine_log_sources([tmp_path / "missing"]) == {}


@dataclass
class FakeHost:
    name: str
    stdout: str
    returncode: int = 0
    stderr: str = ""
    calls: list[str] = field(default_factory=list)

    def ssh(
        self, command: str, *, check: bool = True, input: str | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        self.calls.append(command)
        return subprocess.CompletedProcess(command, self.returncode, self.stdout, self.stderr)


def inspected(name: str, env: list[str], cmd: list[str] | None = None) -> dict[str, Any]:
    config = {"Env": env, "Cmd": cmd, "Entrypoint": ["dumb-init", "--single-child", "--"], "Labels": {}}
    return {"Id": "f" * 64, "Name": f"/{name}", "Path": "dumb-init", "Args": ["--", "kolla_start"], "Config": config}


def test_container_env_sources_one_ssh_per_host_and_every_container(tmp_path):
    # Two arrays: xargs ran docker inspect twice.
    first = json.dumps([inspected("mariadb", ["KOLLA_CONFIG_STRATEGY=COPY_ALWAYS", f"DB_ROOT_PASSWORD={DB}"])])
    keystone = inspected("keystone", ["PATH=/usr/bin"], ["kolla_start", f"--password={RABBIT}"])
    keystone["Config"]["Labels"] = {"kolla_version": "2025.1"}
    second = json.dumps([keystone], indent=2)
    h1 = FakeHost("h1", f"{first}\n{second}\n")
    h2 = FakeHost("h2", "")
    sources = container_env_sources([h1, h2])
    assert h1.calls == [INSPECT_ALL] and h2.calls == [INSPECT_ALL]
    assert sorted(sources) == ["h1:keystone:env", "h1:mariadb:env"]
    assert "Env: KOLLA_CONFIG_STRATEGY=COPY_ALWAYS\n" in sources["h1:mariadb:env"]
    assert "Entrypoint: dumb-init\n" in sources["h1:keystone:env"]
    assert "Args: kolla_start\n" in sources["h1:keystone:env"]
    assert "Label: kolla_version=2025.1\n" in sources["h1:keystone:env"]
    leaks = find_leaks(sources, secret_values(PASSWORDS))
    assert [(leak.source, leak.key) for leak in leaks] == [
        ("h1:keystone:env", "rabbitmq_password"),
        ("h1:mariadb:env", "database_password"),
    ]
    assert leaks[1].context == "v: DB_ROOT_PASSWORD=<redacted:database_password>\\nEntrypoint: dumb-in"


def test_container_env_sources_fails_when_docker_inspect_gives_nothing():
    with pytest.raises(RuntimeError, match=r"h1: .*Cannot connect"):
        container_env_sources([FakeHost("h1", "", 1, "Cannot connect to the Docker daemon")])
    # A container gone between ps and inspect fails only its own inspection.
    partial = FakeHost("h1", json.dumps([inspected("cron", ["A=b"])]) + "\n[]\n", 1, "No such object: abc")
    assert list(container_env_sources([partial])) == ["h1:cron:env"]


# --- the whole scan ---------------------------------------------------------------------------------


@dataclass
class FakeConfigValue:
    value: str
    secret: bool = False


def test_stack_passwords_reads_the_secret_object_and_other_secrets():
    config = {
        "kolla-pulumi:passwords": FakeConfigValue(json.dumps(PASSWORDS), secret=True),
        "kolla-pulumi:ssh": FakeConfigValue(json.dumps({"private_key": "k" * 20}), secret=True),
        "kolla-pulumi:token": FakeConfigValue("t" * 20, secret=True),
        "kolla-pulumi:kolla_base_distro": FakeConfigValue("ubuntu"),
    }
    passwords = stack_passwords(config)
    assert passwords["database_password"] == DB
    assert passwords["kolla-pulumi:ssh"] == {"private_key": "k" * 20}
    assert passwords["kolla-pulumi:token"] == "t" * 20
    assert "kolla-pulumi:kolla_base_distro" not in passwords


def test_scan_deployment_finds_leaks_of_every_kind_and_sums_what_it_read(tmp_path):
    home_logs, tmp = logs(tmp_path)
    host = FakeHost("h1", json.dumps([inspected("mariadb", [f"DB_ROOT_PASSWORD={DB}"])]))
    report = scan_deployment(
        PASSWORDS, backend(tmp_path), [host], log_dirs=[home_logs, tmp], captured={"up:stdout": "fine"}
    )
    assert {leak.source.split(":")[0] for leak in report.leaks} == {"state", "log", "h1"}
    assert report.scanned["state"].sources == 7 and report.scanned["state"].bytes > 0
    assert report.scanned["logs"].sources == 4
    assert report.scanned["containers"].sources == 1
    assert report.ciphertexts == 1
    assert report.skipped == [str(home_logs / "dev-20260101T000001-upd.log")]
    assert len(report.problems()) == len(report.leaks)
    assert_no_secret("\n".join(report.problems()))


def test_a_clean_deployment_passes_and_an_empty_scan_does_not(tmp_path):
    root = tmp_path / "backend"
    (root / ".pulumi/stacks/kolla-pulumi").mkdir(parents=True)
    (root / ".pulumi/stacks/kolla-pulumi/dev.json").write_text(checkpoint({"password": CIPHERTEXT}))
    host = FakeHost("h1", json.dumps([inspected("cron", ["A=b"])]))
    clean = scan_deployment(PASSWORDS, root, [host], captured={"up:stdout": "Resources: 12 created"})
    assert clean.leaks == [] and clean.problems() == []

    empty = scan_deployment({}, tmp_path / "none", [FakeHost("h1", "")])
    assert empty.problems() == [
        "no secret worth scanning for",
        "nothing scanned in state",
        "nothing scanned in logs",
        "nothing scanned in containers",
        "no secret in encrypted form in the state",
    ]
