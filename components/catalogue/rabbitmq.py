"""RabbitMQ: the message bus; one shared `openstack` user, clustered by node name."""

from __future__ import annotations

from components.catalogue.model import BootstrapJob, ConfigFile, Container, Frontend, Healthcheck, Rollout, Service
from components.catalogue.volumes import default_volumes


def _file(template: str, dest: str, perm: str = "0600", source: str = "") -> ConfigFile:
    return ConfigFile(f"rabbitmq/{template}", dest, "rabbitmq", perm, source=source)


_DRAIN = "{% if groups['rabbitmq'] | length > 1 %}docker exec rabbitmq rabbitmq-upgrade drain{% endif %}"

# Kolla's reset-state.yml (`kolla-pulumi rabbitmq-reset-state`): each step runs on every rabbitmq host
# before the next starts; the commands are Jinja, rendered with the host's context.
RESET_STATE_STEPS = (
    ("stop_app", "docker exec rabbitmq rabbitmqctl stop_app"),
    ("force_reset", "docker exec rabbitmq rabbitmqctl force_reset"),
    ("start_app", "docker exec rabbitmq rabbitmqctl start_app"),
    (
        "await_online_nodes",
        "docker exec rabbitmq rabbitmqctl await_online_nodes {{ groups['rabbitmq'] | length }} --timeout 300000",
    ),
)

SERVICE = Service(
    name="rabbitmq",
    enable_flag="enable_rabbitmq",
    # Kolla's restart_services.yml: a clustered node is drained first (its clients move, its queue
    # leaders transfer), then restarted; the next node waits until this one is healthy again.
    rollout=Rollout(before_stop=_DRAIN),
    passwords=("rabbitmq_password", "rabbitmq_cluster_cookie"),
    variables={
        "project_name": "rabbitmq",
        "rabbitmq_datadir_volume": "rabbitmq",
        "role_rabbitmq_port": "{{ rabbitmq_port }}",
        "role_rabbitmq_management_port": "{{ rabbitmq_management_port }}",
        "role_rabbitmq_cluster_port": "{{ rabbitmq_cluster_port }}",
        "role_rabbitmq_epmd_port": "{{ rabbitmq_epmd_port }}",
        "role_rabbitmq_prometheus_port": "15692",
        "role_rabbitmq_user": "{{ rabbitmq_user }}",
        "role_rabbitmq_password": "{{ rabbitmq_password }}",
        "role_rabbitmq_groups": "rabbitmq",
        "rabbitmq_pid_file": "/var/lib/rabbitmq/mnesia/rabbitmq.pid",
        "rabbitmq_server_additional_erl_args": "+S 2:2 +sbwt none +sbwtdcpu none +sbwtdio none",
        "rabbitmq_cluster_partition_handling": "pause_minority",
        # Discovery rounds a new node makes before it starts on its own (see rabbitmq.conf.j2).
        "rabbitmq_discovery_retry_limit": 2,
        "rabbitmq_extra_config": {},
        "rabbitmq_enabled_plugins": lambda c: (
            [{"name": "rabbitmq_management", "enabled": True}]
            + ([{"name": "rabbitmq_prometheus", "enabled": True}] if c["enable_prometheus"] else [])
        ),
    },
    named_volumes=("rabbitmq",),
    containers=(
        Container(
            key="rabbitmq",
            container_name="rabbitmq",
            image="rabbitmq",
            group="rabbitmq",
            command="/usr/sbin/rabbitmq-server",
            # Kolla also sets RABBITMQ_CLUSTER_COOKIE here, but only the image's bootstrap branch reads it
            # (rabbitmq_bootstrap below); the running container gets the cookie as a file, so the secret
            # stays out of this container's environment, where `docker inspect` shows it to anyone.
            environment={"RABBITMQ_LOG_DIR": "/var/log/kolla/rabbitmq"},
            volumes=default_volumes("rabbitmq", "{{ rabbitmq_datadir_volume }}:/var/lib/rabbitmq/"),
            files=(
                _file("rabbitmq-env.conf.j2", "/etc/rabbitmq/rabbitmq-env.conf"),
                _file("rabbitmq.conf.j2", "/etc/rabbitmq/rabbitmq.conf"),
                _file("erl_inetrc.j2", "/etc/rabbitmq/erl_inetrc"),
                _file("advanced.config.j2", "/etc/rabbitmq/advanced.config"),
                _file("definitions.json.j2", "/etc/rabbitmq/definitions.json"),
                _file("enabled_plugins.j2", "/etc/rabbitmq/enabled_plugins"),
                _file(
                    "erlang.cookie.j2",
                    "/var/lib/rabbitmq/.erlang.cookie",
                    "0400",
                    source="rabbitmq-erlang.cookie",
                ),
            ),
            permissions=(
                {"path": "/var/lib/rabbitmq", "owner": "rabbitmq:rabbitmq", "recurse": True},
                {"path": "/var/log/kolla/rabbitmq", "owner": "rabbitmq:rabbitmq", "recurse": True},
            ),
            healthcheck=Healthcheck("healthcheck_rabbitmq"),
            haproxy=(Frontend(name="rabbitmq_management", port="{{ rabbitmq_management_port }}"),),
        ),
    ),
    jobs=(
        BootstrapJob(
            name="rabbitmq_bootstrap",
            container_key="rabbitmq",
            environment={"KOLLA_BOOTSTRAP": "", "RABBITMQ_LOG_DIR": "/var/log/kolla/rabbitmq"},
            secret_environment={"RABBITMQ_CLUSTER_COOKIE": "{{ rabbitmq_cluster_cookie }}"},
            skip_if="test -d /var/lib/rabbitmq/mnesia",
            all_hosts=True,
        ),
    ),
)
