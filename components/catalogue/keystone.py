"""Keystone: the identity API, its Fernet key rotation (keystone_fernet) and key sync (keystone_ssh)."""

from __future__ import annotations

from components.catalogue.model import (
    BootstrapJob,
    ConfigFile,
    Container,
    Context,
    DatabaseJob,
    ExecJob,
    Frontend,
    Healthcheck,
    Rollout,
    Service,
)
from components.catalogue.openstack import api_healthcheck
from components.catalogue.volumes import default_volumes

FERNET_VOLUME = "keystone_fernet_tokens:/etc/keystone/fernet-keys"
_MINUTE, _HOUR, _DAY, _WEEK = 1, 60, 24 * 60, 7 * 24 * 60


def fernet_cron_jobs(host_index: int, total_hosts: int, rotation_minutes: int) -> list[dict[str, object]]:
    """Round-robin rotation times for one keystone host, as kolla-ansible's
    fernet_rotate_cron_generator.py computes them (its `hour = time % 60` quirk kept, so that the
    crontab matches what kolla-ansible renders)."""
    if rotation_minutes > _WEEK:
        raise ValueError("fernet_key_rotation_interval: at most one week divided by the number of keystone hosts")
    jobs: list[dict[str, object]] = []
    span = rotation_minutes * total_hosts
    time = rotation_minutes * host_index
    if span > _DAY:
        while time + rotation_minutes <= _WEEK:
            jobs.append({"min": time % _HOUR, "hour": time % _HOUR, "day": time // _DAY})
            time += span
    elif span > _HOUR:
        while time + rotation_minutes <= _DAY:
            jobs.append({"min": time % _HOUR, "hour": time // _HOUR, "day": "*"})
            time += span
    else:
        while time + rotation_minutes <= _HOUR:
            jobs.append({"min": time // _MINUTE, "hour": "*", "day": "*"})
            time += span
    return jobs


def _cron_jobs(ctx: Context) -> list[dict[str, object]]:
    hosts = ctx["groups"]["keystone"]
    index = hosts.index(ctx["inventory_hostname"]) if ctx["inventory_hostname"] in hosts else 0
    return fernet_cron_jobs(index, len(hosts), int(ctx["fernet_key_rotation_interval"]) // 60)


def _keystone_conf(dest_owner: str = "keystone") -> ConfigFile:
    return ConfigFile(
        "keystone/keystone.conf.j2",
        "/etc/keystone/keystone.conf",
        dest_owner,
        ini_overrides=(
            "global.conf",
            "keystone.conf",
            "keystone/{container_key}.conf",
            "keystone/{host}/keystone.conf",
        ),
    )


_LOG_DIRS = ({"path": "/var/log/kolla", "owner": "keystone:kolla"},)
_FERNET_DIR = {"path": "/etc/keystone/fernet-keys", "owner": "keystone:keystone", "perm": "0770"}
_KEYSTONE_BACKEND = ("balance {{ 'source' if enable_keystone_federation | bool else 'roundrobin' }}", "option httpchk")

# Once a keystone host's containers exist, and before keystone there can start (its startup script waits
# for Fernet key 0), a host without keys fetches them from a peer that has them, through that peer's
# keystone_ssh with the deployment's key pair (Kolla pushes them to every host once all containers
# run; hosts replaced one at a time cannot wait for that). Key rotation still pushes to every host.
_FETCH_FERNET_KEYS = """{% if groups['keystone'] | length > 1 %}
n=0
until docker exec keystone_fernet test -f /var/lib/keystone/.ssh/id_rsa 2>/dev/null || [ $n -ge 60 ]; do
  sleep 1; n=$((n + 1))
done
if ! docker exec keystone_fernet test -f /etc/keystone/fernet-keys/0; then
  for peer in{% for host in groups['keystone'] if host != inventory_hostname %}
{{- ' ' ~ ('api' | kolla_address(host) | put_address_in_context('url')) }}{% endfor %}; do
    if docker exec -u {{ keystone_username }} keystone_fernet /usr/bin/rsync -az \\
        -e 'ssh -i /var/lib/keystone/.ssh/id_rsa -p {{ keystone_ssh_port }} -F /var/lib/keystone/.ssh/config' \\
        "{{ keystone_username }}@$peer:/etc/keystone/fernet-keys/" /etc/keystone/fernet-keys/; then
      echo "fernet keys fetched from $peer"
      break
    fi
  done
fi
{% endif %}"""

SERVICE = Service(
    name="keystone",
    enable_flag="enable_keystone",
    # keystone_fernet's healthcheck dry-runs a push to every peer: it cannot pass until they all run, so
    # a host is ready once keystone serves and keystone_ssh listens.
    rollout=Rollout(ready=("keystone", "keystone-ssh"), before_ready=_FETCH_FERNET_KEYS),
    # Its database, bootstrap and registration jobs reach MariaDB and keystone through the VIP.
    depends_on=("common", "mariadb", "loadbalancer", "memcached", "rabbitmq"),
    passwords=(
        "keystone_admin_password",
        "keystone_database_password",
        "keystone_ssh_key",
        "rabbitmq_password",
    ),
    variables={
        "keystone_database_name": "keystone",
        "keystone_database_user": "keystone",
        "keystone_database_address": "{{ database_address | put_address_in_context('url') }}:{{ database_port }}",
        "keystone_logging_debug": "{{ openstack_logging_debug }}",
        "keystone_api_workers": "{{ openstack_service_workers }}",
        "keystone_username": "keystone",
        "keystone_groupname": "keystone",
        "keystone_ssh_port": "8023",
        "om_rabbitmq_qos_prefetch_count": "1",
        "cron_jobs": _cron_jobs,
    },
    named_volumes=("keystone_fernet_tokens",),
    containers=(
        Container(
            key="keystone",
            container_name="keystone",
            image="keystone",
            group="keystone",
            command="/usr/bin/keystone-startup.sh -DFOREGROUND",
            volumes=default_volumes("keystone", "/dev/shm:/dev/shm", FERNET_VOLUME),
            files=(
                ConfigFile("keystone/keystone-startup.sh.j2", "/usr/bin/keystone-startup.sh", "root", "0755"),
                _keystone_conf(),
                ConfigFile(
                    "keystone/wsgi-keystone.conf.j2",
                    "/etc/{{ 'apache2/conf-enabled' if kolla_base_distro in ['ubuntu', 'debian'] "
                    "else 'httpd/conf.d' }}/wsgi-keystone.conf",
                    "keystone",
                ),
            ),
            permissions=(
                *_LOG_DIRS,
                {"path": "/var/log/kolla/keystone/keystone.log", "owner": "keystone:keystone"},
                _FERNET_DIR,
                {"path": "/etc/keystone/domains", "owner": "keystone:keystone", "perm": "0700"},
            ),
            healthcheck=api_healthcheck("keystone_public_listen_port"),
            haproxy=(
                Frontend(
                    name="keystone_internal",
                    port="{{ keystone_internal_port }}",
                    listen_port="{{ keystone_internal_listen_port }}",
                    backend_extra=_KEYSTONE_BACKEND,
                ),
                Frontend(
                    name="keystone_external",
                    port="{{ keystone_public_port }}",
                    listen_port="{{ keystone_public_listen_port }}",
                    external=True,
                    backend_extra=_KEYSTONE_BACKEND,
                ),
            ),
        ),
        Container(
            key="keystone-ssh",
            container_name="keystone_ssh",
            image="keystone-ssh",
            group="keystone",
            command="/usr/sbin/sshd -D",
            volumes=default_volumes("keystone-ssh", FERNET_VOLUME),
            files=(
                ConfigFile("keystone/sshd_config.j2", "/etc/ssh/sshd_config", "root"),
                ConfigFile(
                    "keystone/id_rsa.pub.j2",
                    "/var/lib/keystone/.ssh/authorized_keys",
                    "keystone",
                    source="id_rsa.pub",
                ),
            ),
            permissions=(*_LOG_DIRS, _FERNET_DIR),
            healthcheck=Healthcheck("healthcheck_listen sshd {{ keystone_ssh_port }}"),
        ),
        Container(
            key="keystone-fernet",
            container_name="keystone_fernet",
            image="keystone-fernet",
            group="keystone",
            command="{{ 'cron -f' if kolla_base_distro in ['ubuntu', 'debian'] else 'crond -s -n' }}",
            volumes=default_volumes("keystone-fernet", FERNET_VOLUME),
            files=(
                _keystone_conf(),
                ConfigFile(
                    "keystone/crontab.j2",
                    "{{ '/var/spool/cron/crontabs/root' if kolla_base_distro in ['ubuntu', 'debian'] "
                    "else '/var/spool/cron/root' }}",
                    "root",
                    source="crontab",
                ),
                ConfigFile("keystone/fernet-rotate.sh.j2", "/usr/bin/fernet-rotate.sh", "root", "0755"),
                ConfigFile("keystone/fernet-node-sync.sh.j2", "/usr/bin/fernet-node-sync.sh", "root", "0755"),
                ConfigFile("keystone/fernet-push.sh.j2", "/usr/bin/fernet-push.sh", "root", "0755"),
                ConfigFile("keystone/ssh_config.j2", "/var/lib/keystone/.ssh/config", "keystone"),
                ConfigFile("keystone/id_rsa.j2", "/var/lib/keystone/.ssh/id_rsa", "keystone", source="id_rsa"),
                ConfigFile(
                    "keystone/fernet-healthcheck.sh.j2",
                    "/usr/bin/fernet-healthcheck.sh",
                    "root",
                    "0755",
                    when=lambda c: c["enable_container_healthchecks"],
                ),
            ),
            permissions=(*_LOG_DIRS, _FERNET_DIR),
            healthcheck=Healthcheck("/usr/bin/fernet-healthcheck.sh"),
        ),
    ),
    jobs=(
        DatabaseJob(
            name="keystone_database",
            database="{{ keystone_database_name }}",
            user="{{ keystone_database_user }}",
            password_key="keystone_database_password",
        ),
        BootstrapJob(name="bootstrap_keystone", container_key="keystone"),
        # Fernet keys are created once, on the first keystone host, then pushed to the others by
        # keystone_fernet over keystone_ssh. Never regenerated: that would invalidate every token.
        BootstrapJob(
            name="bootstrap_keystone_fernet",
            container_key="keystone-fernet",
            environment={},
            command=(
                "sudo -E kolla_set_configs && keystone-manage --config-file /etc/keystone/keystone.conf "
                "fernet_setup --keystone-user {{ keystone_username }} --keystone-group {{ keystone_groupname }}"
            ),
            skip_if="test -f /etc/keystone/fernet-keys/0",
        ),
        ExecJob(
            name="distribute_fernet_keys",
            container_key="keystone-fernet",
            script="/usr/bin/fernet-push.sh",
        ),
        # kolla_keystone_bootstrap's job, with the admin password on stdin instead of argv.
        ExecJob(
            name="keystone_bootstrap",
            container_key="keystone",
            stdin=("{{ keystone_admin_password }}",),
            script=(
                "read -r OS_BOOTSTRAP_PASSWORD && export OS_BOOTSTRAP_PASSWORD && "
                "keystone-manage --config-file /etc/keystone/keystone.conf bootstrap "
                "--bootstrap-username {{ keystone_admin_user }} "
                "--bootstrap-project-name {{ keystone_admin_project }} "
                "--bootstrap-role-name admin "
                "--bootstrap-admin-url {{ keystone_internal_url }} "
                "--bootstrap-internal-url {{ keystone_internal_url }} "
                "--bootstrap-public-url {{ keystone_public_url }} "
                "--bootstrap-region-id {{ openstack_region_name }}"
            ),
        ),
    ),
)
