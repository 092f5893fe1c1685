"""The kolla-pulumi CLI over a fake Stack: which Pulumi operation each verb runs with which targets and
options, argument errors and exit codes, confirmations, post-deploy file modes, promote's diff,
prechecks' verdicts, JSON output. No engine: `components.cli.open_stack` returns the fakes."""

from __future__ import annotations

import copy
import io
import json
import os
import re
import stat
import sys
import types
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pulumi import automation as auto
from pulumi.automation.events import (
    DiagnosticEvent,
    EngineEvent,
    OpType,
    ResourcePreEvent,
    ResOutputsEvent,
    StepEventMetadata,
    StepEventStateMetadata,
    SummaryEvent,
)

from components import cli
from components.operate import prechecks, stopping, targets
from components.operate.ssh import Completed
from components.operate.verbs import OperateError
from tests.conftest import ALL_IN_ONE_CONTAINER_NAMES, make_config

PREFIX = "urn:pulumi:dev::kolla-pulumi::"
DEP = f"{PREFIX}kolla:infra:Deployment::kolla"
HOST_H1 = f"{PREFIX}kolla:infra:Deployment$kolla:infra:Host::h1"
SVC = "kolla:infra:Deployment$kolla:openstack:Service"
KEYSTONE = f"{PREFIX}{SVC}::keystone"
MARIADB = f"{PREFIX}{SVC}::mariadb"
KEYSTONE_CHILDREN = [
    f"{PREFIX}{SVC}$command:remote:Command::h1-keystone-config",
    f"{PREFIX}{SVC}$command:remote:Command::h1-bootstrap_keystone",
    f"{PREFIX}{SVC}$docker:index/container:Container::h1-keystone",
]
MARIADB_CHILD = f"{PREFIX}{SVC}$docker:index/container:Container::h1-mariadb"


def engine_glob_match(glob: str, urn: str) -> bool:
    """The engine's UrnTargets glob (pkg/resource/deploy/deployment.go, v3.274.1): `**` -> `.*`,
    `*` -> `[^:]*`, the rest literal, anchored."""
    import re

    segments = ["[^:]*".join(re.escape(p) for p in part.split("*")) for part in glob.split("**")]
    return re.fullmatch(".*".join(segments), urn) is not None


def targeted(target_list: list[str], urn: str) -> bool:
    return any(engine_glob_match(t, urn) if "*" in t else t == urn for t in target_list)


def state_resources() -> list[dict[str, Any]]:
    """A deployed all-in-one's state, trimmed: components, a bootstrap command, images, volumes,
    keystone's and mariadb's children."""
    image = "docker:index/remoteImage:RemoteImage"
    return [
        {"urn": f"{PREFIX}pulumi:pulumi:Stack::kolla-pulumi-dev", "type": "pulumi:pulumi:Stack"},
        {"urn": DEP, "type": "kolla:infra:Deployment"},
        {"urn": HOST_H1, "type": "kolla:infra:Host", "parent": DEP},
        {
            "urn": f"{PREFIX}kolla:infra:Deployment$kolla:infra:Host$command:remote:Command::h1-bootstrap-docker",
            "type": "command:remote:Command",
            "parent": HOST_H1,
        },
        *(
            {
                "urn": f"{PREFIX}kolla:infra:Deployment$kolla:infra:Host${image}::h1-{name}:2025.1-debian-bookworm",
                "type": image,
                "parent": HOST_H1,
                "inputs": {"name": f"10.77.0.1:5000/openstack.kolla/{name}:2025.1-debian-bookworm"},
            }
            for name in ("keystone", "mariadb-server")
        ),
        *(
            {
                "urn": f"{PREFIX}kolla:infra:Deployment$kolla:infra:Host$docker:index/volume:Volume::h1-volume-{v}",
                "type": "docker:index/volume:Volume",
                "parent": HOST_H1,
                "inputs": {"name": v},
            }
            for v in ("mariadb", "kolla_logs")
        ),
        {"urn": KEYSTONE, "type": "kolla:openstack:Service", "parent": DEP},
        {"urn": MARIADB, "type": "kolla:openstack:Service", "parent": DEP},
        *({"urn": u, "type": u.split("::")[2].rsplit("$", 1)[-1], "parent": KEYSTONE} for u in KEYSTONE_CHILDREN),
        {"urn": MARIADB_CHILD, "type": "docker:index/container:Container", "parent": MARIADB},
    ]


def step_event(op: str, urn: str, type_: str, parent: str = "", outputs: bool = False) -> EngineEvent:
    state = StepEventStateMetadata(type=type_, urn=urn, id="", parent=parent, provider="")
    meta = StepEventMetadata(op=OpType(op), urn=urn, type=type_, provider="", new=state)
    if outputs:
        return EngineEvent(sequence=0, timestamp=0, res_outputs_event=ResOutputsEvent(meta))
    return EngineEvent(sequence=0, timestamp=0, resource_pre_event=ResourcePreEvent(meta))


UP_EVENTS = [
    step_event("create", KEYSTONE_CHILDREN[2], "docker:index/container:Container", KEYSTONE),
    step_event("create", KEYSTONE_CHILDREN[2], "docker:index/container:Container", KEYSTONE, outputs=True),
    EngineEvent(sequence=0, timestamp=0, summary_event=SummaryEvent(False, 1, {OpType.CREATE: 1}, {})),
]


