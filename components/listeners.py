"""The TCP ports the planned containers listen on, per host: what prechecks expect to find free, and
what the config check refuses when two containers claim one port on one host.

A container's ports come from the catalogue: its haproxy backends' ports (Kolla's `listen_port`, on
the host's own address) and the ports its healthcheck listens on or curls. The loadbalancer's
frontends bind the VIP, not the host's address, so they never collide with a backend's port.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from components.context import render_string
from components.render import container_context

if TYPE_CHECKING:
    from components.service import ServicePlan

_LISTEN = re.compile(r"healthcheck_listen\s+\S+\s+(\d+)")
_CURL = re.compile(r"healthcheck_curl\s+https?://(?:\[[^\]]+\]|[^/:\s]+):(\d+)")

HostPorts = dict[str, dict[int, set[str]]]  # host -> port -> container names


def backend_ports(services: Iterable[ServicePlan], host_contexts: Mapping[str, Mapping[str, Any]]) -> HostPorts:
    """Per host, each port a planned container listens on, and the containers that do."""
    ports: HostPorts = {}
    for service_plan in services:
        service = service_plan.service
        for rendered in service_plan.containers:
            container = service.container(rendered.key)
            ctx = container_context(host_contexts[rendered.host], container)
            found = {render_string(fe.listen_port or fe.port, ctx) for fe in container.haproxy if fe.enabled(ctx)}
            for line in rendered.healthcheck or ():
                found.update(_LISTEN.findall(line) + _CURL.findall(line))
            host_ports = ports.setdefault(rendered.host, {})
            for port in found:
                if str(port).strip().isdigit():
                    host_ports.setdefault(int(port), set()).add(rendered.container_name)
    return ports


def conflicts(ports: HostPorts, port_settings: Mapping[str, Any]) -> list[str]:
    """One problem per port two containers claim on one host, naming the globals set to that port."""
    problems = []
    for host, by_port in sorted(ports.items()):
        for port, owners in sorted(by_port.items()):
            if len(owners) < 2:
                continue
            keys = sorted(key for key, value in port_settings.items() if str(value) == str(port))
            claimed = " and ".join(sorted(owners))
            if keys:
                problems.append(
                    f"globals.{keys[0]} = {port}: expected a port no other container on {host} listens on "
                    f"({claimed} both listen on {port})"
                )
            else:
                problems.append(f"{host}: {claimed} both listen on port {port}; expected one listener per port")
    return problems
