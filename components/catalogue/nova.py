"""Nova's API side (Kolla's `nova` role): nova_api, nova_metadata, nova_scheduler, and the cell mappings.

Kolla's nova.yml bootstraps the API and cell0 databases (db sync, map_cell0) and the cell (create_cell)
before it starts the API containers, then refreshes the scheduler's cell cache. Here the databases and
db sync run before the containers; map_cell0 and create_cell run in the running nova_api (their
connection URLs carry passwords, which reach nova-manage on stdin rather than in argv), followed by the
scheduler's cell cache refresh. nova_super_conductor (enable_cells) is not deployed.
"""

from __future__ import annotations

from components.catalogue.model import (
    BootstrapJob,
    ConfigFile,
    Container,
    Context,
    ExecJob,
    Healthcheck,
    KeystoneGrant,
    KeystoneRegistration,
    KeystoneService,
    KeystoneUser,
    Service,
)
from components.catalogue.openstack import (
    APACHE_CONF_DIR,
    KEYSTONE_AUTHTOKEN_VARIABLES,
    api_frontends,
    api_healthcheck,
    database_job,
    wsgi_command,
    wsgi_provider_is,
)
from components.catalogue.volumes import default_volumes

CELL0_UUID = "00000000-0000-0000-0000-000000000000"

_apache = wsgi_provider_is("nova_wsgi_provider", "apache")
_uwsgi = wsgi_provider_is("nova_wsgi_provider", "uwsgi")


def _wsgi_command(name: str) -> str:
    """Kolla's nova-api/nova-metadata config.json command for nova_wsgi_provider."""
    return wsgi_command("nova_wsgi_provider", f"/etc/nova/{name}-uwsgi.ini")


def _nova_conf() -> ConfigFile:
    return ConfigFile(
        "nova/nova.conf.j2",
        "/etc/nova/nova.conf",
        "nova",
        ini_overrides=("global.conf", "nova.conf", "nova/{container_key}.conf", "nova/{host}/nova.conf"),
    )


def _wsgi_files(name: str, apache_dest: str) -> tuple[ConfigFile, ...]:
    """nova-api's and nova-metadata's WSGI server config: Apache's vhost or uwsgi's ini."""
    return (
        ConfigFile(f"nova/{name}-wsgi.conf.j2", f"/etc/{APACHE_CONF_DIR}/{apache_dest}", "nova", when=_apache),
        ConfigFile("nova/uwsgi.ini.j2", f"/etc/nova/{name}-uwsgi.ini", "nova", source=f"{name}-uwsgi.ini", when=_uwsgi),
    )


def _notification_topics(ctx: Context) -> list[dict[str, str]]:
    # Kolla's nova_notification_topics: ceilometer's and designate's sinks, neither of which is deployed.
    return [{"name": "notifications"}] if ctx.get("enable_ceilometer") else []


_LOG_PERMISSIONS = ({"path": "/var/log/kolla/nova", "owner": "nova:nova", "recurse": True},)


def _api_healthcheck(port_var: str) -> Healthcheck:
    # Kolla's test ends with a space; kept so the healthcheck is the one Kolla sets.
    return api_healthcheck(port_var, trailing=" ")