def _set_path(tree: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = value


class FakeStack:
    """Records every call; holds config as objects and emits given events."""

    def __init__(self, name: str = "dev", config: dict[str, Any] | None = None, **extra: Any) -> None:
        self.name = name
        self.values: dict[str, Any] = copy.deepcopy(config) if config is not None else make_config()
        self.other: dict[str, auto.ConfigValue] = extra.get("other", {})
        self.state = extra.get("state", state_resources())
        self.output_values: dict[str, auto.OutputValue] = extra.get("outputs", {})
        self.preview_events: list[EngineEvent] = extra.get("preview_events", [])
        self.up_events: list[EngineEvent] = extra.get("up_events", UP_EVENTS)
        self.error: Exception | None = extra.get("error")
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _run(self, op: str, kwargs: dict[str, Any], events: list[EngineEvent]) -> None:
        self.calls.append((op, kwargs))
        if self.error is not None:
            raise self.error
        for event in events:
            if kwargs.get("on_event"):
                kwargs["on_event"](event)

    def up(self, **kwargs: Any) -> Any:
        self._run("up", kwargs, self.up_events)
        return SimpleNamespace(summary=SimpleNamespace(resource_changes={"create": 1, "same": 40}))

    def preview(self, **kwargs: Any) -> Any:
        self._run("preview", kwargs, self.preview_events)
        return SimpleNamespace(change_summary={OpType.SAME: 41})

    def destroy(self, **kwargs: Any) -> Any:
        self._run("destroy", kwargs, [])
        return SimpleNamespace(summary=SimpleNamespace(resource_changes={"delete": 41}))

    def export_stack(self) -> Any:
        self.calls.append(("export", {}))
        return SimpleNamespace(deployment={"resources": self.state})

    def outputs(self) -> dict[str, auto.OutputValue]:
        return self.output_values

    def get_all_config(self) -> dict[str, auto.ConfigValue]:
        config = {
            f"kolla-pulumi:{key}": auto.ConfigValue(json.dumps(value), secret=key == "passwords")
            for key, value in self.values.items()
        }
        return {**config, **self.other}

    def set_config(self, key: str, value: auto.ConfigValue, *, path: bool = False) -> None:
        self.calls.append(("set_config", {"key": key, "secret": value.secret}))
        _set_path(self.values, key, value.value)

    def set_all_config(self, config: dict[str, auto.ConfigValue], *, path: bool = False) -> None:
        self.calls.append(("set_all_config", {"keys": sorted(config), "secret": {v.secret for v in config.values()}}))
        for key, value in config.items():
            _set_path(self.values, key, value.value)

    def set_all_config_json(self, text: str) -> None:
        payload = json.loads(text)
        self.calls.append(("set_all_config_json", {"keys": sorted(payload)}))
        for key, value in payload.items():
            assert not value["secret"]
            self.values[key.split(":", 1)[1]] = value["objectValue"]

    def ops(self) -> list[str]:
        return [op for op, _ in self.calls if op in ("up", "preview", "destroy")]

    def last(self, op: str) -> dict[str, Any]:
        return [kw for o, kw in self.calls if o == op][-1]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def stacks(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeStack]:
    found: dict[str, FakeStack] = {"dev": FakeStack()}

    def open_stack(name: str, project_dir: Any, *, inline: bool = False, create: bool = False) -> FakeStack:
        if name not in found:
            raise auto.StackNotFoundError(auto.CommandResult(stdout="", stderr=f"no stack named '{name}'", code=255))
        return found[name]

    monkeypatch.setattr(cli, "open_stack", open_stack)
    # These tests need no engine: the verbs' operations are faked.
    monkeypatch.setattr(cli.shutil, "which", lambda name: f"/opt/engine/{name}")
    # Nor hosts: `deploy` looks for stopped containers first, and finds every one running.
    monkeypatch.setattr(stopping, "run_script", lambda host, script: _inspected(script, {}))
    return found


def run(argv: list[str], stdin: io.StringIO | None = None) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(argv, out=out, stdin=stdin or io.StringIO())
    return code, out.getvalue()


# --- verb -> operation ------------------------------------------------------------------------------


def test_bootstrap_servers_targets_only_the_hosts_bootstrap_commands(stacks: dict[str, FakeStack]) -> None:
    code, _ = run(["bootstrap-servers", "--stack", "dev", "--quiet"])
    assert code == 0 and stacks["dev"].ops() == ["up"]
    target = stacks["dev"].last("up")["target"]
    assert targeted(
        target, f"{PREFIX}kolla:infra:Deployment$kolla:infra:Host$command:remote:Command::h1-bootstrap-docker"
    )
    assert targeted(target, HOST_H1) and targeted(target, DEP)
    for urn in [*KEYSTONE_CHILDREN, MARIADB_CHILD, KEYSTONE, state_resources()[4]["urn"], state_resources()[6]["urn"]]:
        assert not targeted(target, urn), urn


def test_pull_targets_only_images(stacks: dict[str, FakeStack]) -> None:
    code, _ = run(["pull", "--stack", "dev", "--quiet"])
    target = stacks["dev"].last("up")["target"]
    assert code == 0
    assert targeted(target, state_resources()[4]["urn"]) and targeted(target, state_resources()[5]["urn"])
    bootstrap = f"{PREFIX}kolla:infra:Deployment$kolla:infra:Host$command:remote:Command::h1-bootstrap-docker"
    for urn in [*KEYSTONE_CHILDREN, MARIADB_CHILD, bootstrap, state_resources()[6]["urn"]]:
        assert not targeted(target, urn), urn


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["deploy"], {"target": None, "refresh": None}),
        (["deploy", "--refresh"], {"target": None, "refresh": True}),
        (["upgrade"], {"target": None, "refresh": True}),
        (["reconfigure"], {"target": None, "refresh": None}),
    ],
)
def test_whole_stack_verbs_run_up_with_their_options(
    stacks: dict[str, FakeStack], argv: list[str], expected: dict[str, Any]
) -> None:
    code, _ = run([*argv, "--stack", "dev", "--quiet"])
    up = stacks["dev"].last("up")
    assert code == 0 and stacks["dev"].ops() == ["up"]
    assert {key: up.get(key) for key in expected} == expected
    assert up["show_secrets"] is False


def test_preview_diff_runs_only_a_preview(stacks: dict[str, FakeStack]) -> None:
    code, out = run(["preview", "--diff", "--stack", "dev", "--quiet"])
    assert code == 0 and stacks["dev"].ops() == ["preview"]
    assert stacks["dev"].last("preview")["diff"] is True
    assert "41 same" in out


