"""kolla-ansible's verbs as Pulumi operations on a stack: each a thin function doing what its
namesake does and no more. The CLI (components/cli.py) parses arguments and reports; these functions
choose the operation, its targets and options.

| verb              | Pulumi operation                                                              |
|-------------------|-------------------------------------------------------------------------------|
| genpwd            | config: missing passwords generated as secrets (`--import`: a passwords.yml's)  |
| import-kolla      | config: globals/inventory objects, passwords secrets                           |
| bootstrap-servers | up, targets: each KollaHost's bootstrap commands (and their ancestors)          |
| pull              | up, targets: every docker RemoteImage                                          |
| deploy            | up (refresh first with --refresh)                                              |
| reconfigure       | up, targets: the service components' children and the images they use          |
| deploy-containers | up, targets: containers, their gates and drains, images (no config, no job)    |
| upgrade           | up with refresh                                                                |
| preview           | preview (--diff: detailed diff)                                                |
| post-deploy       | stack outputs admin_openrc, clouds_yaml -> files, mode 0600                    |
| destroy           | destroy (--include-volumes: then the retained volumes, over the pinned SSH)    |
| promote           | config: pinned release/image keys (+ promotable) from one stack to another     |
| prechecks         | none: SSH checks against the plan (components/operate/prechecks.py)            |
| check             | none: SSH, every planned container's state and health (health.py)             |
| stop              | none: SSH, docker stop in reverse deploy order (stopping.py)                   |
| deploy, first     | none: SSH, stopped planned containers started, Galera recovered (stopping.py)  |
| init-runonce      | none: openstacksdk in kolla_toolbox over SSH (init_runonce.py)                 |
| prune-images      | none: SSH, docker image prune of Kolla's images (prune_images.py)              |
| rabbitmq-reset-st.| none: SSH, rabbitmqctl stop_app/force_reset/start_app (rabbitmq_reset.py)      |
| mariadb-backup    | none: SSH, Kolla's one-shot mariabackup container (mariadb_backup.py)          |
| mariadb-restore   | none: SSH, prepare, copy back, the cluster started from it (mariadb_backup.py) |
"""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from components.config.passwords import ALL_KEYS
from components.config.stack import StackConfig
from components.deployment import DeploymentPlan
from components.genpwd import fill_missing_passwords, needed_keys
from components.operate import promote as promotion
from components.operate import targets
from components.operate.ssh import Completed, Runner, run_script
from components.operate.workspace import PROJECT, config_value, raw_config, set_secrets, write_objects

OnEvent = Callable[[auto.EngineEvent], None]


class OperateError(Exception):
    """A refusal or missing prerequisite, explained (the CLI's usage/config exit)."""


def short_name(stack: auto.Stack) -> str:
    """The stack name as URNs carry it (`org/project/dev` -> `dev`)."""
    return stack.name.rsplit("/", 1)[-1]


# --- config verbs -----------------------------------------------------------------------------------


def _non_empty(value: Any) -> bool:
    if isinstance(value, Mapping):
        return bool(value) and all(v not in (None, "") for v in value.values())
    return value not in (None, "")


@dataclass
class GenpwdResult:
    imported: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # in the file, but the stack's own secret won
    unknown: list[str] = field(default_factory=list)  # in the file, not a Kolla password name
    generated: list[str] = field(default_factory=list)


def genpwd(
    stack: auto.Stack, *, every_key: bool = False, import_file: str | None = None, overwrite: bool = False
) -> GenpwdResult:
    """kolla-genpwd: fill missing passwords, never overwriting one. With `import_file` (a Kolla
    passwords.yml), its non-empty values are taken first; the stack's existing ones win unless
    `overwrite`."""
    result = GenpwdResult()
    if import_file is not None:
        from components.operate.kolla_import import read_passwords_yml

        values = {k: v for k, v in read_passwords_yml(import_file).items() if _non_empty(v)}
        existing = raw_config(stack).get("passwords") or {}
        result.unknown = sorted(k for k in values if k not in ALL_KEYS)
        chosen = {}
        for key in sorted(k for k in values if k in ALL_KEYS):
            if _non_empty(existing.get(key)) and not overwrite:
                result.kept.append(key)
            else:
                chosen[key] = values[key]
        set_secrets(stack, chosen)
        result.imported = sorted(chosen)
    result.generated = fill_missing_passwords(stack, needed_keys(every_key))
    return result


def import_kolla(stack: auto.Stack, globals_path: str, inventory_path: str, passwords_path: str) -> Any:
    """Write a kolla-ansible configuration into the stack: globals and inventory as objects, passwords
    (non-empty ones) as secrets. Returns the import (its `.unmapped` lists what could not be mapped)."""
    from components.operate.kolla_import import import_kolla as read_kolla

    imported = read_kolla(globals_path, inventory_path, passwords_path)
    config = imported.config
    write_objects(stack, {key: config[key] for key in ("globals", "inventory") if config.get(key) is not None})
    set_secrets(stack, {k: v for k, v in (config.get("passwords") or {}).items() if _non_empty(v)})
    return imported


