"""Every version the test bed depends on, pinned in one place.

The SDK versions come from pyproject.toml (the program's own pins); the plugins are built at exactly the
versions those SDKs ask the engine for (what a user's engine would download). The engine and the
plugins' source archives are pinned here. The SDK must never be newer than the engine.
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
# The provider plugins the SDKs ask the engine for (testbed/plugins.py builds them from source).
DOCKER_PLUGIN_VERSION = _pinned("pulumi-docker")
COMMAND_PLUGIN_VERSION = _pinned("pulumi-command")
# The newest public source of the Go python language host; linked against the engine's modules.
LANGUAGE_HOST_SOURCE_VERSION = "3.259.0"
# kreuzwerker's Terraform provider under pulumi-docker 5.2.0 (the only version the proxy serves; its
# go.mod names it github.com/terraform-providers/terraform-provider-docker, hence the replace).
DOCKER_UPSTREAM_MODULE = "github.com/kreuzwerker/terraform-provider-docker@v0.0.0-20260916201441-96d331c98ff4"
# The unchanged upstream source archives (shared/real-plugins/README.md says what each holds).
PLUGIN_ARCHIVES = {
    "pulumi-docker-237b7899-provider-patches.tar.xz": (
        "d92561fdf04ba57654e3609ef189c20b78c36b00d3c126c50c9b0af127ca364e"
    ),
    "pulumi-command-v1.2.1-provider.tar.xz": "ef20143bfd999c790f8f62d0e092bc1fcef22e8ce771fd0fd16f17f66a81f6bc",
    "pulumi-v3.259.0-sdk-python-cmd.tar.xz": "fe391d4f49d5602cf2ad42c53b4cc50cad55c16cd4e2302d1f80e9b84714133a",
}


def _as_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


if _as_tuple(PULUMI_SDK_VERSION) > _as_tuple(PULUMI_ENGINE_VERSION):
    raise RuntimeError(
        f"the Python SDK {PULUMI_SDK_VERSION} is newer than the engine {PULUMI_ENGINE_VERSION}: "
        "bump PULUMI_ENGINE_VERSION in testbed/versions.py"
    )