def test_reconfigure_targets_the_service_children_and_its_images(stacks: dict[str, FakeStack]) -> None:
    new_child = f"{PREFIX}{SVC}$docker:index/container:Container::h1-keystone_fernet"
    stacks["dev"].preview_events = [step_event("create", new_child, "docker:index/container:Container", KEYSTONE)]
    code, _ = run(["reconfigure", "--service", "keystone", "--stack", "dev", "--quiet"])
    assert code == 0 and stacks["dev"].ops() == ["preview", "up"]
    target = stacks["dev"].last("up")["target"]
    for urn in [KEYSTONE, *KEYSTONE_CHILDREN, new_child, DEP, state_resources()[4]["urn"]]:
        assert targeted(target, urn), urn
    for urn in [MARIADB, MARIADB_CHILD, state_resources()[5]["urn"], state_resources()[3]["urn"]]:
        assert not targeted(target, urn), urn


def test_reconfigure_refuses_an_unknown_service_listing_the_known(
    stacks: dict[str, FakeStack], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run(["reconfigure", "--service", "keystonee", "--stack", "dev"])
    err = capsys.readouterr().err
    assert code == 2 and stacks["dev"].ops() == []
    assert "unknown service keystonee" in err and "keystone, " in err and "mariadb" in err


def test_reconfigure_refuses_a_service_not_enabled_in_the_stack(
    stacks: dict[str, FakeStack], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run(["reconfigure", "--service", "heat", "--stack", "dev"])
    assert code == 2 and stacks["dev"].ops() == []
    assert "not enabled in this stack" in capsys.readouterr().err


# --- errors and exit codes --------------------------------------------------------------------------


def test_missing_stack_option_is_a_usage_error(stacks: dict[str, FakeStack]) -> None:
    assert run(["deploy"])[0] == 2
    assert stacks["dev"].ops() == []


def test_unknown_verb_and_bad_option_exit_2(stacks: dict[str, FakeStack]) -> None:
    for argv in (
        ["nosuchverb"],
        ["deploy", "--stack", "dev", "--bogus"],
        ["deploy", "--stack", "dev", "--json", "--quiet"],
    ):
        with pytest.raises(SystemExit) as exc:
            code = cli.main(argv, out=io.StringIO())
            raise SystemExit(code)
        assert exc.value.code == 2, argv


def test_what_stops_any_verb_before_it_starts_has_its_exit_code_and_one_line(
    stacks: dict[str, FakeStack], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cases = [
        (["deploy", "--stack", "dev prod"], 2, "--stack 'dev prod': expected a stack name"),
        (["promote", "--from", "dev", "--to", "stag ing"], 2, "--to 'stag ing': expected a stack name"),
        (["deploy", "--stack", "dev", "--project-dir", str(tmp_path)], 2, "expected a readable Pulumi project"),
        (["deploy", "--stack", "dev", "--project-dir", str(tmp_path / "none")], 2, "expected a readable Pulumi"),
    ]
    for argv, code, message in cases:
        assert run(argv)[0] == code, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
    monkeypatch.setattr(cli.shutil, "which", lambda name: None)
    assert run(["deploy", "--stack", "dev"])[0] == 5
    assert "no `pulumi` engine on PATH" in capsys.readouterr().err
    assert stacks["dev"].ops() == []


def test_unknown_stack_exits_2(stacks: dict[str, FakeStack]) -> None:
    assert run(["deploy", "--stack", "prod"])[0] == 2


def test_config_error_from_the_stack_config_exits_2_with_its_message(
    stacks: dict[str, FakeStack], capsys: pytest.CaptureFixture[str]
) -> None:
    stacks["dev"].values["globals"]["kolla_base_distroo"] = "debian"
    code, _ = run(["reconfigure", "--service", "keystone", "--stack", "dev"])
    err = capsys.readouterr().err
    assert code == 2 and "invalid stack config" in err and "kolla_base_distroo" in err
    assert stacks["dev"].ops() == []


def test_engine_failure_exits_1_and_a_config_error_inside_the_program_exits_2(
    stacks: dict[str, FakeStack], capsys: pytest.CaptureFixture[str]
) -> None:
    failed = auto.CommandError(auto.CommandResult(stdout="", stderr="error: update failed", code=255))
    stacks["dev"].error = failed
    assert run(["deploy", "--stack", "dev"])[0] == 1
    message = "error: Program failed: invalid stack config: globals.x = 1: expected y"
    stacks["dev"].error = auto.CommandError(auto.CommandResult(stdout="", stderr=message, code=255))
    assert run(["deploy", "--stack", "dev"])[0] == 2
    assert "invalid stack config: globals.x = 1" in capsys.readouterr().err


# --- output -----------------------------------------------------------------------------------------


def test_json_output_is_one_engine_event_per_line(stacks: dict[str, FakeStack]) -> None:
    code, out = run(["deploy", "--stack", "dev", "--json"])
    lines = out.splitlines()
    assert code == 0 and len(lines) == len(UP_EVENTS)
    events = [json.loads(line) for line in lines]
    assert events[0]["resourcePreEvent"]["metadata"]["urn"] == KEYSTONE_CHILDREN[2]
    assert events[0]["resourcePreEvent"]["metadata"]["op"] == "create"
    assert events[2]["summaryEvent"]["resourceChanges"] == {"create": 1}


def test_quiet_prints_only_the_summary(stacks: dict[str, FakeStack]) -> None:
    code, out = run(["deploy", "--stack", "dev", "--quiet"])
    assert code == 0 and out.splitlines()[0].startswith("deploy: 1 create, 40 same in")
    assert len(out.splitlines()) == 1


def test_error_diagnostics_reach_stderr(stacks: dict[str, FakeStack], capsys: pytest.CaptureFixture[str]) -> None:
    diag = DiagnosticEvent(message="boom\n", color="never", severity="error", urn=KEYSTONE_CHILDREN[2])
    stacks["dev"].up_events = [EngineEvent(sequence=0, timestamp=0, diagnostic_event=diag)]
    run(["deploy", "--stack", "dev", "--quiet"])
    assert "error: h1-keystone: boom" in capsys.readouterr().err


# --- post-deploy ------------------------------------------------------------------------------------


def test_post_deploy_writes_0600_files_from_the_secret_outputs(stacks: dict[str, FakeStack], tmp_path: Path) -> None:
    stacks["dev"].output_values = {
        "admin_openrc": auto.OutputValue("export OS_PASSWORD=s3cret\n", secret=True),
        "clouds_yaml": auto.OutputValue("clouds: {}\n", secret=True),
    }
    (tmp_path / "clouds.yaml").write_text("old")
    (tmp_path / "clouds.yaml").chmod(0o644)
    old_umask = os.umask(0)
    try:
        code, _ = run(["post-deploy", "--stack", "dev", "--dir", str(tmp_path)])
    finally:
        os.umask(old_umask)
    assert code == 0
    for name, text in (("admin-openrc.sh", "export OS_PASSWORD=s3cret\n"), ("clouds.yaml", "clouds: {}\n")):
        path = tmp_path / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        assert path.read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["admin-openrc.sh", "clouds.yaml"]


def test_post_deploy_before_deploy_exits_2(stacks: dict[str, FakeStack], tmp_path: Path) -> None:
    assert run(["post-deploy", "--stack", "dev", "--dir", str(tmp_path)])[0] == 2
    assert list(tmp_path.iterdir()) == []


# --- destroy ----------------------------------------------------------------------------------------


def test_destroy_without_a_terminal_refuses_unless_yes(stacks: dict[str, FakeStack]) -> None:
    assert run(["destroy", "--stack", "dev"])[0] == 4
    assert stacks["dev"].ops() == []
    assert run(["destroy", "--stack", "dev", "--yes", "--quiet"])[0] == 0
    assert stacks["dev"].ops() == ["destroy"]


def test_destroy_on_a_terminal_asks_for_the_stack_name(stacks: dict[str, FakeStack]) -> None:
    code, out = run(["destroy", "--stack", "dev"], stdin=Tty("yes\n"))
    assert code == 4 and stacks["dev"].ops() == [] and "Type 'dev'" in out
    code, _ = run(["destroy", "--stack", "dev", "--quiet"], stdin=Tty("dev\n"))
    assert code == 0 and stacks["dev"].ops() == ["destroy"]


def test_destroy_include_volumes_removes_the_recorded_volumes_over_ssh(
    stacks: dict[str, FakeStack], monkeypatch: pytest.MonkeyPatch
) -> None:
    scripts: list[tuple[str, str]] = []

    def fake_ssh(host: Any, script: str) -> Completed:
        scripts.append((host.name, script))
        return Completed(0, "", "")

    monkeypatch.setattr("components.operate.verbs.run_script", fake_ssh)
    code, out = run(["destroy", "--stack", "dev", "--yes", "--include-volumes", "--quiet"])
    assert code == 0 and stacks["dev"].ops() == ["destroy"]
    assert scripts == [("h1", "set -eu\ndocker volume rm kolla_logs mariadb\n")]
    assert "h1: removed volumes kolla_logs, mariadb" in out


def test_destroy_keeps_volumes_by_default_and_a_failed_removal_exits_1(
    stacks: dict[str, FakeStack], monkeypatch: pytest.MonkeyPatch
) -> None:
    scripts: list[str] = []
    monkeypatch.setattr(
        "components.operate.verbs.run_script", lambda host, script: scripts.append(script) or Completed(1, "", "in use")
    )
    assert run(["destroy", "--stack", "dev", "--yes", "--quiet"])[0] == 0
    assert scripts == []
    assert run(["destroy", "--stack", "dev", "--yes", "--include-volumes", "--quiet"])[0] == 1


# --- promote ----------------------------------------------------------------------------------------


def _promote_stacks(stacks: dict[str, FakeStack], promotable: list[str]) -> None:
    dev = make_config(openstack_tag_suffix="-rc1", openstack_service_workers=2, docker_namespace="ours")
    staging = make_config(openstack_service_workers=4)
    staging["inventory"]["hosts"]["h1"]["address"] = "10.99.0.11"
    staging["passwords"]["database_password"] = "staging-only"
    other = {"kolla-pulumi-cli:promotable": auto.ConfigValue(json.dumps(promotable))}
    stacks["dev"] = FakeStack("dev", dev, other=other)
    stacks["staging"] = FakeStack("staging", staging)


def test_promote_shows_the_diff_and_copies_only_release_and_promotable_globals(stacks: dict[str, FakeStack]) -> None:
    _promote_stacks(stacks, ["openstack_service_workers"])
    before = copy.deepcopy(stacks["staging"].values)
    code, out = run(["promote", "--from", "dev", "--to", "staging", "--yes"])
    after = stacks["staging"].values
    assert code == 0
    assert "openstack_tag_suffix: (unset) -> '-rc1'" in out and "openstack_service_workers: 4 -> 2" in out
    assert after["globals"]["docker_namespace"] == "ours" and after["globals"]["openstack_service_workers"] == 2
    assert after["passwords"] == before["passwords"] and after["inventory"] == before["inventory"]
    assert [op for op, _ in stacks["staging"].calls if op.startswith("set")] == ["set_all_config_json"]


def test_promote_without_confirmation_changes_nothing(stacks: dict[str, FakeStack]) -> None:
    _promote_stacks(stacks, [])
    before = copy.deepcopy(stacks["staging"].values)
    code, out = run(["promote", "--from", "dev", "--to", "staging"])
    assert code == 4 and "docker_namespace" in out
    assert stacks["staging"].values == before


def test_promote_refuses_to_copy_passwords_or_inventory(stacks: dict[str, FakeStack]) -> None:
    for promotable in (["database_password"], ["inventory"], ["passwords"]):
        _promote_stacks(stacks, promotable)
        before = copy.deepcopy(stacks["staging"].values)
        assert run(["promote", "--from", "dev", "--to", "staging", "--yes"])[0] == 2, promotable
        assert stacks["staging"].values == before


# --- prechecks --------------------------------------------------------------------------------------


def _facts(listening: str = "", running: str = "", kvm: bool = True) -> Completed:
    return Completed(0, f"docker=27.5.1\nkvm={'yes' if kvm else 'no'}\nrunning={running}\nlistening={listening}\n", "")


def test_prechecks_pass_and_fail_on_a_foreign_port(
    stacks: dict[str, FakeStack], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prechecks, "run_script", lambda host, script: _facts(listening="0016 1388"))
    code, out = run(["prechecks", "--stack", "dev"])
    assert code == 3 and "5000 (keystone)" in out and "FAIL" in out
    monkeypatch.setattr(prechecks, "run_script", lambda host, script: _facts(listening="0016 1388", running="keystone"))
    code, out = run(["prechecks", "--stack", "dev"])
    assert code == 0 and "FAIL" not in out


def test_prechecks_json_lines_and_an_unreachable_host(
    stacks: dict[str, FakeStack], monkeypatch: pytest.MonkeyPatch
) -> None:
    failure = Completed(255, "", "Host key verification failed.\n")
    monkeypatch.setattr(prechecks, "run_script", lambda host, script: failure)
    code, out = run(["prechecks", "--stack", "dev", "--json"])
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 3
    assert rows == [{"host": "h1", "name": "ssh", "ok": False, "detail": "Host key verification failed."}]


# --- config verbs: genpwd and import-kolla (kolla_import stood in) -----------------------------------


@pytest.fixture
def kolla_import(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("components.operate.kolla_import")
    monkeypatch.setitem(sys.modules, "components.operate.kolla_import", module)
    return module


def test_genpwd_import_takes_file_values_first_and_existing_secrets_win(
    stacks: dict[str, FakeStack], kolla_import: types.ModuleType
) -> None:
    stack = stacks["dev"]
    stack.values["passwords"]["keystone_admin_password"] = "mine"
    del stack.values["passwords"]["memcache_secret_key"]
    del stack.values["passwords"]["rabbitmq_password"]
    kolla_import.read_passwords_yml = lambda path: {
        "keystone_admin_password": "theirs",
        "rabbitmq_password": "from-file",
        "memcache_secret_key": "",
        "not_a_kolla_key": "x",
    }
    code, out = run(["genpwd", "--stack", "dev", "--import", "passwords.yml"])
    assert code == 0
    assert stack.values["passwords"]["keystone_admin_password"] == "mine"
    assert stack.values["passwords"]["rabbitmq_password"] == "from-file"
    assert stack.values["passwords"]["memcache_secret_key"] not in ("", None)
    assert "imported: rabbitmq_password" in out and "not_a_kolla_key" in out
    assert "generated 1 secret(s): memcache_secret_key" in out
    assert "from-file" not in out and "mine" not in out
    assert all(call["secret"] == {True} for op, call in stack.calls if op == "set_all_config")
    code, _ = run(["genpwd", "--stack", "dev", "--import", "passwords.yml", "--overwrite"])
    assert code == 0 and stack.values["passwords"]["keystone_admin_password"] == "theirs"


def test_import_kolla_writes_objects_and_secrets_and_prints_unmapped(
    stacks: dict[str, FakeStack], kolla_import: types.ModuleType
) -> None:
    seen: list[tuple[str, str, str]] = []

    def import_kolla(g: str, i: str, p: str) -> Any:
        seen.append((g, i, p))
        config = {
            "globals": {"kolla_base_distro": "ubuntu", "enable_haproxy": False},
            "inventory": {"hosts": {"c1": {"address": "10.0.0.1"}}, "groups": {"control": ["c1"]}},
            "passwords": {"database_password": "db", "keystone_admin_password": ""},
        }
        return SimpleNamespace(config=config, unmapped=["kolla_install_type: removed in Kolla 2023.1"])

    kolla_import.import_kolla = import_kolla
    code, out = run(["import-kolla", "--stack", "dev", "--globals", "g.yml", "--inventory", "inv", "--passwords", "p"])
    stack = stacks["dev"]
    assert code == 0 and seen == [("g.yml", "inv", "p")]
    assert stack.values["globals"] == {"kolla_base_distro": "ubuntu", "enable_haproxy": False}
    assert stack.values["inventory"]["hosts"] == {"c1": {"address": "10.0.0.1"}}
    assert stack.values["passwords"]["database_password"] == "db"
    assert ("set_all_config", {"keys": ["passwords.database_password"], "secret": {True}}) in stack.calls
    assert "unmapped: kolla_install_type: removed in Kolla 2023.1" in out and "db" not in out.split()


def test_import_kolla_unreadable_input_exits_2(stacks: dict[str, FakeStack], kolla_import: types.ModuleType) -> None:
    def unreadable(g: str, i: str, p: str) -> Any:
        raise FileNotFoundError(2, "No such file or directory", g)

    kolla_import.import_kolla = unreadable
    argv = ["import-kolla", "--stack", "dev", "--globals", "missing.yml", "--inventory", "i", "--passwords", "p"]
    assert run(argv)[0] == 2
    assert not [op for op, _ in stacks["dev"].calls if op.startswith("set")]


def test_targets_use_the_program_type_tokens() -> None:
    """Guards the globs against a renamed type token: each must match the URN shape the program makes."""
    globs = targets.bootstrap_targets("dev", "kolla-pulumi")
    assert targeted(globs, f"{PREFIX}kolla:infra:Deployment$kolla:infra:Host$command:remote:Command::h9-bootstrap-x")
    assert not targeted(globs, f"{PREFIX}kolla:infra:Deployment$kolla:infra:Host$command:remote:Commandx::h9")


# --- check and genconfig ----------------------------------------------------------------------------


def _inspected(script: str, states: dict[str, str]) -> Completed:
    """What the health script prints on a host where `states` maps a container to `status health`
    (any container not named is running and healthy; None: Docker does not know it)."""
    lines = []
    for name in re.search(r"^for name in (.*); do$", script, re.M).group(1).split():  # type: ignore[union-attr]
        state = states.get(name, "running healthy")
        lines.append(f"{name} {state if state is not None else 'missing -'}")
    return Completed(0, "\n".join(lines) + "\n", "")


def test_check_is_a_table_of_every_container_and_fails_on_one_stopped_or_unhealthy(
    stacks: dict[str, FakeStack], monkeypatch: pytest.MonkeyPatch
) -> None:
    from components.operate import health

    monkeypatch.setattr(health, "run_script", lambda host, script: _inspected(script, {"cron": "running none"}))
    code, out = run(["check", "--stack", "dev"])
    assert code == 0 and "FAIL" not in out
    assert re.search(r"h1\s+keystone\s+running\s+healthy\s+-\s+ok", out), out
    assert re.search(r"h1\s+cron\s+running\s+none\s+-\s+ok", out), out  # no healthcheck: running is enough
    states = {"keystone": "exited none", "memcached": "running unhealthy", "rabbitmq": None}
    monkeypatch.setattr(health, "run_script", lambda host, script: _inspected(script, states))
    code, out = run(["check", "--stack", "dev", "--json"])
    rows = {r["container"]: r for r in map(json.loads, out.splitlines())}
    assert code == 3
    assert {name for name, r in rows.items() if not r["ok"]} == {"keystone", "memcached", "rabbitmq"}
    assert rows["rabbitmq"]["state"] == "missing"


def test_check_names_a_config_directory_changed_by_hand_and_fails_on_it(
    stacks: dict[str, FakeStack], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The records scripts.read_written prints after the health lines: keystone's directory differs from
    what was written, memcached's is as written, the others were never recorded."""
    from components.operate import health

    records = "ok\nkeystone aaaa bbbb -\nmemcached cccc cccc -\n"

    def inspected(host: Any, script: str) -> Completed:
        assert "/etc/kolla-pulumi/written" in script
        done = _inspected(script, {})
        return Completed(0, done.stdout + records, "")

    monkeypatch.setattr(health, "run_script", inspected)
    code, out = run(["check", "--stack", "dev"])
    assert code == 3
    assert re.search(r"h1\s+keystone\s+running\s+healthy\s+changed-by-hand\s+FAIL", out), out
    assert re.search(r"h1\s+memcached\s+running\s+healthy\s+as-written\s+ok", out), out
    assert re.search(r"h1\s+cron\s+running\s+healthy\s+unrecorded\s+ok", out), out


def test_genconfig_writes_every_hosts_files_privately_without_touching_a_host(
    stacks: dict[str, FakeStack], tmp_path: Path
) -> None:
    code, out = run(["genconfig", "--stack", "dev", "--dir", str(tmp_path / "out")])
    assert code == 0 and stacks["dev"].ops() == [] and "for 1 host(s)" in out
    keystone = tmp_path / "out" / "h1" / "keystone"
    assert {"config.json", "keystone.conf"} <= {p.name for p in keystone.iterdir()}
    assert "[database]" in (keystone / "keystone.conf").read_text()
    assert stat.S_IMODE((keystone / "keystone.conf").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o700


# --- init-runonce -----------------------------------------------------------------------------------


def test_init_runonce_reports_what_it_made_then_that_nothing_was_left_to_do(
    stacks: dict[str, FakeStack], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from components.operate import init_runonce

    answers = [
        [{"kind": "image", "name": "cirros", "done": "missing"}],
        [
            {"kind": "image", "name": "cirros", "done": "created"},
            {"kind": "flavor", "name": "m1.tiny", "done": "created"},
        ],
        [{"kind": "image", "name": "cirros", "done": "exists"}],
        [
            {"kind": "image", "name": "cirros", "done": "exists"},
            {"kind": "flavor", "name": "m1.tiny", "done": "exists"},
        ],
    ]
    sent: list[tuple[str, bytes]] = []

    def toolbox(host: Any, command: str, chunks: Any) -> Completed:
        sent.append((host.name, b"".join(chunks)))
        return Completed(0, "".join(json.dumps(r) + "\n" for r in answers.pop(0)), "")

    monkeypatch.setattr(init_runonce, "run_streamed", toolbox)
    services = {f"enable_{name}": True for name in ("glance", "placement", "nova", "neutron")}
    stacks["dev"] = FakeStack(config=make_config(**services))
    (tmp_path / "img").write_bytes(b"\0" * 10)
    (tmp_path / "k.pub").write_text("ssh-ed25519 AAAA\n")
    argv = [
        "init-runonce",
        "--stack",
        "dev",
        "--image-file",
        str(tmp_path / "img"),
        "--public-key",
        str(tmp_path / "k.pub"),
    ]
    code, out = run(argv)
    assert code == 0 and stacks["dev"].ops() == []
    assert "created image cirros" in out and "created flavor m1.tiny" in out
    assert "init-runonce: 2 created or set, 0 already there" in out and "--key-name mykey" in out
    assert sent[1][1].endswith(b"\0" * 10)  # the image's bytes follow the parameters
    code, out = run(argv)
    assert code == 0 and "nothing to do: the 2 things init-runonce makes are all there" in out
    assert not sent[3][1].endswith(b"\0" * 10)


def test_init_runonce_refuses_kollas_variables_when_wrong_exit_2(
    stacks: dict[str, FakeStack], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEMO_NET_CIDR", "10.0.0.0")
    monkeypatch.setenv("IP_VERSION", "4")
    code, _ = run(["init-runonce", "--stack", "dev"])
    assert code == 2 and stacks["dev"].ops() == []
    assert "DEMO_NET_GATEWAY='10.0.0.1': expected an address in 10.0.0.0/32" in capsys.readouterr().err


# --- stop, and deploy after it ------------------------------------------------------------------------


class Docker:
    """Hosts' Docker as the stop, start and health scripts see it: container name -> state."""

    def __init__(self, names: list[str]) -> None:
        self.state = dict.fromkeys(names, "running")
        self.log: list[str] = []

    def __call__(self, host: Any, script: str, timeout: float = 120) -> Completed:
        if script.startswith("for name in") and "docker stop" in script:  # stop_script
            names = re.search(r"^for name in (.*); do$", script, re.M).group(1).split()  # type: ignore[union-attr]
            lines = []
            for name in names:
                was = self.state.get(name, "missing")
                lines.append(f"{name} {'running' if was == 'running' else 'stopped' if was == 'exited' else 'missing'}")
                if was == "running":
                    self.state[name] = "exited"
                    self.log.append(f"stop {name}")
            return Completed(0, "\n".join(lines) + "\n", "")
        if "docker start" in script:  # start_script
            for name in re.findall(r"^docker start (\S+)", script, re.M):
                self.state[name] = "running"
                self.log.append(f"start {name}")
            return Completed(0, "", "")
        states = {n: ("running healthy" if s == "running" else "exited none") for n, s in self.state.items()}
        return _inspected(script, states)


def test_stop_asks_then_stops_in_reverse_deploy_order_and_deploy_starts_them_again(
    stacks: dict[str, FakeStack], monkeypatch: pytest.MonkeyPatch
) -> None:
    from components.operate import health

    docker = Docker(sorted(ALL_IN_ONE_CONTAINER_NAMES))
    monkeypatch.setattr(stopping, "run_script", docker)
    monkeypatch.setattr(health, "run_script", docker)
    assert run(["stop", "--stack", "dev"])[0] == 4 and docker.log == []  # no terminal, no --yes
    code, out = run(["stop", "--stack", "dev"], stdin=Tty("dev\n"))
    assert code == 0 and stacks["dev"].ops() == []
    assert re.search(r"h1\s+keystone\s+stopped", out), out
    stopped = [entry.removeprefix("stop ") for entry in docker.log]
    assert set(stopped) == ALL_IN_ONE_CONTAINER_NAMES
    assert stopped.index("keystone") < stopped.index("mariadb") < stopped.index("kolla_toolbox")
    assert run(["check", "--stack", "dev"])[0] == 3

    docker.log.clear()
    code, _ = run(["deploy", "--stack", "dev", "--quiet"])
    assert code == 0 and stacks["dev"].ops() == ["up"]
    started = [entry.removeprefix("start ") for entry in docker.log]
    assert set(started) == ALL_IN_ONE_CONTAINER_NAMES
    assert started.index("kolla_toolbox") < started.index("mariadb") < started.index("keystone")
    assert run(["check", "--stack", "dev"])[0] == 0


def test_stop_of_one_service_touches_only_its_containers_and_unknown_names_exit_2(
    stacks: dict[str, FakeStack], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    docker = Docker(sorted(ALL_IN_ONE_CONTAINER_NAMES))
    monkeypatch.setattr(stopping, "run_script", docker)
    code, out = run(["stop", "--stack", "dev", "--service", "keystone", "--yes"])
    assert code == 0
    assert {n for n, s in docker.state.items() if s == "exited"} == {"keystone", "keystone_ssh", "keystone_fernet"}
    code, out = run(["stop", "--stack", "dev", "--service", "keystone", "--yes"])
    assert code == 0 and re.search(r"h1\s+keystone\s+was stopped", out), out
    code, _ = run(["stop", "--stack", "dev", "--service", "nova", "--host", "h9", "--yes"])
    err = capsys.readouterr().err
    assert (
        code == 2 and "--service: service nova is not enabled in this stack" in err and "--host h9: no container" in err
    )


def test_deploy_recovers_a_galera_cluster_stopped_on_every_node_before_starting_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from components.config.stack import resolve_stack_config
    from components.operate import mariadb_recovery
    from tests.conftest import plan_of

    raw = make_config(hosts=3)
    raw["inventory"]["groups"]["control"] = ["h1", "h2", "h3"]
    config, plan = resolve_stack_config(raw), plan_of(raw)
    docker = Docker([])
    per_host = {c.host: [] for s in plan.services for c in s.containers}
    for s in plan.services:
        for c in s.containers:
            per_host[c.host].append(c.container_name)
    states = {h: dict.fromkeys(names, "exited") for h, names in per_host.items()}
    recovered: list[str] = []

    def runner(host: Any, script: str) -> Completed:
        docker.state = states[host.name]
        return docker(host, script)

    def recover(config: Any, plan: Any, **kwargs: Any) -> None:
        recovered.append("recovered")
        for host_states in states.values():
            host_states["mariadb"] = "running"

    monkeypatch.setattr(mariadb_recovery, "recover", recover)
    started = stopping.start_stopped(config, plan, runner=runner, log=lambda line: None, poll=0, timeout=5)
    assert recovered == ["recovered"]
    assert "start mariadb" not in docker.log  # the recovery started the Galera nodes, not `docker start`
    assert {(r.host, r.container) for r in started} == {(h, n) for h, names in per_host.items() for n in names}
    assert all(s == "running" for host_states in states.values() for s in host_states.values())


# --- deploy-containers, prune-images, rabbitmq-reset-state ------------------------------------------


def test_deploy_containers_targets_containers_and_images_but_no_config_writer_or_job(
    stacks: dict[str, FakeStack],
) -> None:
    gate = f"{PREFIX}{SVC}$command:remote:Command::h1-keystone-serving"
    stacks["dev"].preview_events = [step_event("same", gate, "command:remote:Command", KEYSTONE)]
    code, _ = run(["deploy-containers", "--stack", "dev", "--quiet"])
    assert code == 0 and stacks["dev"].ops() == ["preview", "up"]
    target = stacks["dev"].last("up")["target"]
    config_writer, job, keystone = KEYSTONE_CHILDREN
    for urn in [keystone, MARIADB_CHILD, gate, KEYSTONE, MARIADB, DEP, *(r["urn"] for r in state_resources()[4:6])]:
        assert targeted(target, urn), urn
    bootstrap = state_resources()[3]["urn"]
    for urn in [config_writer, job, bootstrap, state_resources()[6]["urn"]]:
        assert not targeted(target, urn), urn


def test_prune_images_asks_then_prunes_kolla_images_on_every_host(
    stacks: dict[str, FakeStack], monkeypatch: pytest.MonkeyPatch
) -> None:
    from components.operate import prune_images

    scripts: list[tuple[str, str]] = []
    printed = "sha256:aaa\nsha256:bbb\nreclaimed 12.5MB\n"

    def host(h: Any, script: str) -> Completed:
        scripts.append((h.name, script))
        return Completed(0, printed, "")

    monkeypatch.setattr(prune_images, "run_script", host)
    assert run(["prune-images", "--stack", "dev"])[0] == 4 and scripts == []
    code, out = run(["prune-images", "--stack", "dev", "--yes"])
    assert code == 0 and "h1: 2 image layers removed, 12.5MB reclaimed" in out
    assert "docker image prune --force  --filter label=kolla_version" in scripts[-1][1]
    run(["prune-images", "--stack", "dev", "--yes", "--all"])
    assert "docker image prune --force --all --filter label=kolla_version" in scripts[-1][1]
    assert stacks["dev"].ops() == []


def test_rabbitmq_reset_state_runs_each_step_on_every_node_before_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    from components.config.stack import resolve_stack_config
    from components.operate import rabbitmq_reset
    from tests.conftest import plan_of

    raw = make_config(hosts=3)
    raw["inventory"]["groups"]["control"] = ["h1", "h2", "h3"]
    calls: list[tuple[str, str]] = []
    scripts: list[str] = []

    def host(h: Any, script: str) -> Completed:
        calls.append((h.name, script.split("rabbitmqctl ")[1].split()[0]))
        scripts.append(script)
        return Completed(0, "", "")

    rabbitmq_reset.reset_state(resolve_stack_config(raw), plan_of(raw), runner=host, log=lambda line: None)
    steps = ["stop_app", "force_reset", "start_app", "await_online_nodes"]
    assert calls == [(h, step) for step in steps for h in ("h1", "h2", "h3")]
    assert "rabbitmqctl await_online_nodes 3 " in scripts[-1]  # the cluster's size, from the inventory

    def failing(h: Any, script: str) -> Completed:
        return Completed(1, "", "Error: unable to perform an operation on node 'rabbit@h2'")

    with pytest.raises(OperateError, match=r"h1: rabbitmqctl stop_app failed: Error: unable to perform"):
        rabbitmq_reset.reset_state(resolve_stack_config(raw), plan_of(raw), runner=failing, log=lambda line: None)


def test_tables_align_every_column_to_its_widest_cell() -> None:
    from components.operate.columns import columns

    text = columns(("host", "container", "ok"), [("h1", "keystone_fernet", "ok"), ("h10", "cron", "FAIL")])
    assert text.splitlines() == [
        "host  container        ok",
        "h1    keystone_fernet  ok",
        "h10   cron             FAIL",
    ]


def test_mariadb_recovery_passes_the_stacks_plan_and_prints_its_steps_a_failure_exits_1(
    stacks: dict[str, FakeStack], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from components.operate import mariadb_recovery

    seen: list[Any] = []

    def recover(config: Any, plan: Any, *, host: str | None, log: Any) -> None:
        seen.append((sorted(config.inventory.hosts), [c.host for c in plan.placed("mariadb")], host))
        log("h1 bootstraps the cluster (seqno 7)")

    monkeypatch.setattr(mariadb_recovery, "recover", recover)
    code, out = run(["mariadb-recovery", "--stack", "dev", "--host", "h1"])
    assert code == 0 and seen == [(["h1"], ["h1"], "h1")] and "h1 bootstraps the cluster (seqno 7)" in out

    def refused(*args: Any, **kwargs: Any) -> None:
        raise mariadb_recovery.RecoveryError("h1: bootstrapping failed: no grastate")

    monkeypatch.setattr(mariadb_recovery, "recover", refused)
    assert run(["mariadb-recovery", "--stack", "dev"])[0] == 1
    assert "h1: bootstrapping failed: no grastate" in capsys.readouterr().err
    assert stacks["dev"].ops() == []


def test_mariadb_backup_and_restore_pass_the_stacks_plan_a_failure_exits_1(
    stacks: dict[str, FakeStack], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from components.operate import mariadb_backup

    seen: list[Any] = []

    def backup(config: Any, plan: Any, kind: str, *, log: Any) -> list[str]:
        seen.append(("backup", sorted(config.inventory.hosts), kind))
        return ["4000 ./full-1/b.gz"]

    def restore(config: Any, plan: Any, *, incremental: bool, log: Any) -> Any:
        seen.append(("restore", sorted(config.inventory.hosts), incremental))
        return mariadb_backup.mariadb_recovery.Position("h1", "u", 4, "--wsrep-recover")

    monkeypatch.setattr(mariadb_backup, "backup", backup)
    monkeypatch.setattr(mariadb_backup, "restore", restore)
    code, out = run(["mariadb-backup", "--stack", "dev"])
    assert code == 0 and "4000 ./full-1/b.gz" in out
    assert run(["mariadb-backup", "--stack", "dev", "--incremental"])[0] == 0
    # Restoring loses what was written since: not without a terminal's yes, or --yes.
    assert run(["mariadb-restore", "--stack", "dev"])[0] == 4
    code, out = run(["mariadb-restore", "--stack", "dev", "--full-only", "--yes"])
    assert code == 0 and "restored on h1" in out
    assert seen == [("backup", ["h1"], "full"), ("backup", ["h1"], "incremental"), ("restore", ["h1"], False)]

    def refused(*args: Any, **kwargs: Any) -> None:
        raise mariadb_backup.BackupError("this stack deploys no mariabackup: set globals.enable_mariabackup")

    monkeypatch.setattr(mariadb_backup, "backup", refused)
    assert run(["mariadb-backup", "--stack", "dev"])[0] == 1
    assert "set globals.enable_mariabackup" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:  # one or the other
        run(["mariadb-backup", "--stack", "dev", "--full", "--incremental"])
    assert usage.value.code == 2
    assert stacks["dev"].ops() == []
