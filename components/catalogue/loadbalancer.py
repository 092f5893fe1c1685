"""Kolla's `loadbalancer` role: haproxy on the internal (and external) VIP, keepalived holding the VIP,
and ProxySQL in front of MariaDB on the VIP's database port (Kolla's enable_proxysql, on by default).

haproxy's per-service files (services.d/<service>.cfg, Kolla's haproxy-config role) are not declared
here: every enabled service declares its `haproxy:` entries on its containers, and
components/haproxy.py gathers them into this service's haproxy container. Likewise ProxySQL's
users/<service>.yaml and rules/<service>.yaml (Kolla's proxysql-config role) come from every enabled
service's database jobs, gathered by components/proxysql.py. Without proxysql, MariaDB is reached
through haproxy (its `mariadb` frontend).
"""

from __future__ import annotations

from components.catalogue.model import ConfigFile, Container, Context, Healthcheck, Rollout, Service
from components.catalogue.volumes import config_volume, default_volumes

HAPROXY_SOCKET = "haproxy_socket:/var/lib/kolla/haproxy/"


def _external_vip_enabled(ctx: Context) -> bool:
    """Kolla's haproxy_enable_external_vip: a separate external VIP only when it differs from the internal one."""
    return str(ctx["kolla_external_vip_address"]) != str(ctx["kolla_internal_vip_address"])


def _track_script(ctx: Context) -> bool:
    return str(ctx["keepalived_track_script_enabled"]).lower() in {"true", "yes", "1", "on"}


def _proxysql(ctx: Context) -> bool:
    return bool(ctx["enable_proxysql"])


def _single_node_shard(ctx: Context) -> bool:
    """Kolla's mariadb_singlenode: some shard has one host, so ProxySQL cannot reroute around it."""
    return any(len(shard["hosts"]) <= 1 for shard in ctx["mariadb_shards_info"]["shards"].values())


# Before a loadbalancer host's containers stop: if it holds the internal VIP, its keepalived stops first,
# so that the VIP moves to another host (Kolla's handlers restart backups first and the VIP holder last
# for the same reason), and the host waits until the VIP answers from there. Started again once the
# host's haproxy serves (nopreempt: the VIP stays where it went).
_HAND_OVER_VIP = """{% if groups['loadbalancer'] | length > 1 and enable_keepalived | bool %}
if ip -o addr show | grep -q " {{ kolla_internal_vip_address }}/"; then
  docker stop keepalived >/dev/null
  n=0
  while ip -o addr show | grep -q " {{ kolla_internal_vip_address }}/" && [ $n -lt 30 ]; do sleep 1; n=$((n + 1)); done
  n=0
  vip_status="/dev/tcp/{{ kolla_internal_vip_address }}/{{ haproxy_monitor_port }}"
  until timeout 1 bash -c "<$vip_status" 2>/dev/null || [ $n -ge 30 ]; do
    sleep 1; n=$((n + 1))
  done
  echo "the VIP {{ kolla_internal_vip_address }} moved off {{ inventory_hostname }}"
fi
{% endif %}"""
_RESTART_KEEPALIVED = """{% if enable_keepalived | bool %}
if [ -z "$(docker ps -q --filter name=^keepalived$)" ] && docker inspect keepalived >/dev/null 2>&1; then
  docker start keepalived >/dev/null && echo "keepalived started again on {{ inventory_hostname }}"
fi
{% endif %}"""

