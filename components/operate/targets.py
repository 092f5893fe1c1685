"""Which resources a verb touches, as URN targets for the engine.

The engine (v3.274.1, resource/deploy/deployment.go `UrnTargets`) takes a target containing `*` as a
glob: `**` matches anything, `*` anything but `:`. Providers and the root stack are always targeted
implicitly; a targeted resource whose parent or dependency would have to be created but is not
targeted fails the run ("untargeted create"). So targets built from the program's type tokens (and
its components' ancestors) work on a first run with no state, while a service's children, whose names
do not say which service they belong to, are found by parent from the state and a preview's events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEPLOYMENT = "kolla:infra:Deployment"
HOST = "kolla:infra:Host"
SERVICE = "kolla:openstack:Service"
COMMAND = "command:remote:Command"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
VOLUME = "docker:index/volume:Volume"


@dataclass(frozen=True)
class Resource:
    """What targeting needs to know of a resource, from the state or from a preview step."""

    urn: str
    type: str
    parent: str = ""
    inputs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


def type_globs(stack: str, project: str, chain: str, name: str = "**") -> list[str]:
    """Globs for resources whose type chain ends with `chain` (`A$B` = type B parented by an A),
    whatever their ancestors, named `name` (any name by default: `**`, as image names hold a `:`)."""
    prefix = f"urn:pulumi:{stack}::{project}::"
    top, nested = f"{prefix}{chain}::{name}", f"{prefix}**${chain}::{name}"
    # A target without `*` is an exact URN, and the engine fails the run on one that does not exist
    # ("could not be found in the stack"): a named service is only ever nested, so only its glob.
    return [top, nested] if "*" in name else [nested]


def ancestors(stack: str, project: str) -> list[str]:
    """The components every host-level resource sits under: without them a first run cannot create
    their children."""
    return [*type_globs(stack, project, DEPLOYMENT), *type_globs(stack, project, HOST)]


def bootstrap_targets(stack: str, project: str) -> list[str]:
    """Kolla's bootstrap-servers: each host's bootstrap commands (the hosts' only Command children)."""
    return [*ancestors(stack, project), *type_globs(stack, project, f"{HOST}${COMMAND}")]


def pull_targets(stack: str, project: str) -> list[str]:
    """Kolla's pull: every image on every host, nothing else."""
    return [*ancestors(stack, project), *type_globs(stack, project, f"{HOST}${REMOTE_IMAGE}")]


def service_urn_globs(stack: str, project: str, service: str) -> list[str]:
    return type_globs(stack, project, SERVICE, service)


def is_service_component(resource: Resource, service: str) -> bool:
    return resource.type == SERVICE and resource.name == service


def descendants(resources: Iterable[Resource], roots: set[str]) -> set[str]:
    """URNs of every resource below one of `roots` (by parent, transitively)."""
    parent = {r.urn: r.parent for r in resources}
    found: set[str] = set()
    for urn in parent:
        seen, current = set(), parent[urn]
        while current and current not in seen:
            if current in roots:
                found.add(urn)
                break
            seen.add(current)
            current = parent.get(current, "")
    return found


def service_targets(
    stack: str,
    project: str,
    service: str,
    resources: Iterable[Resource],
    images: Mapping[str, set[str]],
) -> list[str]:
    """Kolla's reconfigure of one service: the service component, all its children (from the state,
    so removed ones are deleted, and from a preview, so new ones are created), and the images its
    containers use on their hosts (`images`: host -> image references), so a changed tag is pulled."""
    resources = list(resources)
    roots = {r.urn for r in resources if is_service_component(r, service)}
    children = descendants(resources, roots)
    hosts = {r.urn: r.name for r in resources if r.type == HOST}
    pulled = {
        r.urn
        for r in resources
        if r.type == REMOTE_IMAGE and r.inputs.get("name") in images.get(hosts.get(r.parent, ""), set())
    }
    return [
        *ancestors(stack, project),
        *service_urn_globs(stack, project, service),
        *sorted(children),
        *sorted(pulled),
    ]


def container_targets(stack: str, project: str, resources: Iterable[Resource], jobs: set[str]) -> list[str]:
    """Kolla's deploy-containers: every service's containers and the commands around them (serving
    gates, load-balancer drains, before-start steps), and every image; no config writer (`*-config`)
    and none of the `jobs` (their resource names), so no file is written and no bootstrap runs."""
    resources = list(resources)
    services = {r.urn for r in resources if r.type == SERVICE}
    children = descendants(resources, services)
    by_urn = {r.urn: r for r in resources}

    def skipped(resource: Resource) -> bool:
        return resource.type == COMMAND and (resource.name.endswith("-config") or resource.name in jobs)

    chosen = {urn for urn in children if not skipped(by_urn[urn])}
    return [
        *ancestors(stack, project),
        *type_globs(stack, project, SERVICE),
        *sorted(chosen),
        *type_globs(stack, project, f"{HOST}${REMOTE_IMAGE}"),
    ]


def from_state(deployment: Mapping[str, Any]) -> list[Resource]:
    """Resources of an exported state (`stack.export_stack().deployment`)."""
    return [
        Resource(r["urn"], r["type"], r.get("parent", "") or "", r.get("inputs") or {})
        for r in deployment.get("resources") or []
    ]


def from_step(metadata: Any) -> Resource | None:
    """The resource of a preview step (`ResourcePreEvent.metadata`): its new state, else its old."""
    state = metadata.new or metadata.old
    if state is None:
        return None
    return Resource(state.urn, state.type, state.parent or "", state.inputs or {})
