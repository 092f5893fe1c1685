"""kolla-ansible's `stop`, and what its `deploy` does after one: over the program's pinned SSH, without
Pulumi, whose state keeps every container (stopped containers are still the ones it created).

`stop` stops the planned containers (all, or some services' or hosts'), on each host in the reverse of
the deploy order, so the APIs stop before the databases and queues they use. `start_stopped` (run by
`deploy` before its `up`) starts every planned container that exists but is not running, in the deploy
order. A Galera cluster whose every node was stopped cannot start by itself: it is recovered first, as
`mariadb-recovery` does, from its most recent node. Then it waits until the started containers run and
their healthchecks pass.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from components.config.stack import StackConfig
from components.deployment import DeploymentPlan
from components.operate import health, mariadb_recovery
from components.operate.columns import columns
from components.operate.ssh import Runner, run_script
from components.operate.verbs import OperateError, check_services

Log = Callable[[str], None]
STOPPED = ("exited", "created")  # Docker's states of a container that exists and does not run


@dataclass(frozen=True)
class Stopped:
    host: str
    container: str
    was: str  # "running" (stopped now), "stopped" (already), "missing" (Docker does not know it)


def planned(plan: DeploymentPlan, services: Iterable[str] = (), hosts: Iterable[str] = ()) -> dict[str, list[str]]:
    """host -> its planned container names in deploy order, only `services`' and `hosts`' if given;
    OperateError naming every service (as reconfigure names them) and host the plan does not have."""
    services, hosts = list(services), set(hosts)
    problems = []
    try:
        check_services(services, plan)
    except OperateError as exc:
        problems.append(f"--service: {exc}")
    known_hosts = plan.containers_by_host()
    problems += [f"--host {h}: no container of this stack runs there" for h in sorted(hosts - set(known_hosts))]
    if problems:
        raise OperateError("; ".join(problems) + (f" (hosts: {', '.join(known_hosts)})" if hosts else ""))
    chosen: dict[str, list[str]] = {}
    for service in plan.services:
        if services and service.service.name not in services:
            continue
        for container in service.containers:
            if not hosts or container.host in hosts:
                chosen.setdefault(container.host, []).append(container.container_name)
    return chosen


def stop_script(names: list[str]) -> str:
    """Stop `names` one by one, last first; one line per container: `<name> running|stopped|missing`."""
    quoted = " ".join(shlex.quote(n) for n in reversed(names))
    return f"""for name in {quoted}; do
  state=$(docker inspect -f '{{{{.State.Running}}}}' "$name" 2>/dev/null) || {{ echo "$name missing"; continue; }}
  if [ "$state" = true ]; then docker stop "$name" >/dev/null && echo "$name running"; else echo "$name stopped"; fi
done
"""


def stop(
    config: StackConfig,
    plan: DeploymentPlan,
    *,
    services: Iterable[str] = (),
    hosts: Iterable[str] = (),
    runner: Runner | None = None,
    log: Log = print,
) -> list[Stopped]:
    runner = runner or (lambda h, script: run_script(h, script, timeout=1800))
    rows = []
    for host, names in planned(plan, services, hosts).items():
        done = runner(config.inventory.hosts[host], stop_script(names))
        if done.returncode != 0:
            raise OperateError(f"{host}: stopping failed: {done.why}")
        seen = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
        rows += [Stopped(host, n, seen.get(n, "missing")) for n in names]
        log(f"{host}: {sum(seen.get(n) == 'running' for n in names)} of {len(names)} containers stopped")
    return rows


def start_script(names: list[str]) -> str:
    return "set -e\n" + "".join(f"docker start {shlex.quote(n)} >/dev/null\n" for n in names)


def _stopped_galera(rows: list[health.ContainerHealth]) -> bool:
    """Every node of a Galera cluster of several stopped: none of them can start without a bootstrap."""
    nodes = [r for r in rows if r.container == mariadb_recovery.CONTAINER]
    return len(nodes) > 1 and all(r.state in STOPPED for r in nodes)


def start_stopped(
    config: StackConfig,
    plan: DeploymentPlan,
    *,
    runner: Runner | None = None,
    log: Log = print,
    timeout: float = 600,
    poll: float = 5,
) -> list[health.ContainerHealth]:
    """Start every planned container that exists but does not run; the ones started (empty: none was)."""
    given, runner = runner, runner or run_script
    rows = health.check(config, plan, runner)
    unreachable = sorted({r.host for r in rows if r.state == "unreachable"})
    if unreachable:
        raise OperateError(f"cannot reach {', '.join(unreachable)} over SSH to look for stopped containers")
    stopped = [r for r in rows if r.state in STOPPED]
    if not stopped:
        return []
    galera = _stopped_galera(rows)
    if galera:
        log("every mariadb node is stopped: recovering the Galera cluster first (as mariadb-recovery does)")
        mariadb_recovery.recover(config, plan, runner=given, log=log)
    for host in dict.fromkeys(r.host for r in stopped):
        # `rows` keep the deploy order; the recovery above started the Galera nodes already.
        order = [
            r.container
            for r in stopped
            if r.host == host and not (galera and r.container == mariadb_recovery.CONTAINER)
        ]
        done = runner(config.inventory.hosts[host], start_script(order))
        if done.returncode != 0:
            raise OperateError(f"{host}: starting the stopped containers failed: {done.why}")
        log(f"{host}: started {len(order)} stopped containers")
    _wait_until_healthy(config, plan, {(r.host, r.container) for r in stopped}, runner, log, timeout, poll)
    return stopped


def _wait_until_healthy(
    config: StackConfig,
    plan: DeploymentPlan,
    started: set[tuple[str, str]],
    runner: Runner,
    log: Log,
    timeout: float,
    poll: float,
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        rows = [r for r in health.check(config, plan, runner) if (r.host, r.container) in started]
        waiting = [r for r in rows if not r.ok]
        if not waiting:
            log(f"the {len(started)} started containers run, their healthchecks passing")
            return
        if time.monotonic() > deadline:
            names = ", ".join(f"{r.host}/{r.container} ({r.state}, {r.health})" for r in waiting)
            raise OperateError(f"not running and healthy {timeout:.0f} s after being started: {names}")
        time.sleep(poll)


def table(rows: list[Stopped]) -> str:
    said = {"running": "stopped", "stopped": "was stopped", "missing": "missing"}
    return columns(("host", "container", "now"), [(r.host, r.container, said[r.was]) for r in rows])