# nova-manage with its arguments read from stdin inside one Python process: connection URLs (with
# passwords) never appear in an argv, and `list_cells --verbose` is parsed, never printed.
CELL_MAPPINGS_SCRIPT = r"""set -eu -o pipefail
IFS= read -r cell0_db
IFS= read -r cell_db
IFS= read -r cell_mq
py=/var/lib/kolla/venv/bin/python3
[ -x "$py" ] || py=python3
manage() {
  printf '%s\n' "$@" | "$py" -c 'import sys
from nova.cmd import manage
sys.argv = ["nova-manage", *sys.stdin.read().splitlines()]
sys.exit(manage.main())'
}
# name|uuid|transport_url|database_connection per cell (the unnamed cell has an empty name).
cells=$(manage cell_v2 list_cells --verbose | awk -F'|' 'NF >= 7 {
  for (i = 2; i <= 6; i++) gsub(/^ +| +$/, "", $i)
  if ($3 ~ /^[0-9a-f-]+$/ && length($3) == 36) print ($2 == "None" ? "" : $2) "|" $3 "|" $4 "|" $5 }')
field() { printf '%s\n' "$1" | cut -d'|' -f"$2"; }

cell0=$(printf '%s\n' "$cells" | awk -F'|' -v id=CELL0_UUID '$2 == id')
if [ -z "$cell0" ]; then
  manage cell_v2 map_cell0 --database_connection "$cell0_db"
  echo "cell0 mapped"
elif [ "$(field "$cell0" 4)" != "$cell0_db" ]; then
  manage cell_v2 update_cell --cell_uuid CELL0_UUID --database_connection "$cell0_db" --transport-url none:/
  echo "cell0 updated"
fi

# Kolla's default cell has no name (nova_cell_name: ''): create it, or correct it when it differs.
cell=$(printf '%s\n' "$cells" | awk -F'|' -v id=CELL0_UUID '$1 == "" && $2 != id')
if [ "$(printf '%s' "$cell" | grep -c .)" -gt 1 ]; then
  echo "the default cell has duplicates: manual cleanup required" >&2
  exit 1
fi
if [ -z "$cell" ]; then
  manage cell_v2 create_cell --database_connection "$cell_db" --transport-url "$cell_mq" >/dev/null
  echo "cell created"
elif [ "$(field "$cell" 3)" != "$cell_mq" ] || [ "$(field "$cell" 4)" != "$cell_db" ]; then
  uuid=$(field "$cell" 2)
  manage cell_v2 update_cell --cell_uuid "$uuid" --database_connection "$cell_db" --transport-url "$cell_mq"
  echo "cell $uuid updated"
else
  echo "cell mappings unchanged"
fi
""".replace("CELL0_UUID", CELL0_UUID)

CELL0_CONNECTION = (
    "mysql+pymysql://{{ nova_cell0_database_user }}:{{ nova_cell0_database_password }}"
    "@{{ nova_cell0_database_address }}/{{ nova_cell0_database_name }}"
)
# Kolla's nova_cell_database_url (create_cells.yml); the nova_cell_* names are nova-cell's role defaults.
CELL_CONNECTION = (
    "mysql+pymysql://{{ nova_cell_database_user }}:{{ nova_cell_database_password }}"
    "@{{ nova_cell_database_address | put_address_in_context('url') }}:{{ nova_cell_database_port }}"
    "/{{ nova_cell_database_name }}"
)

