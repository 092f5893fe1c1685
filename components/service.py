"""`KollaService`: one OpenStack service, as a component whose children are its config delivery, its
bootstrap jobs and its `docker.Container`s on each host.

This is the one place that turns a rendered container into Pulumi resources (no other code lists
container fields). Order inside a service: config files -> jobs that run before the containers ->
containers -> jobs that need the containers running.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_command as command
import pulumi_docker as docker

from components import config_drift, scripts
from components.catalogue.model import Service
from components.host import KollaHost
from components.render import RenderedContainer
from components.serving import Drain, Gate

# pulumi-docker 5.2.0 diffs a changed healthcheck command as an in-place update that it stores and
# never applies (upstream marks the block ForceNew, not its fields): the engine is told to replace on it
# (tests/testbed/test_provider_rules.py shows both on the test bed).
REPLACE_ON = ["healthcheck"]
_PROPAGATION = ("shared", "rshared", "slave", "rslave", "private")


@dataclass(frozen=True)
class JobSpec:
    """A job resolved for one host: the script, its secret stdin, and what it must wait for."""

    name: str
    host: str
    script: str
    stdin: str
    after_containers: bool = False
    reads: tuple[str, ...] = ()  # container keys whose config (and image) the job uses
    in_toolbox: bool = False  # runs in kolla_toolbox on its host, so waits for that container
    per_host: bool = False  # one of a job's instances on each host (not a run-once job)
    delete: str = ""
    # The secrets the job can see (on its stdin, in the files it reads): masked in its output.
    masks: tuple[str, ...] = ()

    @property
    def command(self) -> str:
        return scripts.masked(self.script) if self.masks else self.script

    @property
    def command_stdin(self) -> str:
        return scripts.masks_stdin(self.masks) + self.stdin if self.masks else self.stdin


@dataclass(frozen=True)
class GateSpec:
    """A host's gate (components/serving.py) with what its resources need besides."""

    gate: Gate
    before_start: str = ""  # the rollout's before_start hook on this host, rendered
    masks: tuple[str, ...] = ()  # the secrets its stdin carries: masked in its output
    uses_toolbox: bool = False  # it talks to the load balancers from kolla_toolbox

    @property
    def host(self) -> str:
        return self.gate.host

    def command(self, script: str) -> str:
        return scripts.masked(script) if self.masks else script

    def with_masks(self, stdin: str) -> str:
        return scripts.masks_stdin(self.masks) + stdin if self.masks else stdin

    @property
    def stdin(self) -> str:
        return self.with_masks(self.gate.stdin)

    @property
    def drains(self) -> dict[str, Drain]:
        """The host's drains, by container key."""
        return {drain.container: drain for drain in self.gate.drains}


@dataclass(frozen=True)
class ServicePlan:
    service: Service
    containers: Sequence[RenderedContainer]
    jobs: Sequence[JobSpec] = field(default_factory=tuple)
    # Hosts in the order their containers are replaced (components/rollout.py), and their gates.
    batches: Sequence[Sequence[str]] = field(default_factory=tuple)
    gates: Sequence[GateSpec] = field(default_factory=tuple)
    # Containers Kolla runs only on an operator's command (model.Container.on_demand): their config
    # directory is written and their image pulled, and the commands that run them read both.
    on_demand: Sequence[RenderedContainer] = field(default_factory=tuple)


def parse_volume(spec: str) -> tuple[str, str, list[str]]:
    """Kolla's `src:dst[:opts]` volume string."""
    parts = spec.split(":")
    if len(parts) < 2:
        raise ValueError(f"volume {spec!r}: expected 'source:destination[:options]'")
    return parts[0], parts[1], parts[2].split(",") if len(parts) > 2 else []


JOB_TIMEOUTS = pulumi.CustomTimeouts(create="20m", update="20m", delete="10m")
SECRET_OUTPUTS = ["stdout", "stderr"]


def _steps(jobs: Sequence[JobSpec]) -> list[list[JobSpec]]:
    """Consecutive instances of the same job form one step."""
    steps: list[list[JobSpec]] = []
    for job in jobs:
        if steps and steps[-1][0].name == job.name:
            steps[-1].append(job)
        else:
            steps.append([job])
    return steps


# What an after-container job waits for: ("containers", host) or ("job", host, name).
Wait = tuple[str, ...]


