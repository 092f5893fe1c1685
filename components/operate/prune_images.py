"""kolla-ansible's `prune-images`, without Pulumi: over the pinned SSH, on every inventory host, Docker
removes the Kolla images (label `kolla_version`) that no tag names any more (what an image pulled again
under the same tag leaves behind). With `every_unused`, also the Kolla images no container uses, tagged
or not (an older release's, after an upgrade); an image a container of the stack uses is never removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from components.config.stack import StackConfig
from components.operate.ssh import Runner, run_script
from components.operate.verbs import OperateError

# Docker prints `deleted: sha256:...` per removed layer and `Total reclaimed space: <size>`.
_SCRIPT = """set -eu
docker image prune --force {all} --filter label=kolla_version |
  sed -n 's/^deleted: //p; s/^Total reclaimed space: /reclaimed /p'
"""


@dataclass(frozen=True)
class Pruned:
    host: str
    removed: int  # image layers and images Docker reports deleted
    reclaimed: str  # as Docker says it, e.g. "12.5MB"


def prune_script(every_unused: bool) -> str:
    return _SCRIPT.format(all="--all" if every_unused else "")


def parse(host: str, stdout: str) -> Pruned:
    reclaimed = re.search(r"^reclaimed (\S+)", stdout, re.M)
    removed = sum(1 for line in stdout.splitlines() if line.startswith("sha256:"))
    return Pruned(host, removed, reclaimed.group(1) if reclaimed else "0B")


def prune_images(config: StackConfig, *, every_unused: bool = False, runner: Runner | None = None) -> list[Pruned]:
    runner = runner or run_script
    rows = []
    for name, host in config.inventory.hosts.items():
        done = runner(host, prune_script(every_unused))
        if done.returncode != 0:
            raise OperateError(f"{name}: pruning images failed: {done.why}")
        rows.append(parse(name, done.stdout))
    return rows