def promote(
    source: auto.Stack, target: auto.Stack, *, confirm: Callable[[list[promotion.Change]], bool]
) -> tuple[list[promotion.Change], bool]:
    """Copy the pinned release/image keys (and the source's promotable ones) into the target's
    globals, after `confirm` accepts the diff. Returns the diff and whether it was applied."""
    source_config = source.get_all_config()
    promotable = source_config.get(promotion.PROMOTABLE_KEY)
    keys = promotion.promoted_keys(config_value(promotable) if promotable is not None else None)
    source_globals = raw_config(source).get("globals") or {}
    target_globals = raw_config(target).get("globals") or {}
    changes = promotion.promotion(source_globals, target_globals, keys)
    if not changes or not confirm(changes):
        return changes, False
    write_objects(target, {"globals": promotion.apply(target_globals, changes)})
    return changes, True


# --- engine verbs -----------------------------------------------------------------------------------


def bootstrap_servers(stack: auto.Stack, on_event: OnEvent | None = None) -> auto.UpResult:
    """up of the hosts' bootstrap commands only (Docker, daemon.json, /etc/kolla, sysctls, /etc/hosts)."""
    return stack.up(target=targets.bootstrap_targets(short_name(stack), PROJECT), on_event=on_event, show_secrets=False)


def pull(stack: auto.Stack, on_event: OnEvent | None = None) -> auto.UpResult:
    """up of the images only."""
    return stack.up(target=targets.pull_targets(short_name(stack), PROJECT), on_event=on_event, show_secrets=False)


def deploy(stack: auto.Stack, *, refresh: bool = False, on_event: OnEvent | None = None) -> auto.UpResult:
    return stack.up(refresh=refresh or None, on_event=on_event, show_secrets=False)


def upgrade(stack: auto.Stack, on_event: OnEvent | None = None) -> auto.UpResult:
    """up with refresh: the hosts' real state first, then the new images/tags from the stack config."""
    return stack.up(refresh=True, on_event=on_event, show_secrets=False)


def preview(
    stack: auto.Stack,
    *,
    diff: bool = False,
    on_event: OnEvent | None = None,
    on_output: Callable[[str], None] | None = None,
) -> auto.PreviewResult:
    return stack.preview(diff=diff or None, on_event=on_event, on_output=on_output)


REPLACING = {"replace", "create-replacement", "delete-replaced"}


def replaced_names(events: Iterable[auto.EngineEvent]) -> set[str]:
    """The names of the resources a preview's events say will be replaced."""
    names = set()
    for event in events:
        pre = event.resource_pre_event
        if pre and pre.metadata.op.value in REPLACING:
            names.add(pre.metadata.urn.rsplit("::", 1)[-1])
    return names


def replacement_order(plan: DeploymentPlan, replaced: Iterable[str]) -> dict[str, list[list[str]]]:
    """Per service with replaced containers, the batches of hosts they are replaced in, in order (the
    rollout's batches, keeping only the hosts where something is replaced)."""
    replaced = set(replaced)
    order: dict[str, list[list[str]]] = {}
    for service_plan in plan.services:
        hosts = {c.host for c in service_plan.containers if f"{c.host}-{c.container_name}" in replaced}
        if not hosts:
            continue
        batches = service_plan.batches or [sorted(hosts)]
        order[service_plan.service.name] = [[h for h in batch if h in hosts] for batch in batches if hosts & set(batch)]
    return order


def describe_order(order: dict[str, list[list[str]]]) -> list[str]:
    """One line per service: `keystone: h1 -> h2 -> h3`, hosts of one batch joined with `+`."""
    return [f"{service}: {' -> '.join('+'.join(batch) for batch in batches)}" for service, batches in order.items()]


def service_images(plan: DeploymentPlan, service: str) -> dict[str, set[str]]:
    """host -> the image references the service's containers use there."""
    images: dict[str, set[str]] = {}
    for service_plan in plan.services:
        if service_plan.service.name == service:
            for container in service_plan.containers:
                images.setdefault(container.host, set()).add(container.image)
    return images


def check_services(requested: Iterable[str], plan: DeploymentPlan) -> list[str]:
    """The requested services, refused (OperateError naming the known ones) unless deployed."""
    from components.catalogue import SERVICES

    requested = list(dict.fromkeys(requested))
    catalogue = [s.name for s in SERVICES]
    deployed = [s.service.name for s in plan.services]
    unknown = [s for s in requested if s not in catalogue]
    if unknown:
        raise OperateError(f"unknown service {', '.join(unknown)}; known services: {', '.join(catalogue)}")
    missing = [s for s in requested if s not in deployed]
    if missing:
        raise OperateError(f"service {', '.join(missing)} is not enabled in this stack; enabled: {', '.join(deployed)}")
    return requested


