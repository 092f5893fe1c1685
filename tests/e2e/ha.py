"""The HA stack on the test bed (Pulumi.ha.yaml: three controllers behind the VIP, one compute), and the
steps the HA end-to-end tests and bench/ha_control_plane.py both take: a change applied while a client
loop counts failed requests against the VIP, and what the hosts say afterwards (which containers were
replaced, when; Galera's and RabbitMQ's cluster sizes; who holds the VIP)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from testbed.deploy import PROJECT
from testbed.versions import ROOT
from tests.e2e import availability, cloud
from tests.e2e.cloud import container_starts

VIP = "10.77.0.10"
CONTROLLERS = ("h1", "h2", "h3")
COMPUTE = "h4"


def ha_config(custom_dir: Path | None = None, **globals_overrides: Any) -> dict[str, Any]:
    """Pulumi.ha.yaml's config with `globals_overrides`, and operator overrides read from `custom_dir`."""
    config = yaml.safe_load((ROOT / "Pulumi.ha.yaml").read_text())["config"]
    globals_ = {**config[f"{PROJECT}:globals"], **globals_overrides}
    if custom_dir is not None:
        globals_["node_custom_config"] = str(custom_dir)
    return {**config, f"{PROJECT}:globals": globals_}


def vip_holder(hosts: Iterable[Any]) -> str | None:
    for host in hosts:
        if f" {VIP}/" in host.ssh("ip -o addr show", check=False, timeout=30).stdout:
            return host.name
    return None


def galera_size(host: Any) -> int:
    """wsrep_cluster_size as the node sees it (0 when it does not answer)."""
    query = "docker exec mariadb mysql -uhaproxy -sN -e \"SHOW STATUS LIKE 'wsrep_cluster_size'\""
    out = host.ssh(query, check=False, timeout=60).stdout.split()
    return int(out[1]) if len(out) == 2 else 0


def rabbitmq_running(host: Any) -> list[str]:
    done = host.ssh("docker exec rabbitmq rabbitmqctl cluster_status --formatter json", check=False, timeout=60)
    try:
        return sorted(json.loads(done.stdout)["running_nodes"])
    except (ValueError, KeyError):
        return []


def preview_steps(stack: auto.Stack) -> set[tuple[str, str]]:
    """The preview's (operation, resource name) steps other than `same`."""
    steps: set[tuple[str, str]] = set()

    def on_event(event: auto.EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre and pre.metadata.op.value != "same":
            steps.add((pre.metadata.op.value, pre.metadata.urn.rsplit("::", 1)[-1]))

    stack.preview(on_event=on_event, on_output=lambda _: None)
    return steps


def wait_until(what: str, probe: Any, timeout: float = 300) -> Any:
    """As cloud.wait_until, with the longer wait a cluster member rejoining may take."""
    return cloud.wait_until(what, probe, timeout)


@dataclass
class Change:
    """One change applied to the running cloud and what it did."""

    name: str
    seconds: float
    report: availability.Report
    replaced: list[tuple[str, str, str]]  # (started at, host, container) of every replaced container
    changes: Mapping[str, int]
    failed: str = ""  # the up's error, when it was expected to fail

    def order(self, containers: Sequence[str]) -> list[str]:
        """The hosts, in the order their `containers` were replaced (each host once)."""
        return list(dict.fromkeys(host for _, host, name in sorted(self.replaced) if name in containers))

    def batches_do_not_overlap(self, containers: Sequence[str]) -> bool:
        """Every host's replacements started after the previous host's all had."""
        spans: dict[str, tuple[str, str]] = {}
        for started, host, name in sorted(self.replaced):
            if name in containers:
                first, _ = spans.get(host, (started, started))
                spans[host] = (first, started)
        ordered = sorted(spans.values())
        return all(later[0] > earlier[1] for earlier, later in itertools.pairwise(ordered))

    def row(self) -> dict[str, Any]:
        report = self.report
        return {
            "change": self.name,
            "seconds": round(self.seconds, 1),
            "requests": report.requests,
            "failed": len(report.failed),
            "slow": len(report.slow),
            "outage_s": round(report.outage_seconds(), 1),
            "replaced": len(self.replaced),
        }


def apply(
    name: str,
    stack: auto.Stack,
    hosts: Sequence[Any],
    probes: list[availability.Probe],
    token: str,
    *,
    expect_failure: bool = False,
) -> Change:
    """`up` with the client loop running; the containers it replaced, read on the hosts."""
    before = {h.name: container_starts(h) for h in hosts}
    failed = ""
    started = time.monotonic()
    with availability.measured(probes, token) as report:
        try:
            result = stack.up(on_output=lambda _: None)
            changes = dict(result.summary.resource_changes or {})
        except auto.CommandError as exc:
            if not expect_failure:
                raise
            failed, changes = str(exc), {}
    seconds = time.monotonic() - started
    after = {h.name: container_starts(h) for h in hosts}
    replaced = sorted(
        (after[h][n].split()[1], h, n) for h in after for n in after[h] if before[h].get(n) != after[h][n]
    )
    return Change(name, seconds, report, replaced, changes, failed)
