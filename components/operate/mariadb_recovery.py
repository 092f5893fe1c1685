"""kolla-ansible's `mariadb_recovery`: start a Galera cluster again after every node stopped.

Galera will not start a cluster by itself once all its nodes are down (after a power cut, say): one
node must bootstrap it, and it must be the one with the most recent data, or transactions are lost.
As Kolla's recover_cluster.yml does, over the program's pinned SSH and without Pulumi:

1. on every mariadb host, its `mariadb` container is stopped and the data's position is read: the
   seqno grastate.dat records at a clean shutdown, else what `--wsrep-recover` reports;
2. the host with the highest seqno (or the one the operator names) bootstraps a new primary component
   (`safe_to_bootstrap: 1`, a node started with --wsrep-new-cluster, as a new cluster's bootstrap does);
3. every other host's own container starts again and joins, one at a time, each waited for until Synced;
4. the bootstrap node hands over to the first host's own container, which rejoins.

The program's containers are started again, never re-created: a `deploy` afterwards changes nothing.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from components.config.inventory import Host
from components.config.stack import StackConfig
from components.deployment import DeploymentPlan
from components.operate.ssh import Completed, Runner, run_script
from components.render import RenderedContainer

Log = Callable[[str], None]
CONTAINER = "mariadb"
BOOTSTRAP_NODE = "mariadb_bootstrap"
RECOVERY_NODE = "mariadb_wsrep_recovery"
SYNCED = "SHOW STATUS LIKE 'wsrep_local_state_comment'"


class RecoveryError(RuntimeError):
    """The cluster could not be recovered; the message says where and why."""


@dataclass(frozen=True)
class Position:
    """Where a node's data stands: Galera's cluster uuid and the last committed seqno (-1: unknown)."""

    host: str
    uuid: str
    seqno: int
    source: str  # "grastate.dat" or "--wsrep-recover"


def _targets(config: StackConfig, plan: DeploymentPlan) -> list[tuple[Host, RenderedContainer]]:
    """Every host with a mariadb container, in inventory order, with that container as rendered."""
    rendered = {c.host: c for c in plan.placed(CONTAINER)}
    hosts = [h for h in config.inventory.group("mariadb") if h.name in rendered]
    if not hosts:
        raise RecoveryError("no host runs mariadb in this stack")
    return [(h, rendered[h.name]) for h in hosts]


def docker_run(
    name: str,
    container: RenderedContainer,
    *,
    env: Mapping[str, str] | None = None,
    detach: bool = False,
    user: str = "",
    image: str = "",
    command: str = "",
) -> str:
    """`docker run` of a one-off node or tool with `container`'s environment (and `env`) and volumes,
    never restarted: detached, or removed when it exits. `image` is a shell word (default: the
    container's image); `command`, if any, runs with bash -c."""
    args = ["docker", "run", "--name", name, "--network", "host", "--restart", "no"]
    args += ["-d"] if detach else ["--rm"]
    args += ["--user", user] if user else []
    for key, value in sorted({**container.environment, **(env or {})}.items()):
        args += ["-e", f"{key}={value}"]
    for volume in container.volumes:
        args += ["-v", volume]
    tail = f" {image or shlex.quote(container.image)}" + (f" bash -c {shlex.quote(command)}" if command else "")
    return " ".join(shlex.quote(a) for a in args) + tail


def volume_dir(name: str) -> str:
    """Shell that prints where the host's Docker keeps named volume `name`."""
    return f'docker volume inspect {name} | sed -n \'s/.*"Mountpoint": *"\\(.*\\)".*/\\1/p\''


def position_script(container: RenderedContainer) -> str:
    """Stop the node and print `grastate <uuid> <seqno>` and `recovered <uuid>:<seqno>` lines."""
    return f"""set -u
docker stop -t 60 {CONTAINER} >/dev/null 2>&1 || true
docker rm -f {BOOTSTRAP_NODE} {RECOVERY_NODE} >/dev/null 2>&1 || true
data=$({volume_dir("mariadb")})
logs=$({volume_dir("kolla_logs")})
if [ -f "$data/grastate.dat" ]; then
  echo "grastate $(sed -n 's/^uuid: *//p' "$data/grastate.dat") $(sed -n 's/^seqno: *//p' "$data/grastate.dat")"
fi
before=$(grep -c 'Recovered position' "$logs/mariadb/mariadb.log" 2>/dev/null || echo 0)
{docker_run(RECOVERY_NODE, container, env={"BOOTSTRAP_ARGS": "--wsrep-recover"})} >/dev/null 2>&1 || true
grep 'Recovered position' "$logs/mariadb/mariadb.log" 2>/dev/null | tail -n +$((before + 1)) | tail -1 \\
  | sed -n 's/.*Recovered position: *\\([^ ]*\\).*/recovered \\1/p'
"""


def parse_position(host: str, output: str) -> Position:
    """A node's position from position_script's output: grastate.dat's seqno where it has one (a
    clean shutdown), else --wsrep-recover's."""
    grastate = re.search(r"^grastate (\S*) (-?\d+)$", output, re.M)
    if grastate and int(grastate.group(2)) >= 0:
        return Position(host, grastate.group(1), int(grastate.group(2)), "grastate.dat")
    recovered = re.search(r"^recovered ([0-9a-f-]+):(-?\d+)$", output, re.M)
    if recovered:
        return Position(host, recovered.group(1), int(recovered.group(2)), "--wsrep-recover")
    return Position(host, grastate.group(1) if grastate else "", -1, "unknown")


def choose(positions: list[Position]) -> Position:
    """The node to bootstrap: the highest seqno, the first in inventory order on a tie (Kolla lets the
    last writer win, which is the same data)."""
    known = [p for p in positions if p.seqno >= 0]
    if not known:
        where = ", ".join(f"{p.host} ({p.source})" for p in positions)
        raise RecoveryError(
            f"no node's position could be read ({where}): name the node with the most recent data with --host"
        )
    best = max(p.seqno for p in known)
    return next(p for p in known if p.seqno == best)


def _wait_synced(name: str, login: str, timeout: int) -> str:
    """Until container `name` reports Synced (root's login on stdin, never on a command line)."""
    return f"""n=0
until printf '%s\\n' {shlex.quote(login)} | docker exec -i {name} mysql --defaults-extra-file=/dev/stdin -sN \\
    -e {shlex.quote(SYNCED)} 2>/dev/null | grep -qw Synced; do
  n=$((n + 1))
  if [ $n -ge {timeout} ]; then
    echo "{name} on $(hostname) is not Synced after {timeout} s; its last log lines:" >&2
    docker logs --tail 20 {name} >&2 2>&1
    exit 1
  fi
  sleep 1
done
"""


def bootstrap_script(container: RenderedContainer, login: str, timeout: int) -> str:
    return f"""set -eu
data=$({volume_dir("mariadb")})
sed -i 's/^safe_to_bootstrap:.*/safe_to_bootstrap: 1/' "$data/grastate.dat"
{docker_run(BOOTSTRAP_NODE, container, env={"BOOTSTRAP_ARGS": "--wsrep-new-cluster"}, detach=True)} >/dev/null
{_wait_synced(BOOTSTRAP_NODE, login, timeout)}echo "a new primary component runs on $(hostname)"
"""


def rejoin_script(login: str, timeout: int, *, hand_over: bool = False) -> str:
    stop = f"docker stop -t 60 {BOOTSTRAP_NODE} >/dev/null\ndocker rm -f {BOOTSTRAP_NODE} >/dev/null\n"
    return f"""set -eu
{stop if hand_over else ""}docker start {CONTAINER} >/dev/null
{_wait_synced(CONTAINER, login, timeout)}echo "mariadb on $(hostname) is Synced"
"""


def recover(
    config: StackConfig,
    plan: DeploymentPlan,
    *,
    host: str | None = None,
    runner: Runner | None = None,
    log: Log = print,
    read_others: bool = True,
) -> Position:
    """Recover the cluster; returns the position of the node that bootstrapped it. With `host` and not
    `read_others` (a restore: the others rejoin by a full state transfer), only that host's position is
    read."""
    run = runner or (lambda h, script: run_script(h, script, timeout=900))
    targets = _targets(config, plan)
    names = [h.name for h, _ in targets]
    if host is not None and host not in names:
        raise RecoveryError(f"--host {host}: not a mariadb host of this stack (those are {', '.join(names)})")
    ctx = plan.host_contexts[names[0]]
    login = f"[client]\nuser={ctx['database_user']}\npassword={ctx['database_password']}"
    timeout = int(ctx["database_max_timeout"]) * 5

    def on(target: Host, script: str, what: str) -> Completed:
        done = run(target, script)
        if done.returncode != 0:
            raise RecoveryError(f"{target.name}: {what} failed: {(done.stderr or done.stdout).strip()[-1500:]}")
        return done

    if not read_others and host is None:
        raise RecoveryError("the node to bootstrap from must be named when the others' positions are not read")
    positions = []
    for target, container in targets:
        if not read_others and target.name != host:
            continue
        output = on(target, position_script(container), "reading the data's position").stdout
        positions.append(parse_position(target.name, output))
        log(f"{target.name}: seqno {positions[-1].seqno} ({positions[-1].source})")
    chosen = next(p for p in positions if p.host == host) if host else choose(positions)
    by_name = dict(targets)
    first = next(h for h, _ in targets if h.name == chosen.host)
    log(f"{chosen.host} bootstraps the cluster (seqno {chosen.seqno})")
    on(first, bootstrap_script(by_name[first], login, timeout), "bootstrapping")
    for target, _ in targets:
        if target.name != chosen.host:
            on(target, rejoin_script(login, timeout), "rejoining")
            log(f"{target.name}: rejoined, Synced")
    on(first, rejoin_script(login, timeout, hand_over=True), "handing over to its own container")
    log(f"{chosen.host}: its own container rejoined, Synced; the cluster runs on {', '.join(names)}")
    return chosen