def known_resources(stack: auto.Stack) -> list[targets.Resource]:
    """Every resource of the state and of a preview of the program as it is now."""
    found = targets.from_state(stack.export_stack().deployment or {})

    def collect(event: auto.EngineEvent) -> None:
        if event.resource_pre_event is not None:
            resource = targets.from_step(event.resource_pre_event.metadata)
            if resource is not None:
                found.append(resource)

    stack.preview(on_event=collect)
    return found


def reconfigure(
    stack: auto.Stack, services: list[str], plan: DeploymentPlan, on_event: OnEvent | None = None
) -> auto.UpResult:
    """up of the named services only: their config files, jobs and containers (and their images)."""
    services = check_services(services, plan)
    resources = known_resources(stack)
    chosen: list[str] = []
    for service in services:
        for target in targets.service_targets(
            short_name(stack), PROJECT, service, resources, service_images(plan, service)
        ):
            if target not in chosen:
                chosen.append(target)
    return stack.up(target=chosen, on_event=on_event, show_secrets=False)


def deploy_containers(stack: auto.Stack, plan: DeploymentPlan, on_event: OnEvent | None = None) -> auto.UpResult:
    """up of the containers (and their gates) and images only: no config file written, no job run."""
    jobs = {f"{job.host}-{job.name}" for service in plan.services for job in service.jobs}
    chosen = targets.container_targets(short_name(stack), PROJECT, known_resources(stack), jobs)
    return stack.up(target=chosen, on_event=on_event, show_secrets=False)


# --- post-deploy and destroy ------------------------------------------------------------------------

POST_DEPLOY_FILES = (("admin_openrc", "admin-openrc.sh"), ("clouds_yaml", "clouds.yaml"))


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600 from the first byte: a 0600 temporary file in the same
    directory (mkstemp), renamed over the target."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def post_deploy(stack: auto.Stack, directory: str | Path) -> list[Path]:
    """kolla-ansible post-deploy: admin-openrc.sh and clouds.yaml from the stack's secret outputs."""
    outputs = stack.outputs()
    missing = [name for name, _ in POST_DEPLOY_FILES if name not in outputs]
    if missing:
        raise OperateError(f"stack output {', '.join(missing)} missing: deploy the stack first")
    target = Path(directory).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, filename in POST_DEPLOY_FILES:
        path = target / filename
        write_private(path, str(outputs[name].value))
        written.append(path)
    return written


def retained_volumes(resources: Iterable[targets.Resource]) -> dict[str, list[str]]:
    """host -> the named volumes the state records (the program keeps them on destroy)."""
    resources = list(resources)
    hosts = {r.urn: r.name for r in resources if r.type == targets.HOST}
    volumes: dict[str, list[str]] = {}
    for r in resources:
        if r.type == targets.VOLUME and r.parent in hosts and r.inputs.get("name"):
            volumes.setdefault(hosts[r.parent], []).append(str(r.inputs["name"]))
    return {host: sorted(names) for host, names in volumes.items()}


def remove_volumes_script(names: Iterable[str]) -> str:
    return "set -eu\ndocker volume rm " + " ".join(shlex.quote(n) for n in names) + "\n"


@dataclass
class DestroyOutcome:
    result: auto.DestroyResult
    volumes: dict[str, list[str]] = field(default_factory=dict)
    volume_errors: dict[str, str] = field(default_factory=dict)


def destroy(
    stack: auto.Stack,
    *,
    include_volumes: bool = False,
    config: StackConfig | None = None,
    on_event: OnEvent | None = None,
    runner: Runner | None = None,
) -> DestroyOutcome:
    """destroy; with `include_volumes`, then remove exactly the volumes the state recorded, on their
    hosts, over the program's pinned SSH (`config` gives the hosts)."""
    volumes: dict[str, list[str]] = {}
    if include_volumes:
        if config is None:
            raise OperateError("--include-volumes needs the stack's config to reach the hosts")
        volumes = retained_volumes(targets.from_state(stack.export_stack().deployment or {}))
        unknown = [h for h in volumes if h not in config.inventory.hosts]
        if unknown:
            raise OperateError(f"volumes on {', '.join(unknown)}, which the inventory no longer has")
    outcome = DestroyOutcome(stack.destroy(on_event=on_event, show_secrets=False), volumes)
    for host, names in volumes.items():
        assert config is not None
        done: Completed = (runner or run_script)(config.inventory.hosts[host], remove_volumes_script(names))
        if done.returncode != 0:
            outcome.volume_errors[host] = done.why
    return outcome
