"""kolla-ansible's `genconfig`, without touching a host: every planned container's files as the
program would write them to `/etc/kolla/<container>/` on its host, under `<directory>/<host>/`.

The files hold passwords, as on the hosts: directories are created 0700 and files 0600 from their
first byte. The operator's diff before a change: `genconfig` before and after, then `diff -r`.
"""

from __future__ import annotations

from pathlib import Path

from components.deployment import DeploymentPlan
from components.operate.verbs import write_private


def genconfig(plan: DeploymentPlan, directory: str | Path) -> list[Path]:
    """Write `<directory>/<host>/<container>/<file>` for every planned container (those run on demand
    too: their directories are on the hosts as well); the paths written."""
    root = Path(directory)
    written = []
    for service in plan.services:
        for rendered in (*service.containers, *service.on_demand):
            target = root / rendered.host / rendered.key
            target.mkdir(mode=0o700, parents=True, exist_ok=True)
            for parent in (root, root / rendered.host):
                parent.chmod(0o700)
            for name, text in sorted(rendered.files.items()):
                write_private(target / name, text)
                written.append(target / name)
    return written
