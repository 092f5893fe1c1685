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

import pulumi

from components import haproxy, scripts
from components.catalogue import SERVICES
from components.catalogue.model import BootstrapJob, DatabaseJob, ExecJob, Job, KeystoneRegistration, Service
from components.config.stack import StackConfig
from components.context import base_context, host_context, render_string, render_template
from components.host import KollaHost, kolla_daemon_json
from components.placement import hosts_for, job_host, service_enabled
from components.render import (
    RenderedContainer,
    bootstrap_environment,
    container_context,
    render_container,
)
from components.service import JobSpec, KollaService, ServicePlan


@dataclass(frozen=True)
class DeploymentPlan:
    services: tuple[ServicePlan, ...]
    host_contexts: Mapping[str, Mapping[str, Any]]
    base: Mapping[str, Any]
    admin_openrc: str
    clouds_yaml: str


def _job_specs(
    service: Service,
    job: Job,
    config: StackConfig,
    contexts: Mapping[str, Mapping[str, Any]],
    rendered: Mapping[tuple[str, str], RenderedContainer],
) -> list[JobSpec]:
    inventory = config.inventory
    if isinstance(job, DatabaseJob):
        host = job_host(service.containers[0].group, inventory)
        ctx = contexts[host.name]
        password_key = render_string(job.password_key, ctx)
        params = scripts.json_params(
            host=render_string(job.login_host, ctx),
            port=ctx["database_port"],
            login_user=render_string(job.login_user, ctx),
            login_password=ctx["database_password"],
            database=render_string(job.database, ctx),
            user=render_string(job.user, ctx),
            password=ctx[password_key] if password_key else "",
            privileges=job.privileges,
            grant_option=job.grant_option,
            timeout=ctx["database_max_timeout"],
        )
        spec = JobSpec(job.name, host.name, scripts.create_database(), params, job.after_containers, in_toolbox=True)
        return [spec]
    if isinstance(job, KeystoneRegistration):
        host = job_host(service.containers[0].group, inventory)
        params = keystone_registration_params(job, contexts[host.name])
        return [JobSpec(job.name, host.name, scripts.register_in_keystone(), params, in_toolbox=True)]
    container = service.container(job.container_key)
    # The hosts the container is placed on (its group, narrowed by host_in_groups), in inventory order.
    hosts = [h for h in inventory.group(container.group) if (h.name, container.key) in rendered]
    if not hosts:
        return []
    if isinstance(job, BootstrapJob):
        specs = []
        for host in hosts if job.all_hosts else hosts[:1]:
            ctx = container_context(contexts[host.name], container)
            target = rendered[(host.name, container.key)]
            env = {**bootstrap_environment(job, target, ctx), "KOLLA_CONFIG_HASH": target.config_hash}
            secret_env = {k: render_string(v, ctx) for k, v in job.secret_environment.items()}
            script = scripts.docker_run_once(
                job.name,
                target.image,
                env,
                list(target.volumes),
                command=render_string(job.command, ctx),
                skip_if=job.skip_if,
                privileged=container.privileged,
            )
            specs.append(
                JobSpec(
                    job.name,
                    host.name,
                    script,
                    scripts.env_file(secret_env),
                    reads=(container.key,),
                    per_host=job.all_hosts,
                )
            )
        if job.database_variables:
            specs = _around_with_database_variables(job, specs, contexts[specs[0].host], rendered)
        return specs
    assert isinstance(job, ExecJob)
    # The inputs line makes the job run again when the container it runs in is recreated, or when a
    # host joins or leaves a group it watches. A run-once job watches its container's group; a per-host
    # job does its own host's work, which another host joining does not change.
    watched = [*([] if job.all_hosts else [container.group]), *job.watch_groups]
    members = " ".join(f"{g}={','.join(h.name for h in inventory.group(g))}" for g in watched)
    specs = []
    for host in hosts if job.all_hosts else hosts[:1]:
        ctx = container_context(contexts[host.name], container)
        if not job.when(ctx):
            continue
        target = rendered[(host.name, container.key)]
        script = f"# inputs: {target.image} {target.config_hash} {members}\n" + scripts.docker_exec(
            container.container_name, render_string(job.script, ctx), job.user
        )
        stdin = "".join(render_string(line, ctx) + "\n" for line in job.stdin)
        specs.append(
            JobSpec(
                job.name,
                host.name,
                script,
                stdin,
                after_containers=True,
                reads=(container.key,),
                per_host=job.all_hosts,
            )
        )
    return specs


