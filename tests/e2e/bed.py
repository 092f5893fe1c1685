"""What every end-to-end module starts from and leaves behind: the engine, clean test-bed hosts and
the images; clean hosts again at the end (a data volume left behind would hold this module's
passwords, which the next deployment does not have)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from testbed import env
from testbed.versions import ROOT

if TYPE_CHECKING:
    from testbed.hosts import Host


@contextmanager
def clean_bed(count: int = 2) -> Iterator[list[Host]]:
    """Hosts 1..count with no container, volume or /etc/kolla, the images in the registry; skips (or
    fails under KOLLA_PULUMI_REQUIRE_TESTBED=1) when the machine cannot have them."""
    env.require(env.engine_built(), "the Pulumi engine (python -m testbed.engine)")
    try:
        from testbed import hosts, images

        started = hosts.up(count, fresh=True)
        images.build()
        # A host's engine keeps what it pulled before and `up` pulls only what is absent: an image
        # rebuilt under the same tag must replace the old one there. Absent ones are left to `up`.
        pull = "; ".join(
            f"if docker image inspect {ref} >/dev/null 2>&1; then docker pull -q {ref} >/dev/null; fi"
            for ref in map(images.reference, images.IMAGES)
        )
        for host in started:
            host.ssh(pull)
    except Exception as exc:  # the bed needs root, namespaces and Debian's packages
        env.require(False, f"the test-bed hosts and images ({exc})")
        raise
    try:
        yield started
    finally:
        hosts.up(count, fresh=True)


def project_copy(directory: Path) -> Path:
    """This project as a user's checkout in `directory` (its own Pulumi.<stack>.yaml files), sharing
    this checkout's venv."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, directory / name)
    for name in ("components", "templates"):
        shutil.copytree(ROOT / name, directory / name, ignore=shutil.ignore_patterns("__pycache__"))
    (directory / ".venv").symlink_to(ROOT / ".venv")
    return directory
