"""A service's gate on one host, and a drain per container: what stands between its containers there
and the next batch's.

Each (service, host) gets one remote command, its gate, whose `triggers` are the ids of the service's
containers on that host: the engine replaces it whenever one of them is replaced and creates it after
the new containers, and the next batch's containers wait for its create, which waits until they serve
again: the `before_ready` hook, the ready containers' healthchecks (or ready checks) passing, the load
balancers' servers made ready and seen UP, then the `after_ready` hook.

Taking a host out of service is per container: each container that the load balancers send to, or
that the service's `before_stop` hook guards, gets a drain whose only trigger is that container's id
and whose delete drains that container's servers in every load balancer (no new requests, those in
flight finish) and runs `before_stop` (RabbitMQ's drain). It is a delete-before-replace dependent of
its own container only: the engine deletes a replaced resource's dependents in that resource's own
replace chain, but a dependent shared by several replaced resources only in the first one's chain, so
a gate shared by keystone and keystone_fernet drained keystone only when keystone_fernet happened to go
first (tests/testbed/test_provider_rules.py shows the engine's rule on the test bed).

Load balancers are reached through their stats page (`stats admin`, with the stats credentials) from
kolla_toolbox on the host; one that cannot be reached is skipped with a warning, since it serves
nothing either. Everything here is pure: the plan's text, turned into resources by components/service.py.
"""

from __future__ import annotations

import base64
import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components import scripts
from components.catalogue.model import Rollout
from components.context import render_string
from components.render import RenderedContainer

# How long a drained server's sessions may take to finish before the host is stopped anyway.
DRAIN_TIMEOUT = 60
# How long the load balancers get to see a ready server UP (haproxy: `rise 2` checks, 2 s apart).
UP_TIMEOUT = 120
HOOKS = ("before_ready", "after_ready", "before_stop")


@dataclass(frozen=True)
class LoadBalancers:
    """The stats pages of every load balancer (haproxy) and the credentials to change server states."""

    stats_urls: tuple[tuple[str, str], ...]  # (host, url)
    user: str
    password: str


@dataclass(frozen=True)
class Drain:
    """What runs before one container stops: its delete script and the stdin it reads (secrets)."""

    container: str  # the container's key
    delete: str
    stdin: str


@dataclass(frozen=True)
class Gate:
    """One (service, host) gate, rendered: its create and the stdin it reads (it holds secrets), and the
    drains of the host's containers."""

    service: str
    host: str
    create: str
    stdin: str
    waits_for: tuple[str, ...]  # the containers whose readiness it awaits (for messages and tests)
    drains: tuple[Drain, ...] = ()
    secret_texts: tuple[str, ...] = ()  # what its and its drains' stdin carry, decoded: where masks are found


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _haproxy(action: str, stdin_var: str) -> str:
    """Set the servers of the JSON in `stdin_var` (base64) to `action` in every load balancer and wait."""
    return f"printf '%s' \"${stdin_var}\" | base64 -d | {scripts.KP} haproxy {action}"


def _wait_ready(rendered: RenderedContainer, timeout: int, command: str, check_var: str | None) -> str:
    """`kp wait-ready` for the container: its check's stdin, if any, from `check_var` (base64)."""
    args = f"{shlex.quote(rendered.container_name)} {timeout}" + (f" {shlex.quote(command)}" if command else "")
    if check_var is None:
        return f"{scripts.KP} wait-ready {args} </dev/null"
    return f"printf '%s' \"${check_var}\" | base64 -d | {scripts.KP} wait-ready {args}"


def _lb_params(lb: LoadBalancers, servers: Sequence[tuple[str, str]], timeout: int) -> str:
    params = {
        "lbs": [list(pair) for pair in lb.stats_urls],
        "user": lb.user,
        "password": lb.password,
        "servers": [list(pair) for pair in servers],
        "timeout": timeout,
    }
    return json.dumps(params, sort_keys=True)


