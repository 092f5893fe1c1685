"""The environment for running the test-bed engine offline, on the real plugins.

The plugins are built from their upstream source (testbed/plugins.py) and found where a user's engine
finds them: the python language host beside the engine binary, the providers installed in
`$PULUMI_HOME/plugins/`. Nothing is ever downloaded: plugin acquisition is off.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from testbed import plugins
from testbed.engine import engine_path

if TYPE_CHECKING:
    from pulumi.automation import PulumiCommand

REQUIRE_VAR = "KOLLA_PULUMI_REQUIRE_TESTBED"
# Only protects throwaway test-bed stacks; a caller's own passphrase wins.
TESTBED_PASSPHRASE = "kolla-pulumi-testbed"


def pulumi_env(state_dir: Path) -> dict[str, str]:
    """A full environment for the engine: a private PULUMI_HOME holding the built providers, a file
    backend, the engine (and its language host) first on PATH, no network needed."""
    home, backend = state_dir / "home", state_dir / "backend"
    home.mkdir(parents=True, exist_ok=True)
    backend.mkdir(parents=True, exist_ok=True)
    plugins.link_plugins(home)
    env = dict(os.environ)
    env.update(
        PATH=os.pathsep.join([str(engine_path().parent), env.get("PATH", os.defpath)]),
        PULUMI_HOME=str(home),
        PULUMI_BACKEND_URL=backend.as_uri(),
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
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
    """The engine and the real plugins are built (python -m testbed.engine; python -m testbed.plugins)."""
    return os.access(engine_path(), os.X_OK) and plugins.all_built()


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