def after_container_order(jobs: Sequence[JobSpec], container_hosts: Sequence[str]) -> list[tuple[JobSpec, list[Wait]]]:
    """The jobs that run once the containers do, in order, each with what it waits for. Consecutive
    instances of a job form a step. A per-host job waits for the previous per-host job on its host, or
    else for the last run-once job (which followed everything), or else for its host's containers:
    hosts proceed in parallel. A run-once job waits for the last job on every host and for the
    containers of hosts no job has run on since (a per-host step may cover some hosts only)."""
    frontier: dict[str, Wait] = {}  # per host, its last job since the last run-once job
    last_once: list[Wait] = []
    order: list[tuple[JobSpec, list[Wait]]] = []
    for step in _steps(jobs):
        for job in step:
            if job.per_host:
                fallback = last_once or [("containers", job.host)]
                order.append((job, [frontier[job.host]] if job.host in frontier else fallback))
            else:
                uncovered = [] if last_once else [("containers", h) for h in container_hosts if h not in frontier]
                order.append((job, [*frontier.values(), *last_once, *uncovered]))
        if step[0].per_host:
            frontier.update({job.host: ("job", job.host, job.name) for job in step})
        else:
            frontier, last_once = {}, [("job", job.host, job.name) for job in step]
    return order


def mount_sources(volumes: Sequence[str]) -> tuple[str, ...]:
    """Host paths the container bind-mounts with a propagation mode (declared as mounts, see below)."""
    sources = []
    for spec in volumes:
        source, _target, options = parse_volume(spec)
        if "/" in source and any(o in _PROPAGATION for o in options):
            sources.append(source)
    return tuple(sources)


def capability_names(cap_add: Sequence[str]) -> list[str]:
    """Kolla's cap_add (`NET_ADMIN`) as Docker reports it back (`CAP_NET_ADMIN`): written any other way,
    the provider's read after a refresh differs and the container is replaced."""
    return [c if c.startswith("CAP_") else f"CAP_{c}" for c in cap_add]


def container_args(
    rendered: RenderedContainer, spec_flags: Mapping[str, object], host: KollaHost, repair: str = ""
) -> dict:
    """The docker.Container inputs for one rendered container (Kolla's kolla_container defaults); a
    `repair` token (components/config_drift.py) restarts it on its config directory written back."""
    volumes: list[docker.ContainerVolumeArgs] = []
    mounts: list[docker.ContainerMountArgs] = []
    for spec in rendered.volumes:
        source, target, options = parse_volume(spec)
        read_only = "ro" in options
        propagation = next((o for o in options if o in _PROPAGATION), None)
        if propagation:
            mounts.append(
                docker.ContainerMountArgs(
                    type="bind",
                    source=source,
                    target=target,
                    read_only=read_only,
                    bind_options=docker.ContainerMountBindOptionsArgs(propagation=propagation),
                )
            )
        elif "/" not in source:
            volumes.append(
                docker.ContainerVolumeArgs(
                    volume_name=host.volume(source).name, container_path=target, read_only=read_only
                )
            )
        else:
            volumes.append(docker.ContainerVolumeArgs(host_path=source, container_path=target, read_only=read_only))
    env = {**rendered.environment, **rendered.secret_environment, "KOLLA_CONFIG_HASH": rendered.config_hash}
    if repair:
        env[config_drift.TOKEN_ENV] = repair
    envs = [f"{k}={v}" for k, v in sorted(env.items())]
    args: dict = {
        "name": rendered.container_name,
        "envs": pulumi.Output.secret(envs) if rendered.secret_environment else envs,
        "network_mode": "host",
        "restart": spec_flags["restart"],
        "volumes": volumes,
        "must_run": True,
        "destroy_grace_seconds": spec_flags["graceful_timeout"],
    }
    if mounts:
        args["mounts"] = mounts
    for flag in ("privileged",):
        if spec_flags.get(flag):
            args[flag] = True
    for mode in ("pid_mode", "ipc_mode", "cgroupns_mode"):
        if spec_flags.get(mode):
            args[mode] = spec_flags[mode]
    if spec_flags.get("cap_add"):
        args["capabilities"] = docker.ContainerCapabilitiesArgs(adds=capability_names(spec_flags["cap_add"]))  # type: ignore[arg-type]
    if spec_flags.get("security_opt"):
        args["security_opts"] = list(spec_flags["security_opt"])  # type: ignore[arg-type]
    if rendered.healthcheck:
        timing = spec_flags["healthcheck_timing"]
        args["healthcheck"] = docker.ContainerHealthcheckArgs(tests=list(rendered.healthcheck), **timing)  # type: ignore[arg-type]
    return args


