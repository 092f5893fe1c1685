"""Kolla's haproxy-config role as one gathering step: every enabled service's `haproxy:` entries
(model.Frontend on its containers) become that service's services.d/<service>.cfg in the loadbalancer's
haproxy container, next to haproxy.cfg.

The style guide's rule for cross-cutting pieces: each service declares its own, this one component
gathers them and rejects duplicates (a frontend name, or a VIP:port, claimed twice).

Blast radius: a service's frontends and members live only in the haproxy container's files, so adding
a service, or a host to a service's group, changes haproxy's config hash and nothing else. The new hash
replaces the haproxy container (a few seconds without listeners on that host); Kolla instead restarts
haproxy in place through its loadbalancer handlers, backups first, then the host holding the VIP.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from components import proxysql
from components.catalogue.model import ConfigFile, Container, Frontend, Service
from components.config.inventory import Host, Inventory
from components.context import render_string, render_template
from components.placement import hosts_for, service_enabled
from components.render import (
    CustomConfig,
    RenderedContainer,
    config_hash,
    config_json,
    container_context,
    render_container,
    render_override,
)

LOADBALANCER = "loadbalancer"
HAPROXY = "haproxy"
SERVICE_TEMPLATE = "haproxy/haproxy_single_service_split.cfg.j2"
# Operator snippets copied into services.d as Kolla's loadbalancer role does (relative to node_custom_config).
CUSTOM_SERVICES_DIR = "haproxy/services.d/"


class FrontendConflict(ValueError):
    """Two haproxy entries claim the same frontend name or the same VIP:port."""


@dataclass(frozen=True)
class Member:
    """One `server` line: a host the owning container is placed on."""

    hostname: str
    address: str
    backup: bool


@dataclass(frozen=True)
class GatheredFrontend:
    """A Frontend rendered in its owner's context, with the VIP it binds and its members."""

    service: str
    container: str  # the key of the container it sends to
    name: str
    mode: str
    external: bool
    address: str
    port: str
    listen_port: str
    frontend_extra: tuple[str, ...]
    backend_extra: tuple[str, ...]
    member_options: str
    members: tuple[Member, ...]


def _lines(values: Iterable[str], ctx: Mapping[str, Any]) -> tuple[str, ...]:
    """Rendered extras; an entry that renders empty (a Jinja condition not met) is dropped."""
    return tuple(line for v in values if (line := render_string(v, ctx).strip()))


def _gather_one(
    service: Service, container: Container, fe: Frontend, hosts: tuple[Host, ...], ctx: Mapping[str, Any]
) -> GatheredFrontend:
    port = render_string(fe.port, ctx)
    return GatheredFrontend(
        service=service.name,
        container=container.key,
        name=fe.name,
        mode=fe.mode,
        external=fe.external,
        address=str(ctx["kolla_external_vip_address" if fe.external else "kolla_internal_vip_address"]),
        port=port,
        listen_port=render_string(fe.listen_port, ctx) if fe.listen_port else port,
        frontend_extra=_lines(fe.frontend_extra, ctx),
        backend_extra=_lines(fe.backend_extra, ctx),
        member_options=render_string(fe.member_options, ctx),
        members=tuple(
            Member(h.hostname, h.api_address, backup=fe.active_passive and i > 0) for i, h in enumerate(hosts)
        ),
    )


def _bound(fe: Frontend, ctx: Mapping[str, Any]) -> bool:
    """Kolla renders an entry when it is enabled, and an external one only with a separate external VIP."""
    if not fe.enabled(ctx):
        return False
    return not fe.external or str(ctx["haproxy_enable_external_vip"]).lower() in {"true", "yes", "1", "on"}


