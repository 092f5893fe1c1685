"""MariaDB (Galera): the database every service uses; its first host bootstraps the cluster."""

from __future__ import annotations

from components.catalogue.model import BootstrapJob, ConfigFile, Container, DatabaseJob, Healthcheck, Service
from components.catalogue.volumes import default_volumes

SERVICE = Service(
    name="mariadb",
    enable_flag="enable_mariadb",
    depends_on=("common",),
    passwords=("database_password",),
    variables={
        "mariadb_monitor_user": "{{ 'monitor' if enable_proxysql | bool else 'haproxy' }}",
        "mariadb_datadir_volume": "mariadb",
        "mariadb_innodb_log_file_size_mb": "2048",
        "mariadb_wsrep_extra_provider_options": [],
        "database_cluster_name": "openstack",
        # Kolla sizes the buffer pool from the host's memory fact; facts are not gathered here, so the
        # control hosts' memory is declared (40% of it, at most 8 GiB, goes to InnoDB).
        "mariadb_host_memory_mb": 4096,
    },
    named_volumes=("mariadb",),
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
        # Kolla's register.yml: the user the healthcheck (clustercheck) and haproxy log in as.
        DatabaseJob(
            name="mariadb_monitor_user",
            database="",
            user="{{ mariadb_monitor_user }}",
            privileges="USAGE, REPLICATION CLIENT",
            login_host="{{ api_interface_address }}",
            after_containers=True,
        ),
    ),
)
