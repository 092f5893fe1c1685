"""The deployment: hosts, then each enabled service in Kolla's order, then post-deploy outputs.

`plan_deployment` is pure (config in, rendered plan out): tests and the offline planner use it
directly. `Deployment` declares the Pulumi resources for a plan.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
import pulumi

from components import config_drift, haproxy, listeners, serving
from components.catalogue import SERVICES
from components.catalogue.model import Service
from components.config.errors import ConfigError
from components.config.inventory import NODE_GROUPS
from components.config.stack import StackConfig
from components.context import base_context, host_context, put_address_in_context, render_template
from components.host import KollaHost, kolla_daemon_json
from components.jobs import JobScope, resolve_job
from components.placement import hosts_for, service_enabled
from components.render import (
    RenderedContainer,
    RenderError,
    render_container,
)
from components.rollout import rollout_batches
from components.service import GateSpec, JobSpec, KollaService, ServicePlan


@dataclass(frozen=True)
class DeploymentPlan:
    services: tuple[ServicePlan, ...]
    host_contexts: Mapping[str, Mapping[str, Any]]
    base: Mapping[str, Any]
    admin_openrc: str
    clouds_yaml: str

    def containers_by_host(self) -> dict[str, list[str]]:
        """host -> the names of the containers placed there, in deploy order."""
        found: dict[str, list[str]] = {}
        for service in self.services:
            for rendered in service.containers:
                found.setdefault(rendered.host, []).append(rendered.container_name)
        return found

    def placed(self, container_name: str) -> list[RenderedContainer]:
        """Every host's `container_name`, as rendered, in deploy order."""
        return [c for s in self.services for c in s.containers if c.container_name == container_name]


# A masked value shorter than this would garble ordinary output; a PEM key is masked line by line
# (its header lines are not secret, its body lines are 64 characters).
MIN_MASK = 6
MIN_MASK_LINE = 16


def secret_masks(texts: Iterable[str], secrets: Iterable[str]) -> tuple[str, ...]:
    """The secrets that occur in `texts` (as written, or JSON-escaped as a job's parameters carry
    them), as the literal strings a job's output is scrubbed of."""
    texts = list(texts)
    found: set[str] = set()
    for secret in secrets:
        forms = {secret, json.dumps(secret)[1:-1]}
        if not any(form in text for form in forms for text in texts):
            continue
        if "\n" in secret:
            lines = (line.strip() for line in secret.splitlines())
            found.update(line for line in lines if len(line) >= MIN_MASK_LINE and not line.startswith("-----"))
        elif len(secret) >= MIN_MASK:
            found.update(forms)
    return tuple(sorted(found))


def _with_masks(job: JobSpec, rendered: Mapping[tuple[str, str], RenderedContainer], secrets: list[str]) -> JobSpec:
    """The job with the secrets it can see: on its stdin, in the files and secret environment of the
    containers it reads."""
    texts = [job.stdin]
    for key in job.reads:
        target = rendered.get((job.host, key))
        if target is not None:
            texts += [*target.files.values(), *target.secret_environment.values()]
    return dataclasses.replace(job, masks=secret_masks(texts, secrets))


def _load_balancers(config: StackConfig, base: Mapping[str, Any]) -> serving.LoadBalancers | None:
    """haproxy's stats pages on every loadbalancer host, where the gates drain and restore servers."""
    hosts = config.inventory.group("loadbalancer") if base["enable_haproxy"] else ()
    if not hosts:
        return None
    port = base["haproxy_stats_port"]
    urls = tuple((h.name, f"http://{put_address_in_context(h.api_address)}:{port}/") for h in hosts)
    return serving.LoadBalancers(urls, str(base["haproxy_user"]), str(base["haproxy_password"]))


def _servers_on(
    gathered: Mapping[str, list[haproxy.GatheredFrontend]], service: str, hostname: str
) -> dict[str, list[tuple[str, str]]]:
    """The (backend, server) pairs through which the load balancers send to `service` on that host, by
    the key of the container they reach."""
    servers: dict[str, list[tuple[str, str]]] = {}
    for fe in gathered.get(service, []):
        for member in fe.members:
            if member.hostname == hostname:
                servers.setdefault(fe.container, []).append((f"{fe.name}_back", member.hostname))
    return servers