def _stdin(lines: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """The shell that reads `lines` (variable, text) from stdin, and that stdin (each text in base64)."""
    read = "".join(f"IFS= read -r {var} || true\n" for var, _ in lines)
    return read, "".join(f"{_b64(text)}\n" for _, text in lines)


def _drain(
    container: str, servers: Sequence[tuple[str, str]], lb: LoadBalancers | None, before_stop: str
) -> tuple[Drain, tuple[str, ...]]:
    """The drain of one container, and the secret texts its stdin carries."""
    lines = [("lb_drain", _lb_params(lb, servers, DRAIN_TIMEOUT))] if lb is not None and servers else []
    read, stdin = _stdin(lines)
    # Best effort: a host being taken down must not be kept up by a load balancer that is gone.
    drain = _haproxy("drain", "lb_drain") + " || echo 'warning: the load balancers did not drain it' >&2\n"
    stop = f"{{ {before_stop}\n}} || echo 'warning: before_stop failed' >&2\n"
    delete = "set -u\n" + read + (drain if lines else "") + (stop if before_stop else "") + "exit 0\n"
    return Drain(container, delete, stdin), tuple(text for _, text in lines)


def gate(
    rollout: Rollout,
    service: str,
    host: str,
    containers: Sequence[RenderedContainer],
    ctx: Mapping[str, Any],
    lb: LoadBalancers | None,
    servers: Mapping[str, Sequence[tuple[str, str]]],
) -> Gate:
    """The gate of `service` on `host`: `containers` are its containers there, `servers` the (backend,
    server) pairs the load balancers `lb` send to each of them, by container key."""
    every_server = [pair for rendered in containers for pair in servers.get(rendered.key, ())]
    lines: list[tuple[str, str]] = []  # (shell variable, secret text) in stdin order
    if lb is not None and every_server:
        lines.append(("lb_ready", _lb_params(lb, every_server, UP_TIMEOUT)))
    wanted = set(rollout.ready) if rollout.ready is not None else None
    waits: list[tuple[RenderedContainer, str | None, str]] = []
    for rendered in containers:
        check = rollout.ready_checks.get(rendered.key)
        if wanted is not None and rendered.key not in wanted:
            continue
        if check is not None:
            var = f"ready_{len(waits)}"
            lines.append((var, "".join(render_string(line, ctx) + "\n" for line in check.stdin)))
            waits.append((rendered, var, render_string(check.command, ctx)))
        elif rendered.healthcheck is not None:
            waits.append((rendered, None, rendered.healthcheck[1]))
        elif wanted is not None:
            waits.append((rendered, None, ""))
    read, stdin = _stdin(lines)
    hooks = {name: render_string(getattr(rollout, name), ctx).strip() for name in HOOKS}
    timeout = int(rollout.ready_timeout)
    create = (
        "set -eu\n"
        + read
        + (f"{hooks['before_ready']}\n" if hooks["before_ready"] else "")
        + "".join(f"{_wait_ready(r, timeout, command, var)}\n" for r, var, command in waits)
        + (_haproxy("ready", "lb_ready") + "\n" if lb is not None and every_server else "")
        + (f"{hooks['after_ready']}\n" if hooks["after_ready"] else "")
        + f"echo '{service} serves on {host}'\n"
    )
    # A container is drained when the load balancers send to it; `before_stop` guards every container
    # of the host (whichever stops first runs it; the hooks are idempotent).
    drains, drain_texts = [], []
    for rendered in containers:
        own = servers.get(rendered.key, ())
        if (lb is not None and own) or hooks["before_stop"]:
            drain, texts = _drain(rendered.key, own, lb, hooks["before_stop"])
            drains.append(drain)
            drain_texts += texts
    return Gate(
        service=service,
        host=host,
        create=create,
        stdin=stdin,
        waits_for=tuple(r.container_name for r, _, _ in waits),
        drains=tuple(drains),
        secret_texts=tuple(dict.fromkeys([*(text for _, text in lines), *drain_texts])),
    )


def before_start(rollout: Rollout, ctx: Mapping[str, Any]) -> str:
    """The host's `before_start` hook, rendered ("" when it has none there)."""
    return render_string(rollout.before_start, ctx).strip()
