"""MariaDB (Galera): the database every service uses; its first host bootstraps the cluster.

One shard (Kolla's default shard 0, every `mariadb` host). With proxysql (Kolla's default), services
reach it through ProxySQL on the VIP, logging in as the shard root user root_shard_0 that this role
creates; ProxySQL watches the hosts as the `monitor` user."""

from __future__ import annotations

from typing import Any

from components.catalogue.model import (
    BootstrapJob,
    ConfigFile,
    Container,
    Context,
    DatabaseJob,
    Frontend,
    Healthcheck,
    HostJob,
    ReadyCheck,
    Rollout,
    Service,
)
from components.catalogue.volumes import default_volumes


def _shards_info(ctx: Context) -> dict[str, Any]:
    """Kolla's mariadb_shards_info (database_shards_info filter) without its users: every `mariadb` host
    is in the default shard (no host sets mariadb_shard_id), keyed by the shard id as a string."""
    shard = str(ctx["mariadb_default_database_shard_id"])
    return {"shards": {shard: {"hosts": list(ctx["groups"].get("mariadb", []))}}}


def _clustered(ctx: Context) -> bool:
    return len(ctx["groups"].get("mariadb", [])) > 1


# The root login for checks run in a mariadb container, on stdin (never in argv or environment).
_ROOT_LOGIN = ("[client]", "user={{ database_user }}", "password={{ database_password }}")
# Kolla's restart_services.yml waits for this: the node is in the cluster and has caught up.
_SYNCED = (
    "mysql --defaults-extra-file=/dev/stdin -sN -e \"SHOW STATUS LIKE 'wsrep_local_state_comment'\" | grep -qw Synced"
)
# A marker in the data volume, left by the cluster's bootstrap: data with it and no running node is a
# stopped cluster (recovery), not the fresh data bootstrap_mariadb just made.
CLUSTER_MARKER = ".kolla-pulumi-cluster"

# Kolla's bootstrap_cluster.yml for a new cluster of several nodes: on the first host, a node started
# with --wsrep-new-cluster (the image's BOOTSTRAP_ARGS) forms the cluster; the others join it by SST as
# their containers start (the rollout puts the first host last); then it hands over to that host's own
# container (the rollout's before_start). Nothing happens when mariadb already runs here; a stopped
# cluster is refused with the way out.
_BOOTSTRAP_CLUSTER = """set -eu
creds=$(cat)
if [ -n "$(docker ps -q --filter name=^mariadb$)" ]; then
  echo "mariadb runs on {{ inventory_hostname }}: the cluster exists"; exit 0
fi
data=$(docker volume inspect mariadb | sed -n 's/.*"Mountpoint": *"\\(.*\\)".*/\\1/p')
if [ -z "$(docker ps -q --filter name=^mariadb_bootstrap$)" ]; then
  if [ -e "$data/CLUSTER_MARKER" ]; then
    echo "the MariaDB cluster has data on {{ inventory_hostname }} but no node runs it:" \\
      "start it with kolla-pulumi mariadb-recovery (the node with the most recent data bootstraps)" >&2
    exit 1
  fi
  docker rm -f mariadb_bootstrap >/dev/null 2>&1 || true
  docker run -d --name mariadb_bootstrap --network host --restart no -e BOOTSTRAP_ARGS=--wsrep-new-cluster
{%- for key, value in container.environment.items() %} -e {{ (key ~ '=' ~ value) | quote }}{% endfor %}
{%- for volume in container.volumes %} -v {{ volume | quote }}{% endfor %} {{ container.image | quote }} >/dev/null
fi
n=0
until printf '%s\\n' "$creds" | docker exec -i mariadb_bootstrap sh -c "SYNCED" >/dev/null 2>&1; do
  n=$((n + 1))
  if [ $n -ge {{ database_max_timeout }} ]; then
    echo "the bootstrap node on {{ inventory_hostname }} is not Synced after {{ database_max_timeout }} s:" >&2
    docker logs --tail 30 mariadb_bootstrap >&2 2>&1 || true
    exit 1
  fi
  sleep 1
done
touch "$data/CLUSTER_MARKER"
echo "a new MariaDB cluster runs on {{ inventory_hostname }}"
""".replace("CLUSTER_MARKER", CLUSTER_MARKER).replace("SYNCED", _SYNCED.replace('"', '\\"'))
_HAND_OVER_BOOTSTRAP_NODE = """{% if groups['mariadb'] | length > 1 and inventory_hostname == groups['mariadb'][0] %}
if docker inspect mariadb_bootstrap >/dev/null 2>&1; then
  docker stop -t {{ docker_graceful_timeout }} mariadb_bootstrap >/dev/null 2>&1 || true
  docker rm -f mariadb_bootstrap >/dev/null 2>&1 || true
  echo "the bootstrap node hands over to mariadb on {{ inventory_hostname }}"
fi
{% endif %}"""

