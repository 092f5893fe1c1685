"""What one container on one host reads, rendered: its files, its config.json, and their hash.

Pure functions over the catalogue and a render context. The hash covers exactly the files the
container reads (and its config.json), so it changes when, and only when, that container must be
recreated to see new config (Kolla's `kolla_set_configs --check`, decided before `up`).
"""

from __future__ import annotations

import hashlib
import json
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2

from components.catalogue.model import BootstrapJob, ConfigFile, Container, Service
from components.context import render_string, render_template
from components.ini_merge import IniError, merge


class RenderError(ValueError):
    """What rendering refuses; `problems` holds each (one per operator file when several fail)."""

    def __init__(self, *problems: str) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(problems))


def _template_line(exc: BaseException) -> int | None:
    """The line of a string template an error was raised at (Jinja maps its frames to template lines)."""
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == "<template>"]
    return lines[-1] if lines else None


def render_override(where: str, text: str, ctx: Mapping[str, Any]) -> str:
    """An operator's file rendered as Jinja (Kolla renders them first); an error names the file and line."""
    try:
        return render_string(text, ctx)
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"node_custom_config: {where}:{exc.lineno}: {exc.message}") from None
    except jinja2.TemplateError as exc:
        line = _template_line(exc)
        raise RenderError(f"node_custom_config: {where}{f':{line}' if line else ''}: {exc}") from None


@dataclass(frozen=True)
class CustomConfig:
    """Operator overrides (kolla's node_custom_config), read once: relative path -> text."""

    files: Mapping[str, str]
    root: str = "/etc/kolla/config"
    # Files that could not be read as text, each with why: reported with the rendering problems.
    unreadable: tuple[str, ...] = ()

    def get(self, path: str) -> str | None:
        return self.files.get(path)


NO_OVERRIDES = CustomConfig(files={})


@dataclass(frozen=True)
class RenderedContainer:
    """Everything the program declares for one container on one host."""

    service: str
    key: str
    container_name: str
    host: str
    image: str
    files: Mapping[str, str]
    environment: Mapping[str, str]
    secret_environment: Mapping[str, str]
    volumes: tuple[str, ...]
    healthcheck: tuple[str, ...] | None
    config_hash: str


def image_ref(image: str, ctx: Mapping[str, Any]) -> str:
    """Kolla's `<docker_image_url><image>:<openstack_tag>`."""
    return f"{ctx['docker_image_url']}{image}:{ctx['openstack_tag']}"


def _override_paths(file: ConfigFile, ctx: Mapping[str, Any]) -> list[str]:
    return [
        path.format(service=ctx["service_name"], container_key=ctx["service_name"], host=ctx["inventory_hostname"])
        for path in file.ini_overrides
    ]


def render_file(file: ConfigFile, ctx: Mapping[str, Any], custom: CustomConfig) -> str:
    """The template, then (for INI files) each operator override merged on top, as merge_configs does."""
    text = render_template(file.template, ctx)
    if not file.ini_overrides:
        return text
    sources = [(file.template, text)]
    problems = []
    for path in _override_paths(file, ctx):
        override = custom.get(path)
        if override is None:
            continue
        # Overrides are Jinja too, so they may use the same variables (Kolla renders them first).
        where = f"{custom.root}/{path}"
        try:
            rendered = render_override(where, override, ctx)
            merge([(where, rendered)])  # alone first: each file's own error, whatever the others hold
        except RenderError as exc:
            problems += exc.problems
        except IniError as exc:
            problems.append(f"node_custom_config: {exc}")
        else:
            sources.append((where, rendered))
    if problems:
        raise RenderError(*problems)
    try:
        return merge(sources)
    except IniError as exc:
        raise RenderError(f"node_custom_config: {exc}") from exc


def config_json(container: Container, files: list[ConfigFile], ctx: Mapping[str, Any]) -> str:
    """Kolla's config.json for kolla_set_configs, generated from the catalogue (never templated JSON)."""
    directory = ctx["container_config_directory"]
    document: dict[str, Any] = {
        "command": render_string(container.command, ctx),
        "config_files": [
            {
                "source": f"{directory}/{f.source_name}",
                "dest": render_string(f.dest, ctx),
                "owner": f.owner,
                "perm": f.perm,
            }
            for f in files
        ],
    }
    if container.directories:
        document["directories"] = [dict(d) for d in container.directories]
    if container.permissions:
        document["permissions"] = [dict(p) for p in container.permissions]
    return json.dumps(document, indent=4) + "\n"


def config_hash(files: Mapping[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return digest.hexdigest()


def _check_no_secret(where: str, text: str, secrets: list[str]) -> None:
    for secret in secrets:
        if secret and len(secret) >= 8 and secret in text:
            raise RenderError(f"{where} would carry a secret in plain text; secrets go in files or on stdin")


def _secret_environment(container: Container, ctx: Mapping[str, Any]) -> dict[str, str]:
    """Rendered secret variables; one that renders empty (a password only some flag needs, e.g.
    mariadb's MYSQL_PASSWORD without proxysql) is left out, so the container has no secret then."""
    rendered = {name: render_string(value, ctx) for name, value in container.secret_environment.items()}
    return {name: value for name, value in rendered.items() if value}


def container_context(ctx: Mapping[str, Any], container: Container) -> dict[str, Any]:
    return {**ctx, "service_name": container.key}


def render_container(
    service: Service,
    container: Container,
    host_ctx: Mapping[str, Any],
    custom: CustomConfig,
    secrets: list[str],
) -> RenderedContainer:
    ctx = container_context(host_ctx, container)
    active = [f for f in container.files if f.when(ctx)]
    files = {f.source_name: render_file(f, ctx, custom) for f in active}
    files["config.json"] = config_json(container, active, ctx)
    environment = {
        "KOLLA_CONFIG_STRATEGY": str(ctx["config_strategy"]),
        "KOLLA_SERVICE_NAME": container.container_name.replace("_", "-"),
        **{name: render_string(value, ctx) for name, value in container.environment.items()},
    }
    # Kolla's conditional entries (`{{ 'x:/y' if flag else '' }}`) render empty when off: left out.
    volumes = tuple(v for v in (render_string(v, ctx) for v in container.volumes) if v)
    healthcheck = None
    if container.healthcheck is not None and ctx["enable_container_healthchecks"]:
        healthcheck = ("CMD-SHELL", render_string(container.healthcheck.test, ctx))
    for name, value in environment.items():
        _check_no_secret(f"{container.container_name}: environment {name}", value, secrets)
    _check_no_secret(f"{container.container_name}: command", files["config.json"].split("\n", 2)[1], secrets)
    return RenderedContainer(
        service=service.name,
        key=container.key,
        container_name=container.container_name,
        host=str(ctx["inventory_hostname"]),
        image=image_ref(container.image, ctx),
        files=files,
        environment=environment,
        secret_environment=_secret_environment(container, ctx),
        volumes=volumes,
        healthcheck=healthcheck,
        config_hash=config_hash(files),
    )


def bootstrap_environment(job: BootstrapJob, rendered: RenderedContainer, ctx: Mapping[str, Any]) -> dict[str, str]:
    env = {
        "KOLLA_CONFIG_STRATEGY": rendered.environment["KOLLA_CONFIG_STRATEGY"],
        **{name: render_string(value, ctx) for name, value in job.environment.items()},
    }
    return env
