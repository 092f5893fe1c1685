"""The shape of a service definition: plain data, with Kolla's field names.

String fields may hold Jinja expressions (`{{ api_interface_address }}`), rendered per host with the
same context as the templates, so a definition reads like kolla-ansible's `<service>_services`.
Conditions are Python predicates over that context (`when=`), never strings to evaluate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Context = Mapping[str, Any]
Predicate = Callable[[Context], bool]


def always(_: Context) -> bool:
    return True


@dataclass(frozen=True)
class ConfigFile:
    """A file the container reads: rendered from `template`, placed in /etc/kolla/<service>/<source>,
    copied by kolla_set_configs to `dest` with `owner` and `perm`.

    `ini_overrides` lists operator override files (relative to node_custom_config, with {service},
    {container_key} and {host} placeholders) merged INI-wise after the template, as merge_configs does.
    """

    template: str
    dest: str
    owner: str
    perm: str = "0600"
    source: str = ""
    ini_overrides: tuple[str, ...] = ()
    when: Predicate = always

    @property
    def source_name(self) -> str:
        return self.source or self.template.rsplit("/", 1)[-1].removesuffix(".j2")


@dataclass(frozen=True)
class Healthcheck:
    """Kolla's healthcheck; `test` is a CMD-SHELL command (Jinja), timings come from the globals."""

    test: str


@dataclass(frozen=True)
class Frontend:
    """One of Kolla's `haproxy:` entries of a container: a listener on the internal (or, `external`,
    the external) VIP at `port`, balancing to the container's hosts at `listen_port` (default: `port`).
    Ports and extras may be Jinja. The loadbalancer service gathers every enabled container's entries."""

    name: str
    port: str
    listen_port: str = ""
    mode: str = "http"
    external: bool = False
    frontend_extra: tuple[str, ...] = ()
    backend_extra: tuple[str, ...] = ()
    # Kolla's active_passive: one active member, the others `backup` (e.g. Galera writes).
    active_passive: bool = False
    # Extra words on each `server` line (e.g. "check port 4569 inter 2000 rise 2 fall 5").
    member_options: str = "check inter 2000 rise 2 fall 5"
    enabled: Predicate = always


@dataclass(frozen=True)
class Container:
    """One entry of Kolla's `<project>_services`, keyed like Kolla's (`keystone-fernet`)."""

    key: str
    container_name: str
    image: str
    group: str
    command: str
    files: tuple[ConfigFile, ...] = ()
    volumes: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    # Only where an image's start script demands a secret in its environment (Kolla's rabbitmq).
    secret_environment: Mapping[str, str] = field(default_factory=dict)
    directories: tuple[Mapping[str, str], ...] = ()
    permissions: tuple[Mapping[str, Any], ...] = ()
    healthcheck: Healthcheck | None = None
    privileged: bool = False
    pid_mode: str = ""
    ipc_mode: str = ""
    cgroupns_mode: str = ""
    cap_add: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    haproxy: tuple[Frontend, ...] = ()
    enabled: Predicate = always
    # Narrows `group` per host, as Kolla's host_in_groups does, over each candidate host's context
    # (e.g. glance_api on one host only when images live on a host-local volume).
    host_in_groups: Predicate | None = None
    # Kolla runs it only when an operator's command asks (mariabackup, for `mariadb_backup`): its
    # config directory and image are deployed on its hosts, and no container is kept running.
    on_demand: bool = False


@dataclass(frozen=True)
class DatabaseJob:
    """Create a database and its user (Kolla's mysql_db + mysql_user via kolla_toolbox), run in
    kolla_toolbox on the first host of the service's first container group. Without `database`, only
    the user with `privileges` on *.* (e.g. MariaDB's monitor user); `password_key` names the password
    (Jinja, so it may depend on a flag); rendering empty, no password (Kolla's monitor user without
    proxysql).

    The job logs in as `login_user` at `login_host` with database_password. By default that is Kolla's
    `<svc>_database_shard_root_user` through the VIP: root_shard_0 when ProxySQL listens there (it
    knows only the users it is given), database_user otherwise. With proxysql on, the loadbalancer
    turns each enabled service's database jobs into ProxySQL's users/<service>.yaml (the user) and
    rules/<service>.yaml (the schema); a `shard_root` job's user goes to the users file alone, routed
    to its shard's writer hostgroup (Kolla's mariadb_shards_info users)."""

    name: str
    database: str
    user: str
    password_key: str = ""
    privileges: str = ""
    login_host: str = "{{ database_address }}"
    login_user: str = "{{ mariadb_shard_database_user }}"
    grant_option: bool = False
    shard_root: bool = False
    after_containers: bool = False
    # (object, privileges) granted besides, e.g. ("mysql.*", "CREATE, INSERT, SELECT").
    grants: tuple[tuple[str, str], ...] = ()
    when: Predicate = always


