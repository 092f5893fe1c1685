"""A bounded client loop against the cloud's VIP that counts failed requests while a change runs.

Availability is measured, not assumed: while an operation runs (a reconfigure, a host stopping), one
thread per probe sends requests at a fixed rate (a few per second in all) to the test bed's VIP and
records each answer. A request fails when it raises, times out or answers other than 2xx. The loop is
bounded in rate and in time, and only ever talks to the addresses it is given (the test bed's).

Probes: a keystone token (POST /v3/auth/tokens: keystone, memcached, MariaDB), and, with that token,
nova's server list, neutron's network list and glance's image list (each API, keystone's token
validation, the database), and, given a server, nova's diagnostics of it (a synchronous RPC through
RabbitMQ to its compute host). A request that takes longer than SLOW seconds is counted as slow.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import ip_address, ip_network
from typing import Any
from urllib.parse import urlsplit

TESTBED = ip_network("10.77.0.0/24")
# As long as an OpenStack client would reasonably wait; longer is a failure, and SLOW is reported.
REQUEST_TIMEOUT = 30.0
SLOW = 5.0


@dataclass(frozen=True)
class Probe:
    name: str
    method: str
    url: str
    body: bytes | None = None
    needs_token: bool = True


@dataclass
class Outcome:
    probe: str
    started: float
    seconds: float
    ok: bool
    detail: str = ""


@dataclass
class Report:
    """What the loop saw: every outcome, and the derived figures."""

    outcomes: list[Outcome] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.outcomes)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def slow(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.ok and o.seconds > SLOW]

    def failures_by_probe(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.failed:
            counts[outcome.probe] = counts.get(outcome.probe, 0) + 1
        return counts

    def outage_seconds(self) -> float:
        """From the first failed request's start to the end of the last one (0 without failures)."""
        if not self.failed:
            return 0.0
        first = min(o.started for o in self.failed)
        last = max(o.started + o.seconds for o in self.failed)
        return last - first

    def summary(self) -> str:
        failed = self.failed
        text = f"{self.requests} requests in {self.ended - self.started:.0f} s, {len(failed)} failed"
        text += f", {len(self.slow)} slower than {SLOW:.0f} s"
        if failed:
            text += f" ({self.failures_by_probe()}; {self.outage_seconds():.1f} s from first to last failure;"
            text += f" first: {failed[0].probe}: {failed[0].detail[:160]})"
        return text


def _require_testbed(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if ip_address(host) not in TESTBED:
        raise ValueError(f"the availability loop only targets the test bed ({TESTBED}), not {host}")


def _request(probe: Probe, token: str | None) -> tuple[bool, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if probe.needs_token and token:
        headers["X-Auth-Token"] = token
    request = urllib.request.Request(probe.url, data=probe.body, method=probe.method, headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=REQUEST_TIMEOUT) as response:
            response.read()
            return 200 <= response.status < 300, str(response.status)
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}: {exc.read()[:200]!r}"
    except Exception as exc:  # a connection reset, refused, timed out: all count as failed
        return False, f"{type(exc).__name__}: {exc}"


def token_probe(keystone: str, user: str, password: str, project: str = "admin") -> Probe:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "domain": {"name": "Default"}, "password": password}},
            },
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}},
        }
    }
    return Probe("keystone token", "POST", f"{keystone}/v3/auth/tokens", json.dumps(body).encode(), False)


def issue_token(keystone: str, user: str, password: str) -> str:
    probe = token_probe(keystone, user, password)
    _require_testbed(probe.url)
    request = urllib.request.Request(
        probe.url, data=probe.body, method="POST", headers={"Content-Type": "application/json"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=REQUEST_TIMEOUT) as response:
        return response.headers["X-Subject-Token"]


def cloud_probes(vip: str, user: str, password: str, server_id: str = "") -> list[Probe]:
    """The standard probes through the internal VIP (Kolla's default ports)."""
    keystone = f"http://{vip}:5000"
    probes = [
        token_probe(keystone, user, password),
        Probe("nova servers", "GET", f"http://{vip}:8774/v2.1/servers"),
        Probe("neutron networks", "GET", f"http://{vip}:9696/v2.0/networks"),
        Probe("glance images", "GET", f"http://{vip}:9292/v2/images"),
    ]
    if server_id:
        probes.append(Probe("nova diagnostics (RPC)", "GET", f"http://{vip}:8774/v2.1/servers/{server_id}/diagnostics"))
    return probes


def _loop(probe: Probe, token: str, period: float, stop: threading.Event, report: Report, lock: threading.Lock) -> None:
    next_at = time.monotonic()
    while not stop.is_set():
        started = time.time()
        ok, detail = _request(probe, token)
        outcome = Outcome(probe.name, started, time.time() - started, ok, detail)
        with lock:
            report.outcomes.append(outcome)
        next_at += period
        stop.wait(max(0.0, next_at - time.monotonic()))


@contextmanager
def measured(probes: list[Probe], token: str, rate: float = 4.0, max_seconds: float = 1800.0) -> Iterator[Report]:
    """Run the probes at `rate` requests per second in all (spread over them) while the block runs, at
    most `max_seconds`; the report is complete when the block exits."""
    for probe in probes:
        _require_testbed(probe.url)
    report = Report(started=time.time())
    stop = threading.Event()
    lock = threading.Lock()
    period = len(probes) / rate
    threads = [threading.Thread(target=_loop, args=(p, token, period, stop, report, lock), daemon=True) for p in probes]
    for thread in threads:
        thread.start()
    timer = threading.Timer(max_seconds, stop.set)
    timer.start()
    try:
        yield report
    finally:
        stop.set()
        timer.cancel()
        for thread in threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)
        report.ended = time.time()
        report.outcomes.sort(key=lambda o: o.started)


def answering_again(probe: Probe, token: str, deadline: float, streak: int = 4) -> float | None:
    """Send `probe` again and again (one at a time, each bounded by REQUEST_TIMEOUT) until `streak` in a
    row succeed (behind a load balancer, every backend has had its turn), or `deadline` (a time.time())
    passes; the start of the first of that streak, else None."""
    _require_testbed(probe.url)
    run_started: float | None = None
    run = 0
    while time.time() < deadline:
        started = time.time()
        if _request(probe, token)[0]:
            run_started, run = (run_started or started), run + 1
            if run >= streak:
                return run_started
        else:
            run_started, run = None, 0
        time.sleep(max(0.0, 1.0 - (time.time() - started)))
    return None


def admin_credentials(stack_config: dict[str, Any]) -> tuple[str, str]:
    """(user, password) of the stack's admin, from `stack.get_all_config()`."""
    passwords = json.loads(stack_config["kolla-pulumi:passwords"].value)
    return "admin", passwords["keystone_admin_password"]