def _rollout(
    service: Service,
    config: StackConfig,
    contexts: Mapping[str, Mapping[str, Any]],
    rendered: Mapping[tuple[str, str], RenderedContainer],
    lb: serving.LoadBalancers | None,
    gathered: Mapping[str, list[haproxy.GatheredFrontend]],
    secrets: list[str],
) -> tuple[tuple[tuple[str, ...], ...], tuple[GateSpec, ...]]:
    """The service's batches of hosts and each host's gate (components/serving.py)."""
    hosts = [name for name in config.inventory.hosts if any(h == name for h, _ in rendered)]
    node_groups = {g: {h.name for h in config.inventory.group(g)} for g in NODE_GROUPS}
    together = {
        h for h in hosts if {g for g, members in node_groups.items() if h in members} <= set(service.rollout.together)
    }
    batches = tuple(rollout_batches(hosts, service.rollout, together))
    gates = []
    for name in hosts:
        ctx = contexts[name]
        on_host = [c for (h, _), c in rendered.items() if h == name]
        servers = _servers_on(gathered, service.name, config.inventory.hosts[name].hostname)
        gate = serving.gate(service.rollout, service.name, name, on_host, ctx, lb, servers)
        gates.append(
            GateSpec(
                gate=gate,
                before_start=serving.before_start(service.rollout, ctx),
                masks=secret_masks(gate.secret_texts, secrets),
                uses_toolbox=any(servers.values()) and lb is not None,
            )
        )
    return batches, tuple(gates)


# What rendering refuses: an operator's file that does not parse or render, listeners claimed twice.
_RENDER_PROBLEMS = (RenderError, jinja2.TemplateError, haproxy.FrontendConflict)


def plan_deployment(config: StackConfig) -> DeploymentPlan:
    """Render every enabled service for every host it is placed on, and its jobs.

    Raises ConfigError listing every problem only rendering finds (each operator file's, once), so a
    stack that renders is one whose every container can be declared."""
    variables = [s.variables for s in SERVICES]
    base = base_context(config.globals.values, config.inventory, config.passwords, variables)
    contexts = {name: host_context(base, host, variables) for name, host in config.inventory.hosts.items()}
    secrets = config.passwords.all_strings()
    # Ordered, each once (an override file fails on every host alike).
    problems: dict[str, None] = dict.fromkeys(config.custom.unreadable)
    lb = _load_balancers(config, base)
    # As the first loadbalancer host renders them (the members are the same for every host).
    lb_ctx = contexts[lb.stats_urls[0][0]] if lb else base
    try:
        gathered = haproxy.gather_frontends(SERVICES, config.inventory, lb_ctx, contexts) if lb else {}
    except haproxy.FrontendConflict as exc:
        problems[f"haproxy: {exc}"] = None
        gathered = {}
    plans = []
    for service in SERVICES:
        if not service_enabled(service, base):
            continue
        rendered: dict[tuple[str, str], RenderedContainer] = {}
        # The loadbalancer renders with every service's gathered haproxy frontends (components/haproxy.py).
        render = render_container
        if service.name == haproxy.LOADBALANCER:
            render = functools.partial(haproxy.render_loadbalancer, SERVICES, config.inventory, contexts)
        for container in service.containers:
            for host in hosts_for(service, container, config.inventory, base, contexts):
                try:
                    rendered[(host.name, container.key)] = render(
                        service, container, contexts[host.name], config.custom, secrets
                    )
                except _RENDER_PROBLEMS as exc:
                    problems.update(dict.fromkeys(getattr(exc, "problems", None) or [str(exc)]))
        if not rendered or problems:
            continue
        on_demand = {(h, key): r for (h, key), r in rendered.items() if key in service.on_demand_keys}
        rendered = {placed: r for placed, r in rendered.items() if placed not in on_demand}
        jobs = [
            _with_masks(spec, rendered, secrets)
            for job in service.jobs
            for spec in resolve_job(job, JobScope(service, config, contexts, rendered))
        ]
        batches, gates = _rollout(service, config, contexts, rendered, lb, gathered, secrets)
        plans.append(
            ServicePlan(
                service=service,
                containers=tuple(rendered.values()),
                jobs=tuple(jobs),
                batches=batches,
                gates=gates,
                on_demand=tuple(on_demand.values()),
            )
        )
    if not problems:
        port_settings = {k: v for k, v in config.globals.values.items() if k.endswith("_port")}
        problems.update(dict.fromkeys(listeners.conflicts(listeners.backend_ports(plans, contexts), port_settings)))
    if problems:
        raise ConfigError(problems)
    return DeploymentPlan(
        services=tuple(plans),
        host_contexts=contexts,
        base=base,
        admin_openrc=render_template("post-deploy/admin-openrc.sh.j2", {**base, "kolla_admin_openrc_cacert": ""}),
        clouds_yaml=render_template("post-deploy/clouds.yaml.j2", {**base, "kolla_admin_openrc_cacert": ""}),
    )


