"""kolla-ansible's `check`, without Pulumi: over the pinned SSH, every planned container's state and
healthcheck status on its host, and whether its config directory is as kolla-pulumi wrote it
(components/config_drift.py), as a table; a container missing, not running or unhealthy fails, and so
does a config directory changed by hand."""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass

from components import config_drift, scripts
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
    config: str = "-"  # config_drift's AS_WRITTEN, CHANGED or UNRECORDED; "-" when not read

    @property
    def ok(self) -> bool:
        """The container runs and passes its healthcheck."""
        return self.state == "running" and self.health in ("healthy", "none")

    @property
    def sound(self) -> bool:
        """ok, and its config directory not changed by hand (`check`'s verdict)."""
        return self.ok and self.config != config_drift.CHANGED


def health_script(names: list[str]) -> str:
    """The health lines (`<name> <state> <health>`), then the config records (scripts.read_written)."""
    return _SCRIPT.replace("NAMES", " ".join(shlex.quote(n) for n in names), 1) + scripts.read_written()


def parse(host: str, containers: list[tuple[str, str]], stdout: str) -> list[ContainerHealth]:
    """`containers`: (name, config directory) pairs in plan order."""
    seen = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            seen[parts[0]] = ContainerHealth(host, parts[0], parts[1], parts[2])
    records = config_drift.parse_host(stdout.splitlines())
    return [
        dataclasses.replace(
            seen.get(n, ContainerHealth(host, n, "missing", "-")),
            config=records.state(key) if records.reachable else "-",
        )
        for n, key in containers
    ]


def check(config: StackConfig, plan: DeploymentPlan, runner: Runner | None = None) -> list[ContainerHealth]:
    runner = runner or run_script
    rows = []
    placed: dict[str, list[tuple[str, str]]] = {}
    for service in plan.services:
        for rendered in service.containers:
            placed.setdefault(rendered.host, []).append((rendered.container_name, rendered.key))
    for host, containers in placed.items():
        done = runner(config.inventory.hosts[host], health_script([n for n, _ in containers]))
        if done.returncode == SSH_UNREACHABLE:
            rows += [ContainerHealth(host, n, "unreachable", "-") for n, _ in containers]
        else:
            rows += parse(host, containers, done.stdout)
    return rows


def table(rows: list[ContainerHealth]) -> str:
    cells = [(r.host, r.container, r.state, r.health, r.config, "ok" if r.sound else "FAIL") for r in rows]
    return columns(("host", "container", "state", "health", "config", "ok"), cells)
