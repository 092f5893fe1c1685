"""A service's gate on one host: what stands between its containers there and the next batch's.

Each (service, host) gets one remote command whose `triggers` are the ids of the service's containers on
that host, so the engine replaces it exactly when one of them is replaced, deleting it first and
creating it after the new containers (a delete-before-replace dependent: shown on the test bed by
tests/testbed/test_provider_rules.py). Its delete takes the host out of service before its containers
stop; its create waits until they serve again, and the next batch's containers wait for its create:

- delete: every load balancer drains the host's servers in the service's backends (no new requests,
  those in flight finish), then the service's `before_stop` hook (RabbitMQ's drain);
- create: the `before_ready` hook, the ready containers' healthchecks (or ready checks) passing, the
  load balancers' servers made ready and seen UP, then the `after_ready` hook.

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
class Gate:
    """One (service, host) gate, rendered: its commands and the stdin both read (it holds secrets)."""

    service: str
    host: str
    create: str
    delete: str
    stdin: str
    waits_for: tuple[str, ...]  # the containers whose readiness it awaits (for messages and tests)
    secret_texts: tuple[str, ...] = ()  # what its stdin carries, decoded: where its masks are found


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


def gate(
    rollout: Rollout,
    service: str,
    host: str,
    containers: Sequence[RenderedContainer],
    ctx: Mapping[str, Any],
    lb: LoadBalancers | None,
    servers: Sequence[tuple[str, str]],
) -> Gate:
    """The gate of `service` on `host`: `containers` are its containers there, `servers` the (backend,
    server) pairs the load balancers `lb` send to them."""
    lines: list[tuple[str, str]] = []  # (shell variable, secret text) in stdin order
    if lb is not None and servers:
        params = {
            "lbs": [list(pair) for pair in lb.stats_urls],
            "user": lb.user,
            "password": lb.password,
            "servers": [list(pair) for pair in servers],
        }
        lines.append(("lb_drain", json.dumps({**params, "timeout": DRAIN_TIMEOUT}, sort_keys=True)))
        lines.append(("lb_ready", json.dumps({**params, "timeout": UP_TIMEOUT}, sort_keys=True)))
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
    read = "".join(f"IFS= read -r {var} || true\n" for var, _ in lines)
    stdin = "".join(f"{_b64(text)}\n" for _, text in lines)
    hooks = {name: render_string(getattr(rollout, name), ctx).strip() for name in HOOKS}
    has_lb = any(var == "lb_drain" for var, _ in lines)
    timeout = int(rollout.ready_timeout)
    create = (
        "set -eu\n"
        + read
        + (f"{hooks['before_ready']}\n" if hooks["before_ready"] else "")
        + "".join(f"{_wait_ready(r, timeout, command, var)}\n" for r, var, command in waits)
        + (_haproxy("ready", "lb_ready") + "\n" if has_lb else "")
        + (f"{hooks['after_ready']}\n" if hooks["after_ready"] else "")
        + f"echo '{service} serves on {host}'\n"
    )
    # Best effort: a host being taken down must not be kept up by a load balancer that is gone.
    drain = _haproxy("drain", "lb_drain") + " || echo 'warning: the load balancers did not drain it' >&2\n"
    stop = f"{{ {hooks['before_stop']}\n}} || echo 'warning: before_stop failed' >&2\n"
    delete = "set -u\n" + read + (drain if has_lb else "") + (stop if hooks["before_stop"] else "") + "exit 0\n"
    return Gate(
        service=service,
        host=host,
        create=create,
        delete=delete,
        stdin=stdin,
        waits_for=tuple(r.container_name for r, _, _ in waits),
        secret_texts=tuple(text for _, text in lines),
    )


def before_start(rollout: Rollout, ctx: Mapping[str, Any]) -> str:
    """The host's `before_start` hook, rendered ("" when it has none there)."""
    return render_string(rollout.before_start, ctx).strip()
