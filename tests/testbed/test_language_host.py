"""The real python language host: `pulumi preview` / `pulumi up` typed in a shell on a python project."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.env import engine_built, pulumi_env, require
from testbed.versions import COMMAND_PLUGIN_VERSION, DOCKER_PLUGIN_VERSION, ROOT

PROGRAM = """
import sys
import pulumi
import helper  # a module beside __main__.py: the project directory is on sys.path


class Thing(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("test:index:Thing", name)
        self.register_outputs({})


Thing("thing")
print("printed by the program")
pulumi.export("greeting", f"{helper.GREETING} {pulumi.Config().require('who')}")
pulumi.export("args", sys.argv[1:])
"""


PULUMI_YAML = "name: lh-test\nruntime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: .venv\n"


def pulumi(project: Path, env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["pulumi", *args], cwd=project, env=env, capture_output=True, text=True, timeout=120)
    if ok:
        assert done.returncode == 0, f"pulumi {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    require(engine_built(), "the Pulumi engine is not built (python -m testbed.engine)")
    project = tmp_path / "project"
    project.mkdir()
    # The project's own venv, as this project's Pulumi.yaml names it (`virtualenv: .venv`).
    (project / ".venv").symlink_to(ROOT / ".venv")
    (project / "Pulumi.yaml").write_text(PULUMI_YAML)
    (project / "__main__.py").write_text(PROGRAM)
    (project / "helper.py").write_text('GREETING = "hello"\n')
    env = pulumi_env(tmp_path / "state")
    pulumi(project, env, "stack", "init", "dev")
    pulumi(project, env, "config", "set", "who", "world")
    return project, env


def test_preview_and_up_from_a_shell(project: tuple[Path, dict[str, str]]) -> None:
    path, env = project
    preview = pulumi(path, env, "preview")
    assert "+ 2 to create" in preview.stdout
    assert "printed by the program" in preview.stdout

    up = pulumi(path, env, "up", "--yes")
    assert "+ 2 created" in up.stdout
    outputs = json.loads(pulumi(path, env, "stack", "output", "--json").stdout)
    assert outputs == {"greeting": "hello world", "args": []}

    again = pulumi(path, env, "preview", "--expect-no-changes")
    assert "2 unchanged" in again.stdout


def test_program_error_fails_the_update(project: tuple[Path, dict[str, str]]) -> None:
    path, env = project
    (path / "__main__.py").write_text("raise RuntimeError('the program is broken')\n")
    failed = pulumi(path, env, "preview", ok=False)
    assert failed.returncode != 0
    assert "the program is broken" in failed.stdout + failed.stderr


def test_a_virtualenv_without_the_sdk_is_named(project: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    path, env = project
    bare = tmp_path / "bare-venv"  # made here: a missing one the host would create (pip from PyPI)
    subprocess.run([sys.executable, "-m", "venv", str(bare)], check=True)  # ensurepip: offline
    (path / "Pulumi.yaml").write_text(PULUMI_YAML.replace("virtualenv: .venv", f"virtualenv: {bare}"))
    failed = pulumi(path, env, "preview", ok=False)
    assert failed.returncode != 0
    assert "the Pulumi SDK has not been installed" in failed.stdout + failed.stderr


def test_the_project_asks_for_the_pinned_sdk_plugins() -> None:
    """The language host reads the SDKs installed in the project's venv: the plugins it asks the engine
    for are the versions the test bed builds."""
    require(engine_built(), "the Pulumi engine and plugins (python -m testbed.engine; -m testbed.plugins)")
    done = subprocess.run(
        ["pulumi", "plugin", "ls", "--project", "--json"],
        cwd=ROOT,
        env=pulumi_env(ROOT / ".pytest_cache" / "plugin-ls"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    versions = {p["name"]: p["version"] for p in json.loads(done.stdout)}
    assert versions.get("docker") == DOCKER_PLUGIN_VERSION
    assert versions.get("command") == COMMAND_PLUGIN_VERSION