SERVICE = Service(
    name="nova",
    enable_flag="enable_nova",
    depends_on=("common", "mariadb", "memcached", "rabbitmq", "keystone", "glance", "placement"),
    passwords=(
        "nova_database_password",
        "nova_api_database_password",
        "nova_keystone_password",
        "placement_keystone_password",
        "neutron_keystone_password",
        "metadata_secret",
        "memcache_secret_key",
        "rabbitmq_password",
        "keystone_admin_password",
    ),
    variables={
        "nova_database_name": "nova",
        "nova_database_user": "nova",
        "nova_database_address": "{{ database_address | put_address_in_context('url') }}:{{ database_port }}",
        "nova_cell0_database_name": "{{ nova_database_name }}_cell0",
        "nova_cell0_database_user": "{{ nova_database_user }}",
        "nova_cell0_database_address": "{{ nova_database_address }}",
        "nova_cell0_database_password": "{{ nova_database_password }}",
        "nova_api_database_name": "nova_api",
        "nova_api_database_user": "nova_api",
        "nova_api_database_address": "{{ database_address | put_address_in_context('url') }}:{{ database_port }}",
        "nova_logging_debug": "{{ openstack_logging_debug }}",
        "nova_api_workers": "{{ openstack_service_workers }}",
        "nova_superconductor_workers": "{{ openstack_service_workers }}",
        "nova_metadata_api_workers": "{{ openstack_service_workers }}",
        "nova_scheduler_workers": "{{ openstack_service_workers }}",
        "nova_internal_endpoint": "{{ nova_internal_base_endpoint }}/v2.1",
        "nova_public_endpoint": "{{ nova_public_base_endpoint }}/v2.1",
        "nova_enable_external_metadata": False,
        "nova_wsgi_provider": "uwsgi",
        "nova_enabled_notification_topics": _notification_topics,
        "om_rpc_port": "{{ rabbitmq_port }}",
        **KEYSTONE_AUTHTOKEN_VARIABLES,
    },
    containers=(
        Container(
            key="nova-api",
            container_name="nova_api",
            image="nova-api",
            group="nova-api",
            command=_wsgi_command("nova-api"),
            privileged=True,
            volumes=default_volumes("nova-api", "/lib/modules:/lib/modules:ro", "/dev/shm:/dev/shm"),
            files=(_nova_conf(), *_wsgi_files("nova-api", "nova-api-wsgi.conf")),
            permissions=_LOG_PERMISSIONS,
            healthcheck=_api_healthcheck("nova_api_listen_port"),
            haproxy=api_frontends(
                "nova_api", "{{ nova_api_port }}", "{{ nova_api_public_port }}", "{{ nova_api_listen_port }}"
            ),
        ),
        Container(
            key="nova-metadata",
            container_name="nova_metadata",
            image="nova-api",
            group="nova-metadata",
            command=_wsgi_command("nova-metadata"),
            volumes=default_volumes("nova-metadata"),
            # Kolla installs the metadata vhost under nova-api-wsgi.conf's name too.
            files=(_nova_conf(), *_wsgi_files("nova-metadata", "nova-api-wsgi.conf")),
            permissions=_LOG_PERMISSIONS,
            healthcheck=_api_healthcheck("nova_metadata_listen_port"),
            haproxy=api_frontends(
                "nova_metadata",
                "{{ nova_metadata_port }}",
                "{{ nova_metadata_port }}",
                "{{ nova_metadata_listen_port }}",
                external=lambda c: bool(c["nova_enable_external_metadata"]),
            ),
        ),
        Container(
            key="nova-scheduler",
            container_name="nova_scheduler",
            image="nova-scheduler",
            group="nova-scheduler",
            command="nova-scheduler",
            volumes=default_volumes("nova-scheduler", "/dev/shm:/dev/shm"),
            files=(_nova_conf(),),
            permissions=_LOG_PERMISSIONS,
            healthcheck=Healthcheck("healthcheck_port nova-scheduler {{ om_rpc_port }}"),
        ),
    ),
    jobs=(
        # Kolla's nova bootstrap.yml: the API and cell0 databases and their users.
        database_job("nova_api"),
        database_job("nova_cell0", password_key="nova_database_password"),
        # nova_api_bootstrap: the image's KOLLA_UPGRADE branch runs api_db sync and db sync --local_cell
        # (cell0, nova-api's [database]).
        BootstrapJob(name="nova_api_bootstrap", container_key="nova-api", environment={"KOLLA_UPGRADE": ""}),
        KeystoneRegistration(
            name="nova_register",
            services=(
                KeystoneService(
                    name="nova",
                    type="compute",
                    description="OpenStack Compute Service",
                    endpoints={"internal": "{{ nova_internal_endpoint }}", "public": "{{ nova_public_endpoint }}"},
                ),
            ),
            users=(KeystoneUser(user="{{ nova_keystone_user }}", password_key="nova_keystone_password"),),
            user_roles=(KeystoneGrant(user="{{ nova_keystone_user }}", project="service", role="service"),),
        ),
        # map_cell0.yml and create_cells.yml, idempotent: list the cells, then map, create or correct.
        ExecJob(
            name="nova_cell_mappings",
            container_key="nova-api",
            user="nova",
            stdin=(CELL0_CONNECTION, CELL_CONNECTION, "{{ nova_cell_rpc_transport_url }}"),
            script=CELL_MAPPINGS_SCRIPT,
        ),
        # refresh_scheduler_cell_cache.yml: the scheduler caches cells at start, so it must reload them
        # once the cell exists (Kolla sends SIGHUP to the container's init, which forwards it).
        ExecJob(
            name="nova_refresh_scheduler_cell_cache",
            container_key="nova-scheduler",
            user="root",
            all_hosts=True,
            script="kill -HUP 1 && echo 'nova-scheduler: cell cache refreshed'",
        ),
    ),
)
