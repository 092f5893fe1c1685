"""Kolla's proxysql-config role as one gathering step: every enabled service's database jobs
(model.DatabaseJob) become that service's users/<service>.yaml and rules/<service>.yaml in the
loadbalancer's proxysql container, next to proxysql.yaml.

Kolla has each role declare `<svc>_database_shard` (users with their passwords, one rule per schema)
beside the database tasks that create the same users and schemas. Here the jobs are the one
declaration: a job's user (with its password) is a ProxySQL user, its database a schema rule routed
to shard 0's writer hostgroup, and the shard root user (a `shard_root` job) a user routed there by
default (Kolla's mariadb_shards_info users, in users/mariadb.yaml).

Blast radius: these files live only in the proxysql container, so adding a service with a database
replaces proxysql on the loadbalancer hosts and leaves haproxy and keepalived alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from components.catalogue.model import ConfigFile, Container, DatabaseJob, Service
from components.context import render_string, render_template
from components.placement import service_enabled
from components.render import RenderedContainer, config_hash, config_json, container_context

PROXYSQL = "proxysql"
USERS_TEMPLATE = "proxysql/users.yaml.j2"
RULES_TEMPLATE = "proxysql/rules.yaml.j2"


@dataclass(frozen=True)
class DatabaseShard:
    """Kolla's `<project>_database_shard` for one service: `users` and `rules` as its templates read them."""

    users: tuple[dict[str, str], ...]
    rules: tuple[dict[str, str], ...]


def _service_shard(service: Service, ctx: Mapping[str, Any]) -> DatabaseShard:
    shard_id = str(ctx["mariadb_default_database_shard_id"])
    users: dict[str, dict[str, str]] = {}
    rules: dict[str, dict[str, str]] = {}
    for job in service.jobs:
        if not isinstance(job, DatabaseJob) or not (job.database or job.shard_root):
            continue  # users without a schema (the monitor user) never connect through ProxySQL
        user = render_string(job.user, ctx)
        password_key = render_string(job.password_key, ctx)
        entry = {"user": user, "password": str(ctx[password_key]) if password_key else ""}
        if job.shard_root:
            entry["shard_id"] = shard_id
        users.setdefault(user, entry)
        if job.database:
            schema = render_string(job.database, ctx)
            rules.setdefault(schema, {"schema": schema, "shard_id": shard_id})
    return DatabaseShard(users=tuple(users.values()), rules=tuple(rules.values()))


def gather_database_shards(services: Iterable[Service], ctx: Mapping[str, Any]) -> dict[str, DatabaseShard]:
    """Every enabled service's users and rules, by service in catalogue order (services without either
    are left out, as Kolla writes no file for them)."""
    gathered: dict[str, DatabaseShard] = {}
    for service in services:
        if not service_enabled(service, ctx):
            continue
        shard = _service_shard(service, ctx)
        if shard.users or shard.rules:
            gathered[service.name] = shard
    return gathered


def shard_file_source(kind: str, service: str) -> str:
    """Kolla's /etc/kolla/proxysql/<kind>/<service>.yaml, flattened as haproxy's services.d files are
    (the config writer takes no subdirectories); config.json puts it at /etc/proxysql/<kind>/."""
    return f"{kind}_{service}.yaml"


def _shard_files(
    gathered: Mapping[str, DatabaseShard], ctx: Mapping[str, Any]
) -> tuple[dict[str, str], list[ConfigFile]]:
    files: dict[str, str] = {}
    entries: list[ConfigFile] = []
    for kind, template in (("users", USERS_TEMPLATE), ("rules", RULES_TEMPLATE)):
        for service, shard in gathered.items():
            if not getattr(shard, kind):
                continue
            source = shard_file_source(kind, service)
            file_ctx = {**ctx, "proxysql_project_database_shard": dataclasses.asdict(shard)}
            files[source] = render_template(template, file_ctx)
            # Kolla copies the directories with 0700, which kolla_set_configs applies to each file.
            entries.append(
                ConfigFile(template, f"/etc/proxysql/{kind}/{service}.yaml", "proxysql", "0700", source=source)
            )
    return files, entries


def with_shard_files(
    rendered: RenderedContainer, container: Container, ctx: Mapping[str, Any], services: Iterable[Service]
) -> RenderedContainer:
    """The proxysql container with the gathered users and rules files added to its files, config.json
    and hash."""
    ctx = container_context(ctx, container)
    extra, entries = _shard_files(gather_database_shards(services, ctx), ctx)
    active = [f for f in container.files if f.when(ctx)]
    files = {**{k: v for k, v in rendered.files.items() if k != "config.json"}, **extra}
    files["config.json"] = config_json(container, [*active, *entries], ctx)
    return dataclasses.replace(rendered, files=files, config_hash=config_hash(files))
