"""Jobs resolved for their hosts: each kind of catalogue job (components/catalogue/model.py) turns
itself into the JobSpecs components/service.py declares, in a function of its own. Adding a kind adds
a resolver here and an entry in RESOLVERS, never a branch elsewhere."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from components import scripts
from components.catalogue.model import (
    BootstrapJob,
    Container,
    DatabaseJob,
    ExecJob,
    HostJob,
    Job,
    KeystoneRegistration,
    Service,
)
from components.config.inventory import Host
from components.config.stack import StackConfig
from components.context import render_string
from components.placement import job_host
from components.render import RenderedContainer, bootstrap_environment, container_context
from components.service import JobSpec


@dataclass(frozen=True)
class JobScope:
    """What a job is resolved against: its service, the stack, every host's context, the rendered
    containers of the service."""

    service: Service
    config: StackConfig
    contexts: Mapping[str, Mapping[str, Any]]
    rendered: Mapping[tuple[str, str], RenderedContainer]

    def first_host(self) -> Host:
        """Where a service-wide job runs: the first host of its first container's group (Kolla's run_once)."""
        return job_host(self.service.containers[0].group, self.config.inventory)

    def container_hosts(self, container: Container) -> list[Host]:
        """The hosts the container is placed on (its group, narrowed by host_in_groups), in inventory order."""
        return [h for h in self.config.inventory.group(container.group) if (h.name, container.key) in self.rendered]

    def inputs_line(self, host: str, container: Container, watched: tuple[str, ...] = ()) -> str:
        """A comment that makes a job run again when its container is recreated (image, config hash), or
        when a host joins or leaves a group it watches."""
        target = self.rendered[(host, container.key)]
        inventory = self.config.inventory
        members = " ".join(f"{g}={','.join(h.name for h in inventory.group(g))}" for g in watched)
        return f"# inputs: {target.image} {target.config_hash} {members}".rstrip() + "\n"


def _database(job: DatabaseJob, scope: JobScope) -> list[JobSpec]:
    host = scope.first_host()
    ctx = scope.contexts[host.name]
    if not job.when(ctx):
        return []
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
        grants=[[render_string(target, ctx), privileges] for target, privileges in job.grants],
        grant_option=job.grant_option,
        timeout=ctx["database_max_timeout"],
    )
    return [JobSpec(job.name, host.name, scripts.create_database(), params, job.after_containers, in_toolbox=True)]


def _keystone(job: KeystoneRegistration, scope: JobScope) -> list[JobSpec]:
    host = scope.first_host()
    params = keystone_registration_params(job, scope.contexts[host.name])
    return [JobSpec(job.name, host.name, scripts.register_in_keystone(), params, in_toolbox=True)]


def _bootstrap(job: BootstrapJob, scope: JobScope) -> list[JobSpec]:
    container = scope.service.container(job.container_key)
    hosts = scope.container_hosts(container)
    specs = []
    for host in hosts if job.all_hosts else hosts[:1]:
        ctx = container_context(scope.contexts[host.name], container)
        target = scope.rendered[(host.name, container.key)]
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
    if specs and job.database_variables:
        specs = _around_with_database_variables(job, specs, scope.contexts[specs[0].host], scope.rendered)
    return specs


def _exec(job: ExecJob, scope: JobScope) -> list[JobSpec]:
    container = scope.service.container(job.container_key)
    # A run-once job watches its container's group; a per-host job does its own host's work, which
    # another host joining does not change.
    watched = (*(() if job.all_hosts else (container.group,)), *job.watch_groups)
    hosts = scope.container_hosts(container)
    specs = []
    for host in hosts if job.all_hosts else hosts[:1]:
        ctx = container_context(scope.contexts[host.name], container)
        if not job.when(ctx):
            continue
        script = scope.inputs_line(host.name, container, watched) + scripts.docker_exec(
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


def _host(job: HostJob, scope: JobScope) -> list[JobSpec]:
    container = scope.service.container(job.container_key)
    hosts = scope.container_hosts(container)[:1]
    specs = []
    for host in hosts:
        ctx = {
            **container_context(scope.contexts[host.name], container),
            "container": scope.rendered[(host.name, container.key)],
        }
        if not job.when(ctx):
            continue
        script = scope.inputs_line(host.name, container) + render_string(job.script, ctx)
        stdin = "".join(render_string(line, ctx) + "\n" for line in job.stdin)
        specs.append(JobSpec(job.name, host.name, script, stdin, reads=(container.key,)))
    return specs


RESOLVERS: dict[type, Callable[[Any, JobScope], list[JobSpec]]] = {
    DatabaseJob: _database,
    KeystoneRegistration: _keystone,
    BootstrapJob: _bootstrap,
    ExecJob: _exec,
    HostJob: _host,
}


def resolve_job(job: Job, scope: JobScope) -> list[JobSpec]:
    """The job's instances on its hosts, in the order they run."""
    return RESOLVERS[type(job)](job, scope)


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
