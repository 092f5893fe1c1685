"""kolla-ansible's example files (globals.yml, passwords.yml, the all-in-one and multinode inventories).

They come from the kolla-ansible wheel on PyPI, downloaded once with `pip download --no-deps` into
~/.cache/kolla-pulumi/wheels/kolla-ansible-<version>/ and read from the zip: nothing is copied into the
repository. Without network access (and no cached wheel) the tests that need them skip, or fail under
KOLLA_PULUMI_REQUIRE_TESTBED=1 (testbed.env.require).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from testbed.env import require

KOLLA_ANSIBLE_VERSION = "22.2.0"
WHEELS = Path.home() / ".cache" / "kolla-pulumi" / "wheels"
_DATA = "share/kolla-ansible/"
EXAMPLES = {
    "globals.yml": _DATA + "etc_examples/kolla/globals.yml",
    "passwords.yml": _DATA + "etc_examples/kolla/passwords.yml",
    "all-in-one": _DATA + "ansible/inventory/all-in-one",
    "multinode": _DATA + "ansible/inventory/multinode",
}
_failures: dict[str, str] = {}


def _download(version: str, target: Path) -> Path | None:
    """The wheel in `target`, fetched with pip into a temporary directory first (never half a file)."""
    found = sorted(target.glob("kolla_ansible-*.whl"))
    if found:
        return found[0]
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--quiet"]
        try:
            result = subprocess.run(
                [*pip, f"kolla-ansible=={version}", "-d", tmp], capture_output=True, text=True, timeout=300
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            _failures[version] = str(exc)
            return None
        wheels = sorted(Path(tmp).glob("kolla_ansible-*.whl"))
        if result.returncode != 0 or not wheels:
            _failures[version] = (result.stderr.strip().splitlines() or ["no wheel"])[-1]
            return None
        target.mkdir(exist_ok=True)
        wheels[0].replace(target / wheels[0].name)
    return target / wheels[0].name


def example_files(version: str = KOLLA_ANSIBLE_VERSION) -> dict[str, str]:
    """name -> text of each example file; skips the calling test when the wheel cannot be had."""
    wheel = None if version in _failures else _download(version, WHEELS / f"kolla-ansible-{version}")
    require(
        wheel is not None,
        f"the kolla-ansible {version} wheel for its example files (`pip download --no-deps "
        f"kolla-ansible=={version}` into {WHEELS} failed: {_failures.get(version)})",
    )
    assert wheel is not None
    with zipfile.ZipFile(wheel) as archive:
        data = f"kolla_ansible-{version}.data/data/"
        return {name: archive.read(data + path).decode() for name, path in EXAMPLES.items()}


_KEY_LINE = re.compile(r"#([A-Za-z_][A-Za-z0-9_]*):(\s.*)?$")
_CONTINUATION = re.compile(r"#(\s{2,}\S.*)$")


def uncomment_globals(text: str) -> str:
    """The example globals.yml with every `#key: value` line (and its indented continuation) active."""
    out: list[str] = []
    in_value = False
    for line in text.splitlines():
        if _KEY_LINE.match(line):
            out.append(line[1:])
            in_value = True
        elif in_value and (match := _CONTINUATION.match(line)):
            out.append(match.group(1))
        else:
            out.append(line)
            in_value = False
    return "\n".join(out) + "\n"


def commented_keys(text: str) -> list[str]:
    return [m.group(1) for line in text.splitlines() if (m := _KEY_LINE.match(line))]