SERVICE = Service(
    name="mariadb",
    # Kolla restarts Galera nodes one at a time and waits for each to be Synced; the bootstrap host last.
    rollout=Rollout(
        first_host_last=True,
        ready_checks={"mariadb": ReadyCheck(_SYNCED, _ROOT_LOGIN)},
        before_start=_HAND_OVER_BOOTSTRAP_NODE,
    ),
    enable_flag="enable_mariadb",
    depends_on=("common",),
    # The backup user's is needed only with enable_mariabackup; Kolla's passwords.yml always has it.
    passwords=("database_password", "mariadb_monitor_password", "mariadb_backup_database_password"),
    variables={
        "mariadb_monitor_user": "{{ 'monitor' if enable_proxysql | bool else 'haproxy' }}",
        # Kolla's sharding group_vars, for the one default shard.
        "mariadb_default_database_shard_id": 0,
        "mariadb_shard_id": "{{ mariadb_default_database_shard_id }}",
        "mariadb_loadbalancer": "{{ 'proxysql' if enable_proxysql | bool else 'haproxy' }}",
        "mariadb_shard_root_user_prefix": "root_shard_",
        "mariadb_shards_info": _shards_info,
        # The role's default; every service's `<svc>_database_shard_root_user` is the same for shard 0.
        "mariadb_shard_database_user": (
            "{% if mariadb_loadbalancer == 'haproxy' %}{{ database_user }}"
            "{% else %}{{ mariadb_shard_root_user_prefix }}{{ mariadb_shard_id | string }}{% endif %}"
        ),
        "mariadb_datadir_volume": "mariadb",
        "mariadb_innodb_log_file_size_mb": "2048",
        "mariadb_wsrep_extra_provider_options": [],
        "database_cluster_name": "openstack",
        # Kolla sizes the buffer pool from the host's memory fact; facts are not gathered here, so the
        # control hosts' memory is declared (40% of it, at most 8 GiB, goes to InnoDB).
        "mariadb_host_memory_mb": 4096,
        # Kolla's mariabackup defaults: through haproxy the active node is the first host, the one backed
        # up (Kolla's mariadb_backup_target 'active'; with ProxySQL, 'replica', refused in config/stack.py).
        "mariadb_backup_host": "{{ groups['mariadb'][0] }}",
        "mariadb_backup_database_schema": "mysql",
        "mariadb_backup_database_user": (
            "{% if mariadb_loadbalancer == 'haproxy' %}backup"
            "{% else %}{{ mariadb_shard_backup_user_prefix }}{{ mariadb_shard_id | string }}{% endif %}"
        ),
        "mariadb_shard_backup_user_prefix": "backup_shard_",
    },
    named_volumes=("mariadb", "mariadb_backup"),
    containers=(
        Container(
            key="mariadb",
            container_name="mariadb",
            image="mariadb-server",
            group="mariadb",
            command="/usr/bin/mariadbd-safe",
            volumes=default_volumes("mariadb", "{{ mariadb_datadir_volume }}:/var/lib/mysql"),
            environment={
                "MYSQL_USERNAME": "{{ mariadb_monitor_user }}",
                "MYSQL_HOST": "{{ api_interface_address }}",
                "AVAILABLE_WHEN_DONOR": "1",
            },
            # The healthcheck (clustercheck) logs in as the monitor user, which has a password only with
            # proxysql; without it the entry renders empty and is left out.
            secret_environment={
                "MYSQL_PASSWORD": "{% if enable_proxysql | bool %}{{ mariadb_monitor_password }}{% endif %}",
            },
            files=(
                ConfigFile(
                    "mariadb/galera.cnf.j2",
                    "/etc/{{ 'mysql/' if kolla_base_distro in ['ubuntu', 'debian'] else '' }}my.cnf",
                    "mysql",
                ),
            ),
            permissions=(
                {"path": "/var/log/kolla/mariadb", "owner": "mysql:mysql", "recurse": True},
                {"path": "/var/lib/mysql", "owner": "mysql:mysql", "recurse": True},
            ),
            healthcheck=Healthcheck("/usr/bin/clustercheck"),
            # Galera behind haproxy: one writer, the others backups (Kolla's internal_haproxy_members).
            # Kolla checks through its mariadb_clustercheck container (port 4569, `option httpchk`) when
            # proxysql is off; that container is not deployed yet, so haproxy checks the MariaDB port,
            # as Kolla's members do with enable_mariadb_clustercheck false. With proxysql on, Kolla
            # drops this frontend (proxysql listens on the VIP instead).
            haproxy=(
                Frontend(
                    name="mariadb",
                    mode="tcp",
                    port="{{ database_port }}",
                    listen_port="{{ mariadb_port }}",
                    frontend_extra=("option clitcpka", "timeout client 3600s"),
                    backend_extra=("option srvtcpka", "timeout server 3600s"),
                    active_passive=True,
                    member_options="check port {{ mariadb_port }} inter 2000 rise 2 fall 5",
                    enabled=lambda c: not c["enable_proxysql"],
                ),
            ),
        ),
        # Kolla's mariabackup (enable_mariabackup): run by `kolla-pulumi mariadb-backup` on the backup
        # host as Kolla's `mariadb_backup` runs it, with this config directory; nothing is kept running.
        Container(
            key="mariabackup",
            container_name="mariabackup",
            image="mariadb-server",
            group="mariadb",
            command="false",
            volumes=default_volumes(
                "mariabackup", "{{ mariadb_datadir_volume }}:/var/lib/mysql", "mariadb_backup:/backup"
            ),
            files=(
                ConfigFile(
                    "mariadb/backup.my.cnf.j2",
                    "/etc/mysql/my.cnf",
                    "mysql",
                    source="my.cnf",
                    ini_overrides=("backup.my.cnf", "mariadb/{host}/backup.my.cnf"),
                ),
            ),
            permissions=(
                {"path": "/var/log/kolla/mariadb", "owner": "mysql:mysql"},
                {"path": "/backup", "owner": "mysql:mysql"},
            ),
            enabled=lambda c: bool(c["enable_mariabackup"]),
            host_in_groups=lambda c: c["inventory_hostname"] == c["mariadb_backup_host"],
            on_demand=True,
        ),
    ),
    jobs=(
        # Kolla runs this only for a new cluster (a new data volume); the skip test makes it safe to
        # run again after a failed first run or a re-created job.
        BootstrapJob(
            name="bootstrap_mariadb",
            container_key="mariadb",
            environment={"KOLLA_BOOTSTRAP": "", "DB_MAX_TIMEOUT": "{{ database_max_timeout }}"},
            secret_environment={"DB_ROOT_PASSWORD": "{{ database_password }}"},
            skip_if="test -d /var/lib/mysql/mysql",
        ),
        HostJob(
            name="mariadb_bootstrap_cluster",
            container_key="mariadb",
            script=_BOOTSTRAP_CLUSTER,
            stdin=_ROOT_LOGIN,
            when=_clustered,
        ),
        # Kolla's register.yml, on the first host itself (not through the VIP: proxysql comes later and
        # needs these users). The shard root user every other service's database job logs in as.
        DatabaseJob(
            name="mariadb_shard_root_user",
            database="",
            user="{{ mariadb_shard_database_user }}",
            password_key="database_password",
            privileges="ALL PRIVILEGES",
            grant_option=True,
            login_host="{{ api_interface_address }}",
            login_user="{{ database_user }}",
            shard_root=True,
            after_containers=True,
        ),
        # The user the healthcheck (clustercheck) and the load balancer's checks log in as.
        DatabaseJob(
            name="mariadb_monitor_user",
            database="",
            user="{{ mariadb_monitor_user }}",
            password_key="{{ 'mariadb_monitor_password' if enable_proxysql | bool else '' }}",
            privileges="USAGE, REPLICATION CLIENT",
            login_host="{{ api_interface_address }}",
            login_user="{{ database_user }}",
            after_containers=True,
        ),
        # Kolla's register.yml with enable_mariabackup: the user mariabackup logs in as, with what
        # mariabackup needs and its history table in the `mysql` schema.
        DatabaseJob(
            name="mariadb_backup_user",
            database="",
            user="{{ mariadb_backup_database_user }}",
            password_key="mariadb_backup_database_password",
            privileges="RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR",
            grants=(
                ("{{ mariadb_backup_database_schema }}.mariadb_backup_history", "CREATE, ALTER, INSERT"),
                ("{{ mariadb_backup_database_schema }}.*", "CREATE, INSERT, SELECT"),
            ),
            login_host="{{ api_interface_address }}",
            login_user="{{ database_user }}",
            after_containers=True,
            when=lambda c: bool(c["enable_mariabackup"]),
        ),
    ),
)
