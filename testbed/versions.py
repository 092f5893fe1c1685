"""Every version the test bed depends on, pinned in one place.

The SDK versions come from pyproject.toml (the program's own pins); the engine and the plugin versions
the stand-ins report are pinned here. The SDK must never be newer than the engine.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# github.com/pulumi/pulumi/pkg/v3 at this version builds from the Go module proxy.
PULUMI_ENGINE_VERSION = "3.274.1"


def _pinned(package: str) -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        name, _, version = dep.partition("==")
        if re.sub(r"[-_.]+", "-", name.lower()) == package:
            return version
    raise KeyError(f"pyproject.toml pins no {package}")


PULUMI_SDK_VERSION = _pinned("pulumi")
# The stand-in plugins report the versions of the real plugins the SDKs would install.
DOCKER_PLUGIN_VERSION = _pinned("pulumi-docker")
COMMAND_PLUGIN_VERSION = _pinned("pulumi-command")


def _as_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


if _as_tuple(PULUMI_SDK_VERSION) > _as_tuple(PULUMI_ENGINE_VERSION):
    raise RuntimeError(
        f"the Python SDK {PULUMI_SDK_VERSION} is newer than the engine {PULUMI_ENGINE_VERSION}: "
        "bump PULUMI_ENGINE_VERSION in testbed/versions.py"
    )
