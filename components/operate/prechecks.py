"""Kolla's prechecks, without Pulumi: per inventory host, over the program's pinned SSH, check that
the host answers, that Docker answers, that the ports the planned containers listen on are free (or
held by our own containers), and on compute hosts whether /dev/kvm exists.

Facts are gathered by one script per host; the decisions (`evaluate`) are pure, so tests feed them
fake facts. The ports come from the plan: each placed container's haproxy backend ports (Kolla's
`listen_port`), the ports its healthcheck listens on or curls, and the loadbalancer's frontends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from components import listeners
from components.config.stack import StackConfig
from components.deployment import DeploymentPlan
from components.operate.columns import columns
from components.operate.ssh import SSH_UNREACHABLE, Completed, Runner, run_script

FACTS_SCRIPT = r"""
echo "docker=$(docker info --format '{{.ServerVersion}}' 2>/dev/null)"
if [ -e /dev/kvm ]; then echo kvm=yes; else echo kvm=no; fi
echo "running=$(docker ps --format '{{.Names}}' 2>/dev/null | tr '\n' ' ')"
# Listening TCP sockets (state 0A) from /proc: no dependency on ss or netstat; ports in hex.
listening=$(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4 == "0A" {split($2, a, ":"); print a[2]}')
echo "listening=$(echo "$listening" | sort -u | tr '\n' ' ')"
"""


@dataclass(frozen=True)
class HostExpectation:
    """What the plan puts on a host: ports -> the containers listening there; whether it is a compute
    host and, when nova_compute runs there, its virt type."""

    host: str
    ports: Mapping[int, frozenset[str]] = field(default_factory=dict)
    compute: bool = False
    virt_type: str | None = None


@dataclass(frozen=True)
class HostFacts:
    reachable: bool
    error: str = ""
    docker: str = ""  # the engine's version; empty when docker does not answer
    kvm: bool = False
    running: frozenset[str] = frozenset()
    listening: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Check:
    host: str
    name: str
    ok: bool
    detail: str


def parse_facts(result: Completed) -> HostFacts:
    """The facts script's `key=value` lines; ssh's own failure (255) means unreachable."""
    if result.returncode == SSH_UNREACHABLE:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        return HostFacts(reachable=False, error=lines[-1] if lines else "ssh failed")
    values = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    listening = frozenset(int(port, 16) for port in values.get("listening", "").split() if port)
    return HostFacts(
        reachable=True,
        docker=values.get("docker", "").strip(),
        kvm=values.get("kvm", "").strip() == "yes",
        running=frozenset(values.get("running", "").split()),
        listening=listening,
    )


def _ports_check(expect: HostExpectation, facts: HostFacts) -> Check:
    taken = []
    for port in sorted(expect.ports):
        owners = expect.ports[port]
        if port in facts.listening and not owners & facts.running:
            taken.append(f"{port} ({', '.join(sorted(owners))})")
    if taken:
        return Check(expect.host, "ports", False, "in use by another process: " + "; ".join(taken))
    return Check(expect.host, "ports", True, f"{len(expect.ports)} free or held by our containers")


def _kvm_check(expect: HostExpectation, facts: HostFacts) -> Check:
    if facts.kvm:
        return Check(expect.host, "kvm", True, "/dev/kvm present")
    if expect.virt_type == "kvm":
        return Check(
            expect.host,
            "kvm",
            False,
            "no /dev/kvm but nova_compute_virt_type is kvm: set `nova_compute_virt_type: qemu` in globals",
        )
    if expect.virt_type is None:
        return Check(expect.host, "kvm", True, "no /dev/kvm (nova_compute is not placed here)")
    return Check(expect.host, "kvm", True, f"no /dev/kvm; nova_compute_virt_type is {expect.virt_type}")


def evaluate(expect: HostExpectation, facts: HostFacts) -> list[Check]:
    """The checks' verdicts for one host. An unreachable host fails its ssh check and nothing else is
    judged; a host whose Docker does not answer is not judged on ports."""
    if not facts.reachable:
        return [Check(expect.host, "ssh", False, facts.error or "unreachable")]
    checks = [Check(expect.host, "ssh", True, "reachable, host key as pinned")]
    if facts.docker:
        checks.append(Check(expect.host, "docker", True, f"engine {facts.docker}"))
        checks.append(_ports_check(expect, facts))
    else:
        checks.append(Check(expect.host, "docker", False, "`docker info` does not answer (run bootstrap-servers)"))
    if expect.compute:
        checks.append(_kvm_check(expect, facts))
    return checks


def _container_ports(plan: DeploymentPlan, config: StackConfig) -> dict[str, dict[int, set[str]]]:
    ports = listeners.backend_ports(plan.services, plan.host_contexts)
    _loadbalancer_ports(plan, config, ports)
    return ports


def _loadbalancer_ports(plan: DeploymentPlan, config: StackConfig, ports: dict[str, dict[int, set[str]]]) -> None:
    """haproxy listens on every gathered frontend's port on the hosts it runs on."""
    from components import haproxy
    from components.catalogue import SERVICES

    lb_hosts = {
        c.host: c.container_name
        for s in plan.services
        if s.service.name == haproxy.LOADBALANCER
        for c in s.containers
        if c.container_name == "haproxy"
    }
    if not lb_hosts:
        return
    gathered = haproxy.gather_frontends(SERVICES, config.inventory, plan.base, plan.host_contexts)
    for entries in gathered.values():
        for entry in entries:
            if str(entry.port).isdigit():
                for host, name in lb_hosts.items():
                    ports.setdefault(host, {}).setdefault(int(entry.port), set()).add(name)


def expectations(config: StackConfig, plan: DeploymentPlan) -> dict[str, HostExpectation]:
    ports = _container_ports(plan, config)
    compute = set(config.inventory.groups.get("compute", ()))
    nova_compute = {c.host for c in plan.placed("nova_compute")}
    virt_type = str(plan.base.get("nova_compute_virt_type", "kvm"))
    return {
        name: HostExpectation(
            host=name,
            ports={p: frozenset(owners) for p, owners in ports.get(name, {}).items()},
            compute=name in compute,
            virt_type=virt_type if name in nova_compute else None,
        )
        for name in config.inventory.hosts
    }


def run_prechecks(config: StackConfig, plan: DeploymentPlan, runner: Runner | None = None) -> list[Check]:
    runner = runner or run_script
    checks = []
    for name, expect in expectations(config, plan).items():
        facts = parse_facts(runner(config.inventory.hosts[name], FACTS_SCRIPT))
        checks.extend(evaluate(expect, facts))
    return checks


def table(checks: list[Check]) -> str:
    cells = [(c.host, c.name, "ok" if c.ok else "FAIL", c.detail) for c in checks]
    return columns(("host", "check", "ok", "detail"), cells)
