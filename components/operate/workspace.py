"""Opening a stack of this project through the Automation API, and reading or writing its config.

One code path for both ways of running the program:
- a local program (`inline=False`): `work_dir` is the project directory; the engine starts the python
  language host named in Pulumi.yaml (a user with network access has it; the test bed supplies one);
- an inline program (`inline=True`): the project's `__main__.py` run in this process (no language
  host), with the workspace still pointed at the project directory, so the same Pulumi.yaml and
  Pulumi.<stack>.yaml are used.

The backend, the passphrase and PULUMI_HOME come from the caller's environment and Pulumi.yaml, as
for the `pulumi` CLI; `env` adds or overrides variables for the engine only.
"""

from __future__ import annotations

import json
import runpy
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from components.config.stack import StackConfig, resolve_stack_config

PROJECT = "kolla-pulumi"
ROOT = Path(__file__).resolve().parent.parent.parent


def inline_program(project_dir: Path) -> Callable[[], None]:
    """The project's `__main__.py`, run as `pulumi up` would run it (its own `components` first)."""

    def program() -> None:
        if str(project_dir) not in sys.path:
            sys.path.insert(0, str(project_dir))
        runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")

    return program


def open_stack(
    stack_name: str,
    project_dir: str | Path = ROOT,
    *,
    inline: bool = False,
    create: bool = False,
    env: Mapping[str, str] | None = None,
    pulumi_command: auto.PulumiCommand | None = None,
) -> auto.Stack:
    """Select (or, with `create`, create or select) `stack_name` of the project in `project_dir`.

    Raises auto.StackNotFoundError when the stack does not exist and `create` is false."""
    project = Path(project_dir).resolve()
    options = auto.LocalWorkspaceOptions(work_dir=str(project), env_vars=dict(env or {}), pulumi_command=pulumi_command)
    if inline:
        select = auto.create_or_select_stack if create else auto.select_stack
        return select(stack_name, project_name=PROJECT, program=inline_program(project), opts=options)
    select = auto.create_or_select_stack if create else auto.select_stack
    return select(stack_name, work_dir=str(project), opts=options)


def config_value(value: auto.ConfigValue) -> Any:
    """A config value as the program sees it: objects and lists parsed, strings as they are."""
    try:
        return json.loads(value.value)
    except (TypeError, ValueError):
        return value.value


def raw_config(stack: auto.Stack) -> dict[str, Any]:
    """`kolla-pulumi:<key>` values of the stack (secrets decrypted by the engine), keyed by `<key>`."""
    prefix = f"{PROJECT}:"
    return {
        key[len(prefix) :]: config_value(value)
        for key, value in stack.get_all_config().items()
        if key.startswith(prefix)
    }


def resolved_config(stack: auto.Stack) -> StackConfig:
    """The stack's config checked as the program checks it (raises ConfigError listing every problem)."""
    return resolve_stack_config(raw_config(stack))


def write_objects(stack: auto.Stack, objects: Mapping[str, Any]) -> None:
    """Write whole plain objects (`globals`, `inventory`) as `pulumi config set-all --json` does, with
    their types (booleans, numbers, lists) kept."""
    payload = {
        f"{PROJECT}:{key}": {"value": json.dumps(value), "objectValue": value, "secret": False}
        for key, value in objects.items()
    }
    stack.set_all_config_json(json.dumps(payload))


def secret_leaves(values: Mapping[str, Any]) -> dict[str, auto.ConfigValue]:
    """`passwords.<name>` (and `.<part>` for key pairs) paths, each value a secret string."""
    leaves: dict[str, auto.ConfigValue] = {}
    for name, value in values.items():
        parts = value.items() if isinstance(value, Mapping) else [(None, value)]
        for part, text in parts:
            path = f"passwords.{name}" + (f".{part}" if part else "")
            leaves[path] = auto.ConfigValue(value=str(text), secret=True)
    return leaves


def set_secrets(stack: auto.Stack, values: Mapping[str, Any]) -> None:
    """Store passwords as secrets, one path each (as `pulumi config set --secret --path` does)."""
    leaves = secret_leaves(values)
    if leaves:
        stack.set_all_config(leaves, path=True)