@dataclass(frozen=True)
class BootstrapJob:
    """A one-shot container (Kolla's `bootstrap_<svc>`): the service image with KOLLA_BOOTSTRAP, run once
    on the first host of `group`, reading the same config files as `container_key`. It re-runs when its
    image or those files change, never on every `up`."""

    name: str
    container_key: str
    environment: Mapping[str, str] = field(default_factory=lambda: {"KOLLA_BOOTSTRAP": ""})
    command: str = ""
    secret_environment: Mapping[str, str] = field(default_factory=dict)
    all_hosts: bool = False
    skip_if: str = ""
    # MariaDB global variables set around the one-shot, name -> (during, after): Kolla's mysql_variables
    # tasks before and after e.g. bootstrap_glance (log_bin_trust_function_creators for its triggers).
    database_variables: Mapping[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ExecJob:
    """A shell script run with `docker exec` in a running container on the first host of its group,
    after the service's containers exist; secret values reach it on stdin (one per line, in `stdin`
    order), never in argv or the container's environment."""

    name: str
    container_key: str
    script: str
    stdin: tuple[str, ...] = ()
    user: str = ""
    # Run on every host of the container's group (e.g. each network host's external bridge), not the first.
    all_hosts: bool = False
    # Groups whose members are among the job's inputs: adding or removing such a host runs it again
    # (e.g. nova's discover_hosts watches `compute`). The container's own group always counts.
    watch_groups: tuple[str, ...] = ()
    # Per host, over that host's context (e.g. the external bridge only where Kolla wants one).
    when: Predicate = always


@dataclass(frozen=True)
class HostJob:
    """A shell script run on the host itself (its docker CLI at hand), on the first host of
    `container_key`'s group, before the service's containers, when `when` holds there. The script (Jinja)
    sees the host's context and `container`, that container rendered for the host (its image, volumes,
    environment); secret values reach it on stdin (one per line, in `stdin` order). It runs again when
    that container's image or config changes."""

    name: str
    container_key: str
    script: str
    stdin: tuple[str, ...] = ()
    when: Predicate = always


@dataclass(frozen=True)
class KeystoneService:
    """A catalogue entry (Kolla's `<svc>_ks_services` item): endpoint URLs by interface, Jinja."""

    name: str
    type: str
    description: str
    endpoints: Mapping[str, str]


@dataclass(frozen=True)
class KeystoneUser:
    """A service user (Kolla's `<svc>_ks_users` item), granted `role` in `project`. With `domain`, a user
    of that domain (created if missing) granted `role` on the domain itself, not on a project (heat's
    stack domain admin, which Kolla's heat image creates in bootstrap_heat)."""

    user: str
    password_key: str
    project: str = "service"
    role: str = "admin"
    domain: str = ""


@dataclass(frozen=True)
class KeystoneGrant:
    """Kolla's `<svc>_ks_user_roles` item: `role` for an existing user in `project`, both of the default
    domain (Jinja), e.g. heat_stack_owner for the admin user."""

    user: str
    project: str
    role: str


@dataclass(frozen=True)
class KeystoneRegistration:
    """Kolla's service-ks-register: services, endpoints, projects, users, roles and role grants,
    created (or corrected) idempotently through keystone's API from kolla_toolbox, on the first host of
    the service's first container group, before the service's containers. Runs again only when what it
    registers changes (URLs, users, passwords)."""

    name: str
    services: tuple[KeystoneService, ...] = ()
    users: tuple[KeystoneUser, ...] = ()
    roles: tuple[str, ...] = ()
    user_roles: tuple[KeystoneGrant, ...] = ()


Job = DatabaseJob | BootstrapJob | ExecJob | HostJob | KeystoneRegistration


@dataclass(frozen=True)
class ReadyCheck:
    """How a container is known ready when its own healthcheck cannot tell at that point (MariaDB's
    logs in as a user created only later): `command` runs in the container (`docker exec -i`, sh) with
    the `stdin` lines (Jinja; they may hold secrets) on its standard input; exit 0 means ready."""

    command: str
    stdin: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rollout:
    """How a service's containers are replaced across its hosts (components/rollout.py orders them).

    Hosts go in batches of `batch` (a count, or a share of the hosts as Kolla's `serial`: "33%");
    `first_host_last` puts the first host in the last batch (Galera's bootstrap node rejoins last).
    Hosts in none but the `together` node groups (compute hosts: many, serving no API) are replaced
    together, in one last batch, as Kolla restarts them: no compute host waits for another. A
    batch's containers are replaced once the previous batch serves again: its containers in `ready`
    (default: every one with a healthcheck or a ready check) pass their healthcheck, or `ready_checks`
    where given, within `ready_timeout` seconds, and the load balancers send to it again.

    Hooks, shell on the host (Jinja, per host; empty renders skip): `before_start` before the host's
    containers are created; `before_ready` once they exist, before readiness is awaited; `after_ready`
    once they serve; `before_stop` before they stop (after the load balancers drained them)."""

    batch: str = "1"
    first_host_last: bool = False
    together: tuple[str, ...] = ("compute",)
    ready: tuple[str, ...] | None = None
    ready_checks: Mapping[str, ReadyCheck] = field(default_factory=dict)
    ready_timeout: int = 600
    before_start: str = ""
    before_ready: str = ""
    after_ready: str = ""
    before_stop: str = ""


@dataclass(frozen=True)
class Service:
    """A whole service: its containers, the files they read, its jobs, what it needs first."""

    name: str
    enable_flag: str
    containers: tuple[Container, ...]
    jobs: tuple[Job, ...] = ()
    # Services whose containers and jobs must be ready first, wherever they run (the database, the
    # VIP, keystone, ...).
    depends_on: tuple[str, ...] = ()
    # Services needed on the same host only (a neutron agent needs its host's Open vSwitch, not every
    # host's): a host's resources wait for that service's resources on that host and nothing else.
    local_depends_on: tuple[str, ...] = ()
    passwords: tuple[str, ...] = ()
    variables: Mapping[str, Any] = field(default_factory=dict)
    named_volumes: tuple[str, ...] = ()
    rollout: Rollout = field(default_factory=Rollout)

    @property
    def on_demand_keys(self) -> frozenset[str]:
        return frozenset(c.key for c in self.containers if c.on_demand)

    def container(self, key: str) -> Container:
        for c in self.containers:
            if c.key == key:
                return c
        raise KeyError(f"service {self.name} has no container {key}")