def container_flags(service: Service, base: Mapping[str, Any]) -> dict[str, dict[str, object]]:
    """Per-container runtime settings shared by every host (Kolla's docker_common_options)."""
    timing = {
        "interval": f"{base['default_container_healthcheck_interval']}s",
        "timeout": f"{base['default_container_healthcheck_timeout']}s",
        "start_period": f"{base['default_container_healthcheck_start_period']}s",
        "retries": int(base["default_container_healthcheck_retries"]),
    }
    return {
        c.key: {
            "restart": base["docker_restart_policy"],
            "graceful_timeout": int(base["docker_graceful_timeout"]),
            "privileged": c.privileged,
            "pid_mode": c.pid_mode,
            "ipc_mode": c.ipc_mode,
            "cgroupns_mode": c.cgroupns_mode,
            "cap_add": c.cap_add,
            "security_opt": c.security_opt,
            "healthcheck_timing": timing,
        }
        for c in service.containers
    }


def plan_summary(plan: DeploymentPlan) -> dict[str, Any]:
    """Per host, each container with its image and config hash; the jobs in order; the order in which
    each service on several hosts is replaced, batch by batch (no secrets)."""
    hosts: dict[str, list[dict[str, str]]] = {}
    jobs: list[str] = []
    rollout: dict[str, list[list[str]]] = {}
    for service_plan in plan.services:
        for c in service_plan.containers:
            hosts.setdefault(c.host, []).append(
                {"container": c.container_name, "image": c.image, "config_hash": c.config_hash[:12]}
            )
        jobs += [f"{j.host}/{j.name}" for j in service_plan.jobs]
        if len(service_plan.batches) > 1:
            rollout[service_plan.service.name] = [list(batch) for batch in service_plan.batches]
    return {"hosts": hosts, "jobs": jobs, "rollout": rollout}


class Deployment(pulumi.ComponentResource):
    """Every host and service of a stack."""

    def __init__(self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        # Rendered before anything is registered: a problem only rendering finds stops the run clean.
        self.plan = plan_deployment(config)
        super().__init__("kolla:infra:Deployment", name, None, opts)
        for notice in config.notices:
            pulumi.log.warn(notice)
        base = self.plan.base
        registry = str(base["docker_registry"]) or None
        daemon_json = kolla_daemon_json(registry, bool(base["docker_registry_insecure"]), base["docker_custom_config"])
        etc_hosts = [(h.api_address, h.hostname) for h in config.inventory.hosts.values()]
        self.hosts = {
            name: KollaHost(
                host, daemon_json=daemon_json, etc_hosts=etc_hosts, opts=pulumi.ResourceOptions(parent=self)
            )
            for name, host in config.inventory.hosts.items()
        }
        records = config_drift.observe(config.inventory.hosts, {n: h.ssh_files for n, h in self.hosts.items()})
        for name, found in records.items():
            self.hosts[name].config_records = found
        self.services: dict[str, KollaService] = {}
        toolboxes: dict[str, pulumi.Resource] = {}
        for service_plan in self.plan.services:
            service = service_plan.service
            # A service waits for its dependencies' containers and jobs (KollaService.ready), and for its
            # local dependencies' on the same host only (ready_on). `common` is on every host: a
            # service waits only for the kolla_toolbox its jobs run in, so the graph stays linear in hosts.
            deps = [self.services[d] for d in service.depends_on if d in self.services and d != "common"]
            local = [self.services[d] for d in service.local_depends_on if d in self.services]
            self.services[service.name] = KollaService(
                service_plan,
                self.hosts,
                container_flags(service, base),
                depends_on=deps,
                local_depends_on=local,
                toolboxes=toolboxes,
                opts=pulumi.ResourceOptions(parent=self),
            )
            if service.name == "common":
                common = self.services["common"].containers
                toolboxes = {host: c for (host, key), c in common.items() if key == "kolla-toolbox"}
        self.admin_openrc = pulumi.Output.secret(self.plan.admin_openrc)
        self.clouds_yaml = pulumi.Output.secret(self.plan.clouds_yaml)
        self.summary = plan_summary(self.plan)
        self.register_outputs({"summary": self.summary})
