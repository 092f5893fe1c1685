"""kolla-ansible's `check`, without Pulumi: over the pinned SSH, every planned container's state and
healthcheck status on its host, as a table; a container missing, not running or unhealthy fails."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from components.config.stack import StackConfig
from components.deployment import DeploymentPlan
from components.operate.columns import columns
from components.operate.ssh import SSH_UNREACHABLE, Runner, run_script

# One line per container: `<name> <status> <health>`; `missing` when Docker does not know it. A
# container Docker still reports `starting` (its first healthcheck interval not over, e.g. just after
# a deploy) is judged now, by running its healthcheck command in it as Docker's next check would.
_SCRIPT = """
for name in NAMES; do
  state=$(docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' \\
    "$name" 2>/dev/null) || { echo "$name missing -"; continue; }
  if [ "${state#* }" = starting ]; then
    test=$(docker inspect -f '{{index .Config.Healthcheck.Test 1}}' "$name")
    if timeout 30 docker exec "$name" sh -c "$test" >/dev/null 2>&1; then
      state="${state% *} healthy"
    else
      state="${state% *} unhealthy"
    fi
  fi
  echo "$name $state"
done
"""


@dataclass(frozen=True)
class ContainerHealth:
    host: str
    container: str
    state: str  # running, exited, ..., missing, or unreachable
    health: str  # healthy, unhealthy, starting, none (no healthcheck), or "-"

    @property
    def ok(self) -> bool:
        return self.state == "running" and self.health in ("healthy", "none")


def health_script(names: list[str]) -> str:
    return _SCRIPT.replace("NAMES", " ".join(shlex.quote(n) for n in names), 1)


def parse(host: str, names: list[str], stdout: str) -> list[ContainerHealth]:
    seen = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            seen[parts[0]] = ContainerHealth(host, parts[0], parts[1], parts[2])
    return [seen.get(n, ContainerHealth(host, n, "missing", "-")) for n in names]


def check(config: StackConfig, plan: DeploymentPlan, runner: Runner | None = None) -> list[ContainerHealth]:
    runner = runner or run_script
    rows = []
    for host, names in plan.containers_by_host().items():
        done = runner(config.inventory.hosts[host], health_script(names))
        if done.returncode == SSH_UNREACHABLE:
            rows += [ContainerHealth(host, n, "unreachable", "-") for n in names]
        else:
            rows += parse(host, names, done.stdout)
    return rows


def table(rows: list[ContainerHealth]) -> str:
    cells = [(r.host, r.container, r.state, r.health, "ok" if r.ok else "FAIL") for r in rows]
    return columns(("host", "container", "state", "health", "ok"), cells)