SERVICE = Service(
    name="loadbalancer",
    rollout=Rollout(before_stop=_HAND_OVER_VIP, after_ready=_RESTART_KEEPALIVED),
    enable_flag="enable_haproxy",
    # After mariadb: ProxySQL checks the backends as the monitor user mariadb's jobs create (Kolla's
    # mariadb/tasks/loadbalancer.yml creates it before proxysql for the same reason).
    depends_on=("common", "mariadb"),
    passwords=("haproxy_password", "keepalived_password", "proxysql_admin_password", "proxysql_stats_password"),
    variables={
        # Kolla's group_vars that only the loadbalancer reads.
        "haproxy_user": "openstack",
        "haproxy_enable_external_vip": _external_vip_enabled,
        "enable_prometheus_haproxy_exporter": lambda c: bool(c["enable_haproxy"]),
        "prometheus_haproxy_exporter_port": "9101",
        "fluentd_syslog_port": "5140",
        "syslog_udp_port": "{{ fluentd_syslog_port }}",
        # The role's defaults.
        "syslog_server": "{{ api_interface_address }}",
        "syslog_haproxy_facility": "local1",
        "keepalived_traffic_mode": "multicast",
        "keepalived_track_script_enabled": True,
        "haproxy_max_connections": 40000,
        "haproxy_threads": 1,
        "haproxy_thread_cpu_map": False,
        "haproxy_defaults_max_connections": 10000,
        "haproxy_http_request_timeout": "10s",
        "haproxy_http_keep_alive_timeout": "10s",
        "haproxy_queue_timeout": "1m",
        "haproxy_connect_timeout": "10s",
        "haproxy_client_timeout": "1m",
        "haproxy_server_timeout": "1m",
        "haproxy_check_timeout": "10s",
        "haproxy_defaults_balance": "roundrobin",
        "haproxy_socket_level_admin": lambda c: bool(c["enable_letsencrypt"]),
        # Not Kolla's: the stats page (behind the stats credentials) may change a server's state, which is
        # how a service's rollout drains a host before its containers stop (components/serving.py).
        "haproxy_stats_admin": True,
        # haproxy-config's defaults: options every frontend gets after its own.
        "haproxy_frontend_http_extra": ["option httplog", "option forwardfor"],
        "haproxy_frontend_tcp_extra": ["option tcplog"],
        # ProxySQL: Kolla's group_vars, then the role's defaults.
        "proxysql_prometheus_exporter_port": "6070",
        "enable_prometheus_proxysql_exporter": lambda c: bool(c["enable_prometheus"]) and _proxysql(c),
        "proxysql_workers": "{{ openstack_service_workers }}",
        "proxysql_max_connections": 40000,
        "proxysql_backend_max_connections": 10000,
        "proxysql_backend_max_replication_lag": "0",
        "proxysql_admin_user": "kolla-admin",
        "proxysql_stats_user": "kolla-stats",
        "proxysql_prometheus_exporter_memory_metrics_interval": "60",
        "mariadb_connect_timeout_client": "",
        "mariadb_connect_timeout_server": "",
        "mariadb_connect_timeout_server_max": "",
        "mariadb_monitor_connect_interval": "2000",
        "mariadb_monitor_connect_timeout": "",
        "mariadb_monitor_galera_healthcheck_interval": "",
        "mariadb_monitor_galera_healthcheck_timeout": "",
        "mariadb_monitor_galera_healthcheck_max_timeout_count": "",
        "mariadb_monitor_ping_interval": "",
        "mariadb_monitor_ping_timeout": "",
        "mariadb_monitor_ping_max_failures": "",
        "mariadb_monitor_read_only_interval": "",
        "mariadb_singlenode": _single_node_shard,
        "mariadb_shun_on_failures": "{{ '10' if mariadb_singlenode else '' }}",
        "mariadb_connect_retries_delay": "{{ '1000' if mariadb_singlenode else '' }}",
        "mariadb_connect_retries_on_failure": "{{ '20' if mariadb_singlenode else '' }}",
    },
    named_volumes=("haproxy_socket", "letsencrypt_certificates", "proxysql", "proxysql_socket"),
    containers=(
        Container(
            key="haproxy",
            container_name="haproxy",
            image="haproxy",
            group="loadbalancer",
            command="/etc/haproxy/haproxy_run.sh",
            privileged=True,
            # No kolla_logs: haproxy logs to syslog (Kolla's fluentd syslog input).
            volumes=(
                config_volume("haproxy"),
                "/etc/localtime:/etc/localtime:ro",
                HAPROXY_SOCKET,
                "letsencrypt_certificates:/etc/haproxy/certificates",
            ),
            files=(
                ConfigFile("haproxy/haproxy_run.sh.j2", "/etc/haproxy/haproxy_run.sh", "root", "0700"),
                ConfigFile("haproxy/haproxy.cfg.j2", "/etc/haproxy/haproxy.cfg", "root", "0600"),
                # services.d/<service>.cfg files are added by components/haproxy.py.
            ),
            healthcheck=Healthcheck(
                "healthcheck_curl http://{{ api_interface_address | put_address_in_context('url') }}"
                ":{{ haproxy_monitor_port }}"
            ),
        ),
        Container(
            key="proxysql",
            container_name="proxysql",
            image="proxysql",
            group="loadbalancer",
            command="/etc/proxysql_run.sh",
            volumes=default_volumes(
                "proxysql", "proxysql:/var/lib/proxysql/", "proxysql_socket:/var/lib/kolla/proxysql/"
            ),
            files=(
                ConfigFile("proxysql/proxysql_run.sh.j2", "/etc/proxysql_run.sh", "proxysql", "0700"),
                ConfigFile("proxysql/proxysql.yaml.j2", "/etc/proxysql/proxysql.yaml", "proxysql", "0600"),
                # users/<service>.yaml and rules/<service>.yaml are added by components/proxysql.py.
            ),
            healthcheck=Healthcheck("healthcheck_listen proxysql {{ proxysql_admin_port }}"),
            enabled=_proxysql,
        ),
        Container(
            key="keepalived",
            container_name="keepalived",
            image="keepalived",
            group="loadbalancer",
            command="/usr/sbin/keepalived -nld -p /run/keepalived.pid",
            privileged=True,
            volumes=(
                config_volume("keepalived"),
                "/etc/localtime:/etc/localtime:ro",
                "/lib/modules:/lib/modules:ro",
                HAPROXY_SOCKET,
                "{{ 'proxysql_socket:/var/lib/kolla/proxysql/' if enable_proxysql | bool else '' }}",
            ),
            files=(
                ConfigFile("keepalived/keepalived.conf.j2", "/etc/keepalived/keepalived.conf", "root", "0600"),
                # Kolla ships checks/ as a directory; the config writer keeps a flat directory, so the
                # check lands in /checks/ through its own entry (the image's /check_alive.sh runs them all).
                ConfigFile(
                    "keepalived/check_alive_haproxy.sh.j2",
                    "/checks/check_alive_haproxy.sh",
                    "root",
                    "0770",
                    when=_track_script,
                ),
                ConfigFile(
                    "keepalived/check_alive_proxysql.sh.j2",
                    "/checks/check_alive_proxysql.sh",
                    "root",
                    "0770",
                    when=lambda c: _track_script(c) and _proxysql(c),
                ),
            ),
            enabled=lambda c: bool(c["enable_keepalived"]),
        ),
    ),
)