def _around_with_database_variables(
    job: BootstrapJob,
    specs: list[JobSpec],
    ctx: Mapping[str, Any],
    rendered: Mapping[tuple[str, str], RenderedContainer],
) -> list[JobSpec]:
    """The one-shot between two kolla_toolbox jobs setting MariaDB globals, on its first host. Both carry
    the one-shot's inputs, so the three run again together whenever the one-shot does."""
    target = rendered[(specs[0].host, job.container_key)]
    inputs = f"# inputs: {target.image} {target.config_hash}\n"

    def setter(phase: str, index: int) -> JobSpec:
        params = scripts.json_params(
            host=ctx["database_address"],
            port=ctx["database_port"],
            login_user=render_string(DatabaseJob.login_user, ctx),
            login_password=ctx["database_password"],
            timeout=ctx["database_max_timeout"],
            variables={name: values[index] for name, values in sorted(job.database_variables.items())},
        )
        script = inputs + scripts.set_database_variables()
        return JobSpec(f"{job.name}_{phase}", specs[0].host, script, params, in_toolbox=True)

    return [setter("database_variables_on", 0), *specs, setter("database_variables_off", 1)]


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


def keystone_registration_params(job: KeystoneRegistration, ctx: Mapping[str, Any]) -> str:
    """The JSON the registration script reads on stdin (it carries passwords: sent as a secret)."""
    return scripts.json_params(
        auth=ctx["openstack_auth"],
        region=ctx["openstack_region_name"],
        interface="internal",
        cacert="",
        domain="default",
        timeout=ctx["database_max_timeout"],
        services=[
            {
                "name": render_string(s.name, ctx),
                "type": s.type,
                "description": s.description,
                "endpoints": {interface: render_string(url, ctx) for interface, url in s.endpoints.items()},
            }
            for s in job.services
        ],
        users=[
            {
                "user": render_string(u.user, ctx),
                "password": ctx[u.password_key],
                "project": u.project,
                "role": u.role,
                "domain": render_string(u.domain, ctx),
            }
            for u in job.users
        ],
        roles=[render_string(r, ctx) for r in job.roles],
        user_roles=[
            {
                "user": render_string(g.user, ctx),
                "project": render_string(g.project, ctx),
                "role": render_string(g.role, ctx),
            }
            for g in job.user_roles
        ],
    )


def plan_deployment(config: StackConfig) -> DeploymentPlan:
    """Render every enabled service for every host it is placed on, and its jobs."""
    variables = [s.variables for s in SERVICES]
    base = base_context(config.globals.values, config.inventory, config.passwords, variables)
    contexts = {name: host_context(base, host, variables) for name, host in config.inventory.hosts.items()}
    secrets = config.passwords.all_strings()
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
                rendered[(host.name, container.key)] = render(
                    service, container, contexts[host.name], config.custom, secrets
                )
        if not rendered:
            continue
        jobs = [
            _with_masks(spec, rendered, secrets)
            for job in service.jobs
            for spec in _job_specs(service, job, config, contexts, rendered)
        ]
        plans.append(ServicePlan(service=service, containers=tuple(rendered.values()), jobs=tuple(jobs)))
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
    """Per host, each container with its image and config hash; the jobs in order (no secrets)."""
    hosts: dict[str, list[dict[str, str]]] = {}
    jobs: list[str] = []
    for service_plan in plan.services:
        for c in service_plan.containers:
            hosts.setdefault(c.host, []).append(
                {"container": c.container_name, "image": c.image, "config_hash": c.config_hash[:12]}
            )
        jobs += [f"{j.host}/{j.name}" for j in service_plan.jobs]
    return {"hosts": hosts, "jobs": jobs}


class Deployment(pulumi.ComponentResource):
    """Every host and service of a stack."""

    def __init__(self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kolla:infra:Deployment", name, None, opts)
        for notice in config.notices:
            pulumi.log.warn(notice)
        self.plan = plan_deployment(config)
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
