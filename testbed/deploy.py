"""Deploy a stack of this project onto the test bed through the Automation API, timing each step.

    python -m testbed.deploy [--stack dev] [--hosts 2] [--preview-only] [--destroy]

Steps: build or reuse the engine and the real plugins, start the hosts and the registry, build or reuse the images, then
run the program (`__main__.py`, inline, exactly as `pulumi up` would) with the stack's config from
`Pulumi.<stack>.yaml`, passwords generated once as secrets (components.genpwd). State lives under
~/.cache/kolla-pulumi/state/<stack> (a file backend), never in the checkout.
"""

from __future__ import annotations

import argparse
import runpy
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from components.genpwd import fill_missing_passwords, needed_keys
from testbed import engine, env, plugins
from testbed.versions import ROOT

PROJECT = "kolla-pulumi"
STATE = Path.home() / ".cache" / "kolla-pulumi" / "state"


def _timed(label: str, step: Callable[[], Any]) -> Any:
    started = time.monotonic()
    print(f"==> {label}", flush=True)
    result = step()
    print(f"    {label}: {time.monotonic() - started:.1f} s", flush=True)
    return result


def program() -> None:
    runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")


def stack_for(name: str, state_dir: Path) -> auto.Stack:
    """The stack, with Pulumi.<name>.yaml's config and a complete set of secret passwords."""
    document = yaml.safe_load((ROOT / f"Pulumi.{name}.yaml").read_text()) or {}
    return stack_with_config(name, state_dir, document.get("config") or {})


def stack_with_config(name: str, state_dir: Path, config: dict[str, Any]) -> auto.Stack:
    """A stack of this project in `state_dir` (file backend), with `config` (`kolla-pulumi:<key>`
    keys as in Pulumi.<stack>.yaml) and a complete set of secret passwords."""
    work = state_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    options = auto.LocalWorkspaceOptions(
        work_dir=str(work),
        pulumi_home=str(state_dir / "home"),
        env_vars=env.pulumi_env(state_dir),
        project_settings=auto.ProjectSettings(
            name=PROJECT, runtime="python", backend=auto.ProjectBackend(url=f"file://{state_dir / 'backend'}")
        ),
        pulumi_command=env.pulumi_command(state_dir),
    )
    stack = auto.create_or_select_stack(name, project_name=PROJECT, program=program, opts=options)
    _set_objects(stack, config)
    fill_missing_passwords(stack, needed_keys())
    return stack


def _set_objects(stack: auto.Stack, config: dict[str, Any]) -> None:
    """Write `config` into the stack's settings file as objects (as `pulumi config set --path` leaves
    them), replacing what was there but the encrypted passwords and the encryption salt. The file is
    edited directly: the SDK's StackSettings drops object values."""
    path = Path(stack.workspace.work_dir) / f"Pulumi.{stack.name}.yaml"
    document = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    current = document.get("config") or {}
    desired: dict[str, Any] = {k: v for k, v in config.items() if not k.startswith("pulumi:")}
    if f"{PROJECT}:passwords" in current and f"{PROJECT}:passwords" not in desired:
        desired[f"{PROJECT}:passwords"] = current[f"{PROJECT}:passwords"]
    document["config"] = desired
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--hosts", type=int, default=2)
    parser.add_argument("--preview-only", action="store_true")
    parser.add_argument("--destroy", action="store_true")
    args = parser.parse_args(argv)
    started = time.monotonic()
    _timed("engine", lambda: engine.ensure_engine(log=lambda m: print(f"    {m}")))
    _timed("plugins", lambda: plugins.ensure_plugins(log=lambda m: print(f"    {m}")))
    from testbed import hosts, images

    state_dir = STATE / args.stack
    # A stack's first `up` starts from clean hosts: a data volume another stack left behind (destroy
    # keeps them) would hold that stack's database password.
    first = not (state_dir / "backend" / ".pulumi" / "stacks" / PROJECT / f"{args.stack}.json").exists()
    _timed("hosts", lambda: hosts.up(args.hosts, fresh=first))
    _timed("images", images.build)
    stack = _timed("stack config", lambda: stack_for(args.stack, state_dir))
    if args.destroy:
        _timed("destroy", lambda: stack.destroy(on_output=print))
    elif args.preview_only:
        result = _timed("preview", lambda: stack.preview(on_output=print))
        print(result.change_summary)
    else:
        result = _timed("up", lambda: stack.up(on_output=print))
        print({k: v for k, v in (result.summary.resource_changes or {}).items()})
        print(result.outputs["summary"].value)
    print(f"total {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
