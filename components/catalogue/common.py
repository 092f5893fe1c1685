"""Kolla's `common` role: kolla_toolbox, cron and fluentd on every host (group `common`)."""

from __future__ import annotations

from components.catalogue.model import ConfigFile, Container, Context, Service
from components.catalogue.volumes import default_volumes

# Services whose logs under /var/log/kolla/<name>/ cron rotates and fluentd reads, with their flag.
LOGGING_SERVICES = {
    "fluentd": "enable_fluentd",
    "keystone": "enable_keystone",
    "mariadb": "enable_mariadb",
    "rabbitmq": "enable_rabbitmq",
    "haproxy": "enable_haproxy",
    "keepalived": "enable_keepalived",
    "proxysql": "enable_proxysql",
    "glance": "enable_glance",
    "placement": "enable_placement",
    "nova": "enable_nova",
    "libvirt": "enable_nova",
    "openvswitch": "enable_openvswitch",
    "neutron": "enable_neutron",
    "heat": "enable_heat",
    "horizon": "enable_horizon",
}


def _enabled_log_dirs(ctx: Context) -> list[str]:
    return [name for name, flag in LOGGING_SERVICES.items() if ctx[flag]]


SERVICE = Service(
    name="common",
    enable_flag="",
    passwords=("rabbitmq_cluster_cookie",),
    variables={
        "cron_logrotate_rotation_interval": "weekly",
        "cron_logrotate_rotation_count": 6,
        "cron_logrotate_log_maxsize": "100M",
        "cron_logrotate_log_minsize": "30M",
        "cron_logrotate_schedule": "daily",
        "cron_logrotate_enabled_services": _enabled_log_dirs,
        "fluentd_enabled_input_services": lambda c: [s for s in _enabled_log_dirs(c) if s != "fluentd"],
    },
    containers=(
        Container(
            key="kolla-toolbox",
            container_name="kolla_toolbox",
            image="kolla-toolbox",
            group="kolla-toolbox",
            command="kolla_toolbox",
            privileged=True,
            environment={"ANSIBLE_NOCOLOR": "1", "ANSIBLE_LIBRARY": "/usr/share/ansible"},
            volumes=(*default_volumes("kolla-toolbox"), "/dev/:/dev/", "/run/:/run/:shared"),
            files=(
                ConfigFile(
                    "rabbitmq/erlang.cookie.j2",
                    "/var/lib/rabbitmq/.erlang.cookie",
                    "rabbitmq",
                    source="rabbitmq-erlang.cookie",
                    when=lambda c: c["enable_rabbitmq"],
                ),
                ConfigFile(
                    "kolla-toolbox/rabbitmq-env.conf.j2",
                    "/etc/rabbitmq/rabbitmq-env.conf",
                    "rabbitmq",
                    when=lambda c: c["enable_rabbitmq"],
                ),
                ConfigFile(
                    "rabbitmq/erl_inetrc.j2",
                    "/etc/rabbitmq/erl_inetrc",
                    "rabbitmq",
                    when=lambda c: c["enable_rabbitmq"],
                ),
            ),
            permissions=({"path": "/var/log/kolla/ansible.log", "perm": "0664", "owner": "ansible:kolla"},),
        ),
        Container(
            key="cron",
            container_name="cron",
            image="cron",
            group="cron",
            command="{{ 'cron -f' if kolla_base_distro in ['ubuntu', 'debian'] else 'crond -s -n' }}",
            environment={"KOLLA_LOGROTATE_SCHEDULE": "{{ cron_logrotate_schedule }}"},
            volumes=default_volumes("cron"),
            files=(ConfigFile("cron/logrotate.conf.j2", "/etc/logrotate.conf", "root"),),
        ),
        Container(
            key="fluentd",
            container_name="fluentd",
            image="fluentd",
            group="fluentd",
            command="fluentd -c /etc/fluentd/fluentd.conf -o /var/log/kolla/fluentd/fluentd.log",
            enabled=lambda c: c["enable_fluentd"],
            volumes=(
                *default_volumes("fluentd"),
                "fluentd_data:/var/lib/fluentd/data/",
                "/var/log/journal:/var/log/journal:ro",
            ),
            files=(ConfigFile("fluentd/fluentd.conf.j2", "/etc/fluentd/fluentd.conf", "fluentd"),),
            permissions=(
                {"path": "/var/log/kolla/fluentd", "owner": "fluentd:fluentd", "recurse": True},
                {"path": "/var/lib/fluentd/data", "owner": "fluentd:fluentd", "recurse": True},
            ),
        ),
    ),
)
