"""Which hosts run which containers: one pure function, as kolla-ansible's filters decide it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.catalogue.model import Container, Service
from components.config.inventory import Host, Inventory


def service_enabled(service: Service, ctx: Mapping[str, Any]) -> bool:
    """A service is on when its enable flag is (the `common` service has none: always on)."""
    return not service.enable_flag or bool(ctx[service.enable_flag])


def hosts_for(
    service: Service,
    container: Container,
    inventory: Inventory,
    ctx: Mapping[str, Any],
    host_contexts: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[Host, ...]:
    """The hosts of the container's group, in inventory order, when the service and container are on;
    `host_in_groups`, where the container has one, keeps the hosts whose own context it accepts."""
    if not service_enabled(service, ctx) or not container.enabled(ctx):
        return ()
    hosts = inventory.group(container.group)
    if container.host_in_groups is None:
        return hosts
    if host_contexts is None:
        raise ValueError(f"{container.container_name}: host_in_groups needs every host's context")
    return tuple(h for h in hosts if container.host_in_groups(host_contexts[h.name]))


def job_host(group: str, inventory: Inventory) -> Host:
    """Run-once jobs go to the first host of the group, as Kolla's `run_once` + `groups[...][0]` do."""
    hosts = inventory.group(group)
    if not hosts:
        raise ValueError(f"inventory.groups.{group}: no host to run its jobs on")
    return hosts[0]
