"""The library's pieces under the verbs: opening a stack (local or inline, the project's own files),
targets from state, promote's diff, progress output, private files."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from components.operate import promote, targets, workspace
from components.operate.progress import Reporter
from components.operate.verbs import write_private


@pytest.fixture
def selected(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, Any]]]:
    calls: list[tuple[str, str, dict[str, Any]]] = []
    for name in ("select_stack", "create_or_select_stack"):
        monkeypatch.setattr(workspace.auto, name, lambda stack, _n=name, **kw: calls.append((_n, stack, kw)) or "stack")
    return calls


def test_local_program_uses_the_project_dir_as_work_dir(selected: list, tmp_path: Path) -> None:
    workspace.open_stack("dev", tmp_path, env={"PULUMI_CONFIG_PASSPHRASE": "x"})
    (how, stack, kw) = selected[0]
    assert (how, stack, kw["work_dir"]) == ("select_stack", "dev", str(tmp_path))
    assert kw["opts"].work_dir == str(tmp_path) and kw["opts"].env_vars == {"PULUMI_CONFIG_PASSPHRASE": "x"}
    assert "program" not in kw
    assert kw["opts"].pulumi_home is None and kw["opts"].project_settings is None  # the user's, not ours


def test_inline_program_points_the_workspace_at_the_project_and_runs_its_main(selected: list, tmp_path: Path) -> None:
    (tmp_path / "__main__.py").write_text("import builtins\nbuiltins.kolla_ran = __name__\n")
    workspace.open_stack("dev", tmp_path, inline=True, create=True)
    (how, _, kw) = selected[0]
    assert how == "create_or_select_stack" and kw["project_name"] == "kolla-pulumi"
    assert kw["opts"].work_dir == str(tmp_path) and kw["opts"].project_settings is None
    kw["program"]()
    import builtins

    assert builtins.kolla_ran == "__main__"  # type: ignore[attr-defined]
    del builtins.kolla_ran  # type: ignore[attr-defined]


def test_secret_leaves_split_key_pairs_and_mark_every_value_secret() -> None:
    leaves = workspace.secret_leaves(
        {"database_password": "a", "nova_ssh_key": {"private_key": "p", "public_key": "q"}}
    )
    assert sorted(leaves) == ["passwords.database_password", "passwords.nova_ssh_key.private_key",
                              "passwords.nova_ssh_key.public_key"]  # fmt: skip
    assert all(v.secret for v in leaves.values())


def test_descendants_follow_parents_transitively() -> None:
    resources = [
        targets.Resource("a", "kolla:openstack:Service"),
        targets.Resource("b", "x", parent="a"),
        targets.Resource("c", "x", parent="b"),
        targets.Resource("d", "x", parent="z"),
    ]
    assert targets.descendants(resources, {"a"}) == {"b", "c"}


def test_promotion_diff_sets_and_unsets() -> None:
    changes = promote.promotion(
        {"openstack_tag_suffix": "-rc1", "docker_registry": "r"},
        {"docker_registry": "r", "docker_namespace": "old", "enable_heat": True},
        promote.promoted_keys(["enable_heat"]),
    )
    assert [str(c) for c in changes] == ["openstack_tag_suffix: (unset) -> '-rc1'",
                                         "docker_namespace: 'old' -> (unset)",
                                         "enable_heat: True -> (unset)"]  # fmt: skip
    applied = promote.apply({"docker_registry": "r", "docker_namespace": "old", "enable_heat": True}, changes)
    assert applied == {"docker_registry": "r", "openstack_tag_suffix": "-rc1"}


def test_write_private_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "admin-openrc.sh"
    path.write_text("old")
    path.chmod(0o666)
    old = os.umask(0)
    try:
        write_private(path, "new")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text() == "new"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _event(op: str, urn: str, done: bool) -> auto.EngineEvent:
    from pulumi.automation.events import OpType, ResourcePreEvent, ResOutputsEvent, StepEventMetadata

    meta = StepEventMetadata(op=OpType(op), urn=urn, type="docker:index/container:Container", provider="")
    if done:
        return auto.EngineEvent(sequence=0, timestamp=0, res_outputs_event=ResOutputsEvent(meta))
    return auto.EngineEvent(sequence=0, timestamp=0, resource_pre_event=ResourcePreEvent(meta))


def test_terminal_progress_redraws_one_status_line() -> None:
    out = Terminal()
    reporter = Reporter.for_args(json_output=False, quiet=False, out=out)
    assert reporter.mode == "live"
    reporter.on_event(_event("create", "urn:x::h1-keystone", done=False))
    reporter.on_event(_event("same", "urn:x::h1-cron", done=False))
    reporter.on_event(_event("create", "urn:x::h1-keystone", done=True))
    text = out.getvalue()
    assert "\n" not in text and text.count("\r\x1b[K") == 3
    assert text.rsplit("\r\x1b[K", 1)[-1].startswith("[1/2]") and "same h1-cron" in text


def test_pipeline_progress_prints_one_line_per_change_and_skips_sames() -> None:
    out = io.StringIO()
    reporter = Reporter.for_args(json_output=False, quiet=False, out=out)
    reporter.on_event(_event("same", "urn:x::h1-cron", done=True))
    reporter.on_event(_event("replace", "urn:x::h1-keystone", done=True))
    assert reporter.mode == "lines" and out.getvalue().splitlines() == [
        "replace    h1-keystone (docker:index/container:Container)"
    ]


def test_a_named_service_is_targeted_only_by_globs_or_urns_that_exist():
    """The engine fails a run on an exact target URN that is not in the stack: a service component is
    nested under the deployment, so its target is a glob, and the other targets come from the state."""
    state = [
        targets.Resource("urn:pulumi:s::p::kolla:infra:Deployment::kolla", targets.DEPLOYMENT),
        targets.Resource(
            "urn:pulumi:s::p::kolla:infra:Deployment$kolla:openstack:Service::memcached",
            targets.SERVICE,
            parent="urn:pulumi:s::p::kolla:infra:Deployment::kolla",
        ),
    ]
    existing = {r.urn for r in state}
    for target in targets.service_targets("s", "p", "memcached", state, {}):
        assert "*" in target or target in existing, target