class KollaService(pulumi.ComponentResource):
    """A service's resources on every host it is placed on."""

    containers: dict[tuple[str, str], docker.Container]
    jobs: dict[tuple[str, str], command.remote.Command]

    def __init__(
        self,
        plan: ServicePlan,
        hosts: Mapping[str, KollaHost],
        container_flags: Mapping[str, Mapping[str, object]],
        depends_on: Sequence[KollaService] = (),
        local_depends_on: Sequence[KollaService] = (),
        toolboxes: Mapping[str, pulumi.Resource] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("kolla:openstack:Service", plan.service.name, None, opts)
        self.containers = {}
        self.jobs = {}
        self._on_host: dict[str, list[pulumi.Resource]] = {}  # containers and per-host jobs, by host
        everywhere = [r for dep in depends_on for r in dep.ready()]

        def needs(host: str) -> list[pulumi.Resource]:
            return [*everywhere, *(r for dep in local_depends_on for r in dep.ready_on(host))]

        configs: dict[tuple[str, str], command.remote.Command] = {}
        images: dict[tuple[str, str], docker.RemoteImage] = {}
        for rendered in (*plan.containers, *plan.on_demand):
            host = hosts[rendered.host]
            directory = f"{scripts.KOLLA_ETC}/{rendered.key}"
            record = scripts.written_record(directory)
            repair = host.config_records.repair_token(rendered.key)
            configs[(rendered.host, rendered.key)] = command.remote.Command(
                f"{rendered.host}-{rendered.key}-config",
                connection=host.connection,
                create=scripts.write_config_dir(directory, mount_sources(rendered.volumes), record, repair or ""),
                delete=scripts.remove_dir(directory, mount_sources(rendered.volumes), record),
                stdin=pulumi.Output.secret(scripts.config_dir_stdin(rendered.files)),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[*host.ready, *needs(rendered.host)],
                    additional_secret_outputs=SECRET_OUTPUTS,
                    # Unread (the host did not answer): the repair token the state has stays.
                    ignore_changes=["create"] if repair is None else None,
                ),
            )
            images[(rendered.host, rendered.key)] = host.image(rendered.image)

        def job_resource(job: JobSpec, after: Sequence[pulumi.Resource]) -> command.remote.Command:
            waits = [*after, *needs(job.host), *hosts[job.host].ready]
            if job.in_toolbox and toolboxes and job.host in toolboxes:
                waits.append(toolboxes[job.host])
            waits += [configs[(job.host, key)] for key in job.reads if (job.host, key) in configs]
            waits += [images[(job.host, key)] for key in job.reads if (job.host, key) in images]
            stdin = job.command_stdin
            resource = command.remote.Command(
                f"{job.host}-{job.name}",
                connection=hosts[job.host].connection,
                create=job.command,
                delete=job.delete or None,
                stdin=pulumi.Output.secret(stdin) if stdin else None,
                # A job that hangs (e.g. a `docker exec` into a container restarting under it) fails the
                # run instead of holding it forever; the next run starts the job again.
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=waits,
                    custom_timeouts=JOB_TIMEOUTS,
                    # The provider keeps a job's output in plain text whatever its stdin: where the job
                    # could see a secret, the state keeps its (already masked) output encrypted too.
                    additional_secret_outputs=SECRET_OUTPUTS if stdin else None,
                ),
            )
            self.jobs[(job.host, job.name)] = resource
            if job.per_host:
                self._on_host.setdefault(job.host, []).append(resource)
            return resource

        before: list[pulumi.Resource] = []
        for job in plan.jobs:
            if not job.after_containers:
                before.append(job_resource(job, before[-1:]))

        # Containers batch by batch (components/rollout.py): a batch's containers wait until the previous
        # batch serves again (its gates), so a change replaces one batch of hosts at a time.
        gate_specs = {spec.host: spec for spec in plan.gates}
        self.gates: dict[str, command.remote.Command] = {}
        previous: list[pulumi.Resource] = []
        for batch in plan.batches or [list(dict.fromkeys(r.host for r in plan.containers))]:
            batch_gates: list[pulumi.Resource] = []
            for host_name in batch:
                host = hosts[host_name]
                spec = gate_specs.get(host_name)
                start: list[pulumi.Resource] = list(previous)
                if spec is not None and spec.before_start:
                    start = [
                        command.remote.Command(
                            f"{host_name}-{plan.service.name}-before-start",
                            connection=host.connection,
                            create=spec.before_start,
                            opts=pulumi.ResourceOptions(
                                parent=self, depends_on=[*previous, *host.ready], custom_timeouts=JOB_TIMEOUTS
                            ),
                        )
                    ]
                on_host = []
                for rendered in (r for r in plan.containers if r.host == host_name):
                    flags = container_flags[rendered.key]
                    image = images[(rendered.host, rendered.key)]
                    repair = host.config_records.repair_token(rendered.key)
                    container = docker.Container(
                        f"{rendered.host}-{rendered.container_name}",
                        image=image.image_id,
                        **container_args(rendered, flags, host, repair or ""),
                        opts=pulumi.ResourceOptions(
                            ignore_changes=["envs"] if repair is None else None,
                            parent=self,
                            provider=host.provider,
                            depends_on=[
                                configs[(rendered.host, rendered.key)],
                                *before,
                                *needs(rendered.host),
                                *start,
                            ],
                            delete_before_replace=True,
                            replace_on_changes=REPLACE_ON,
                        ),
                    )
                    self.containers[(rendered.host, rendered.key)] = container
                    self._on_host.setdefault(rendered.host, []).append(container)
                    on_host.append(container)
                    if spec is not None and rendered.key in spec.drains:
                        self._drain(spec, spec.drains[rendered.key], rendered, host, container, toolboxes)
                if spec is not None:
                    gate = self._gate(spec, host, on_host, toolboxes)
                    self.gates[host_name] = gate
                    self._on_host.setdefault(host_name, []).append(gate)
                    batch_gates.append(gate)
            previous = batch_gates or previous

        # Jobs after the containers, in the order after_container_order gives.
        hosts_with_containers = list(dict.fromkeys(h for h, _ in self.containers))
        for job, waits in after_container_order([j for j in plan.jobs if j.after_containers], hosts_with_containers):
            after = [
                resource
                for wait in waits
                for resource in (self._containers_on(wait[1]) if wait[0] == "containers" else [self.jobs[wait[1:]]])
            ]
            job_resource(job, after)
        self.register_outputs({})

    def _gate(
        self,
        spec: GateSpec,
        host: KollaHost,
        containers: Sequence[docker.Container],
        toolboxes: Mapping[str, pulumi.Resource] | None,
    ) -> command.remote.Command:
        """The host's gate: replaced whenever one of its containers is (their ids are its triggers), so the
        engine creates it again (serve) once they run again. It has no delete: each container's own
        drain takes it out of service (`_drain`)."""
        stdin = spec.stdin
        return command.remote.Command(
            f"{spec.host}-{spec.gate.service}-serving",
            connection=host.connection,
            create=spec.command(spec.gate.create),
            stdin=pulumi.Output.secret(stdin) if stdin else None,
            triggers=[c.id for c in containers],
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*containers, *self._toolbox_of(spec, host, toolboxes)],
                delete_before_replace=True,
                custom_timeouts=JOB_TIMEOUTS,
                additional_secret_outputs=SECRET_OUTPUTS if stdin else None,
            ),
        )

    def _drain(
        self,
        spec: GateSpec,
        drain: Drain,
        rendered: RenderedContainer,
        host: KollaHost,
        container: docker.Container,
        toolboxes: Mapping[str, pulumi.Resource] | None,
    ) -> command.remote.Command:
        """One container's drain: a delete-before-replace dependent of that container alone (its id is
        the only trigger), so the engine runs its delete right before that container stops, whichever of
        the host's containers are replaced and in whatever order. Nothing to create."""
        stdin = spec.with_masks(drain.stdin)
        return command.remote.Command(
            f"{rendered.host}-{rendered.container_name}-drain",
            connection=host.connection,
            delete=spec.command(drain.delete),
            stdin=pulumi.Output.secret(stdin) if stdin else None,
            triggers=[container.id],
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[container, *self._toolbox_of(spec, host, toolboxes)],
                delete_before_replace=True,
                custom_timeouts=JOB_TIMEOUTS,
                additional_secret_outputs=SECRET_OUTPUTS if stdin else None,
            ),
        )

    @staticmethod
    def _toolbox_of(
        spec: GateSpec, host: KollaHost, toolboxes: Mapping[str, pulumi.Resource] | None
    ) -> list[pulumi.Resource]:
        """What a gate or drain on `host` needs there: the host, and kolla_toolbox when it talks to the
        load balancers from it."""
        toolbox = [toolboxes[spec.host]] if spec.uses_toolbox and toolboxes and spec.host in toolboxes else []
        return [*host.ready, *toolbox]

    def _containers_on(self, host: str) -> list[pulumi.Resource]:
        """A host's containers and its gate: what is done once the service serves there."""
        gate = [self.gates[host]] if host in self.gates else []
        return [*(c for (h, _), c in self.containers.items() if h == host), *gate]

    def ready(self) -> list[pulumi.Resource]:
        """What a service depending on this one waits for: every container and job of it. Custom
        resources, never the component itself: the SDK expands a component into all its children for
        every dependent and its dependency-cycle check walks their closure each time."""
        return [*self.containers.values(), *self.gates.values(), *self.jobs.values()]

    def ready_on(self, host: str) -> list[pulumi.Resource]:
        """What a resource on `host` of a service needing this one locally waits for: this service's
        containers and per-host jobs on that host, and nothing of other hosts (the graph, and the
        evaluation cost, stay linear in hosts: bench/program_scale.py)."""
        return list(self._on_host.get(host, ()))