def gather_frontends(
    services: Iterable[Service],
    inventory: Inventory,
    ctx: Mapping[str, Any],
    host_contexts: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, list[GatheredFrontend]]:
    """Every enabled service's enabled entries, by service in catalogue order, as `ctx`'s host renders them.

    Raises FrontendConflict naming both owners when a name or a VIP:port is claimed twice."""
    by_name: dict[str, GatheredFrontend] = {}
    # haproxy.cfg's own status frontend listens on the internal VIP too.
    status = (str(ctx["kolla_internal_vip_address"]), str(ctx["haproxy_monitor_port"]))
    by_bind: dict[tuple[str, str], str] = {status: f"{LOADBALANCER}/status (haproxy_monitor_port)"}
    gathered: dict[str, list[GatheredFrontend]] = {}
    for service in services:
        if not service_enabled(service, ctx):
            continue
        for container in service.containers:
            owner_ctx = container_context(ctx, container)
            if not container.enabled(owner_ctx):
                continue
            hosts = hosts_for(service, container, inventory, ctx, host_contexts)
            for fe in container.haproxy:
                if not _bound(fe, owner_ctx):
                    continue
                entry = _gather_one(service, container, fe, hosts, owner_ctx)
                if entry.name in by_name:
                    other = by_name[entry.name]
                    raise FrontendConflict(
                        f"haproxy frontend {entry.name!r} is declared by both {other.service} and {service.name}: "
                        "frontend names must be unique"
                    )
                bind = (entry.address, entry.port)
                if bind in by_bind:
                    raise FrontendConflict(
                        f"haproxy frontends {by_bind[bind]} and {service.name}/{entry.name} both bind "
                        f"{entry.address}:{entry.port}: each VIP:port takes one frontend"
                    )
                by_name[entry.name] = entry
                by_bind[bind] = f"{service.name}/{entry.name}"
                gathered.setdefault(service.name, []).append(entry)
    return gathered


def service_file_source(service: str) -> str:
    """Kolla's /etc/kolla/haproxy/services.d/<service>.cfg, flattened: the config writer
    (scripts.write_config_dir) takes no subdirectories, so the file sits in /etc/kolla/haproxy/ and its
    config.json entry puts it at /etc/haproxy/services.d/<service>.cfg, where Kolla's does."""
    return f"services.d_{service}.cfg"


def _service_files(
    gathered: Mapping[str, list[GatheredFrontend]], ctx: Mapping[str, Any], custom: CustomConfig
) -> tuple[dict[str, str], list[ConfigFile]]:
    """services.d contents (generated, then the operator's snippets, which win on the same name)."""
    texts: dict[str, str] = {}
    for service, frontends in gathered.items():
        file_ctx = {**ctx, "haproxy_service_frontends": [dataclasses.asdict(f) for f in frontends]}
        texts[f"{service}.cfg"] = render_template(SERVICE_TEMPLATE, file_ctx)
    for path, text in sorted(custom.files.items()):
        name = path.removeprefix(CUSTOM_SERVICES_DIR)
        if path.startswith(CUSTOM_SERVICES_DIR) and name.endswith(".cfg") and "/" not in name:
            texts[name] = render_override(f"{custom.root}/{path}", text, ctx)
    files: dict[str, str] = {}
    entries: list[ConfigFile] = []
    for name, text in texts.items():
        source = service_file_source(name.removesuffix(".cfg"))
        files[source] = text
        entries.append(ConfigFile(SERVICE_TEMPLATE, f"/etc/haproxy/services.d/{name}", "root", "0700", source=source))
    return files, entries


def with_service_files(
    rendered: RenderedContainer,
    container: Container,
    ctx: Mapping[str, Any],
    gathered: Mapping[str, list[GatheredFrontend]],
    custom: CustomConfig,
) -> RenderedContainer:
    """The haproxy container with its services.d files added to its files, config.json and hash."""
    ctx = container_context(ctx, container)
    extra, entries = _service_files(gathered, ctx, custom)
    active = [f for f in container.files if f.when(ctx)]
    files = {**{k: v for k, v in rendered.files.items() if k != "config.json"}, **extra}
    files["config.json"] = config_json(container, [*active, *entries], ctx)
    return dataclasses.replace(rendered, files=files, config_hash=config_hash(files))


def render_loadbalancer(
    services: Iterable[Service],
    inventory: Inventory,
    host_contexts: Mapping[str, Mapping[str, Any]],
    service: Service,
    container: Container,
    host_ctx: Mapping[str, Any],
    custom: CustomConfig,
    secrets: list[str],
) -> RenderedContainer:
    """render_container for the loadbalancer's containers: the gathered frontends are in the render
    context (`haproxy_services`), haproxy gets one services.d file per service, and proxysql the
    users and rules files of every service's databases (components/proxysql.py)."""
    gathered = gather_frontends(services, inventory, host_ctx, host_contexts)
    ctx = {**host_ctx, "haproxy_services": {s: [dataclasses.asdict(f) for f in fs] for s, fs in gathered.items()}}
    rendered = render_container(service, container, ctx, custom, secrets)
    if container.key == proxysql.PROXYSQL:
        return proxysql.with_shard_files(rendered, container, host_ctx, services)
    if container.key != HAPROXY:
        return rendered
    return with_service_files(rendered, container, ctx, gathered, custom)
