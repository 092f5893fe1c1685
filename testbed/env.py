"""The environment for running the test-bed engine offline, with the stand-in plugins on PATH.

The engine takes an executable named `pulumi-resource-<name>` (or `pulumi-language-<runtime>`) found on
PATH before it tries any download, so small launchers put the Python stand-ins there. With
KOLLA_PULUMI_REAL_PLUGINS=1 (a machine with network access) the launchers are left out and the engine
acquires the real plugins at the versions the SDKs ask for.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from testbed.engine import engine_path
from testbed.versions import ROOT

if TYPE_CHECKING:
    from pulumi.automation import PulumiCommand

REAL_PLUGINS_VAR = "KOLLA_PULUMI_REAL_PLUGINS"
REQUIRE_VAR = "KOLLA_PULUMI_REQUIRE_TESTBED"
# Only protects throwaway test-bed stacks; a caller's own passphrase wins.
TESTBED_PASSPHRASE = "kolla-pulumi-testbed"

# Executable name -> stand-in module under testbed.standins.
STANDINS = {
    "pulumi-resource-docker": "docker_provider",
    "pulumi-resource-command": "command_provider",
    "pulumi-language-python": "language_host",
}


def install_launchers(directory: Path) -> Path:
    """Write one executable launcher per stand-in into `directory` and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    # sys.executable, unresolved: resolving the symlink would leave the venv behind.
    python = shlex.quote(sys.executable)
    root = shlex.quote(str(ROOT))
    for name, module in STANDINS.items():
        script = (
            "#!/bin/sh\n"
            f"# Test-bed stand-in for {name}, written by testbed.env.install_launchers.\n"
            f"PYTHONPATH={root}${{PYTHONPATH:+:$PYTHONPATH}}\n"
            f'export PYTHONPATH\nexec {python} -m testbed.standins.{module} "$@"\n'
        )
        path = directory / name
        tmp = path.with_name(f".{name}.{os.getpid()}")
        tmp.write_text(script)
        tmp.chmod(0o755)
        os.replace(tmp, path)  # atomic: a concurrent engine never runs half a script
    return directory


def use_real_plugins(real_plugins: bool | None = None) -> bool:
    if real_plugins is None:
        return os.environ.get(REAL_PLUGINS_VAR) == "1"
    return real_plugins


def pulumi_env(state_dir: Path, *, real_plugins: bool | None = None) -> dict[str, str]:
    """A full environment for the engine: private PULUMI_HOME, a file backend, no network needed."""
    home, backend = state_dir / "home", state_dir / "backend"
    home.mkdir(parents=True, exist_ok=True)
    backend.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    path = [str(engine_path().parent), env.get("PATH", os.defpath)]
    if use_real_plugins(real_plugins):
        env.pop("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", None)
    else:
        path.insert(0, str(install_launchers(state_dir / "launchers")))
        env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
    env.update(
        PATH=os.pathsep.join(path),
        PULUMI_HOME=str(home),
        PULUMI_BACKEND_URL=backend.as_uri(),
        PULUMI_SKIP_UPDATE_CHECK="true",
    )
    env.setdefault("PULUMI_CONFIG_PASSPHRASE", TESTBED_PASSPHRASE)
    return env


def pulumi_command(state_dir: Path | None = None) -> PulumiCommand:
    """The Automation API's handle on the test-bed engine (which must already be built).

    `state_dir` is accepted for symmetry with pulumi_env: every state dir shares the one engine.
    """
    del state_dir
    from pulumi.automation import PulumiCommand

    return PulumiCommand(root=str(engine_path().parent))


def engine_built() -> bool:
    return os.access(engine_path(), os.X_OK)


def require(condition: bool, what: str) -> None:
    """Skip the calling test when the test bed lacks something, or fail if the bed is required."""
    if condition:
        return
    _missing(what)


def _missing(what: str) -> NoReturn:
    import pytest

    if os.environ.get(REQUIRE_VAR) == "1":
        pytest.fail(f"test bed incomplete ({REQUIRE_VAR}=1): {what}")
    pytest.skip(f"test bed incomplete: {what}")
