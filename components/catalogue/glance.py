"""Glance: the image API (glance_api), with images on the `glance` named volume (the file backend)."""

from __future__ import annotations

from components.catalogue.model import (
    BootstrapJob,
    ConfigFile,
    Container,
    Context,
    KeystoneRegistration,
    KeystoneService,
    KeystoneUser,
    Service,
)
from components.catalogue.openstack import (
    KEYSTONE_AUTHTOKEN_VARIABLES,
    api_frontends,
    api_healthcheck,
    database_job,
)
from components.catalogue.volumes import default_volumes


def glance_api_hosts(ctx: Context) -> list[str]:
    """Kolla's glance_api_hosts: images on a host-local named volume are only on one host, so only the
    first glance-api host serves the API; any other store (or a shared path) serves from all of them."""
    hosts = list(ctx["groups"].get("glance-api", []))
    if ctx["glance_backend_file"] and ctx["glance_file_datadir_volume"] == "glance":
        return hosts[:1]
    return hosts


def glance_store_backends(ctx: Context) -> list[dict[str, str]]:
    """Kolla's glance_backends filtered by their flags (ceph, s3 and vmware are not deployed)."""
    backends = [("file", ctx["glance_backend_file"]), ("http", True), ("cinder", ctx["enable_cinder"])]
    return [{"name": name, "type": name} for name, enabled in backends if enabled]


SERVICE = Service(
    name="glance",
    enable_flag="enable_glance",
    depends_on=("common", "mariadb", "memcached", "rabbitmq", "keystone"),
    passwords=(
        "glance_database_password",
        "glance_keystone_password",
        "keystone_admin_password",
        "memcache_secret_key",
        "rabbitmq_password",
    ),
    variables={
        "glance_database_name": "glance",
        "glance_database_user": "glance",
        "glance_database_address": "{{ database_address | put_address_in_context('url') }}:{{ database_port }}",
        "glance_logging_debug": "{{ openstack_logging_debug }}",
        "glance_api_workers": "{{ openstack_service_workers }}",
        # group_vars: the file store on the `glance` named volume unless another store is chosen.
        "glance_backend_file": True,
        "glance_file_datadir_volume": "glance",
        "enable_glance_image_cache": False,
        "glance_cache_max_size": "10737418240",
        "glance_default_backend": "file",
        "glance_store_backends": glance_store_backends,
        "glance_api_hosts": glance_api_hosts,
        "haproxy_glance_api_client_timeout": "6h",
        "haproxy_glance_api_server_timeout": "6h",
        **KEYSTONE_AUTHTOKEN_VARIABLES,
    },
    named_volumes=("glance",),
    containers=(
        Container(
            key="glance-api",
            container_name="glance_api",
            image="glance-api",
            group="glance-api",
            host_in_groups=lambda c: c["inventory_hostname"] in c["glance_api_hosts"],
            command="glance-api",
            volumes=default_volumes(
                "glance-api", "{{ glance_file_datadir_volume }}:/var/lib/glance/", "/dev/shm:/dev/shm"
            ),
            files=(
                ConfigFile(
                    "glance/glance-api.conf.j2",
                    "/etc/glance/glance-api.conf",
                    "glance",
                    ini_overrides=(
                        "global.conf",
                        "glance.conf",
                        "glance/glance-api.conf",
                        "glance/{host}/glance-api.conf",
                    ),
                ),
                ConfigFile(
                    "glance/glance-cache.conf.j2",
                    "/etc/glance/glance-cache.conf",
                    "glance",
                    ini_overrides=("glance-cache.conf", "glance/glance-cache.conf", "glance/{host}/glance-cache.conf"),
                    when=lambda c: c["enable_glance_image_cache"],
                ),
            ),
            permissions=(
                {"path": "/var/lib/glance", "owner": "glance:glance", "recurse": True},
                {"path": "/var/log/kolla/glance", "owner": "glance:glance", "recurse": True},
            ),
            healthcheck=api_healthcheck("glance_api_listen_port"),
            haproxy=api_frontends(
                "glance_api",
                "{{ glance_api_port }}",
                "{{ glance_api_public_port }}",
                frontend_extra=("timeout client {{ haproxy_glance_api_client_timeout }}",),
                backend_extra=("timeout server {{ haproxy_glance_api_server_timeout }}", "option httpchk"),
            ),
        ),
    ),
    jobs=(
        database_job("glance"),
        KeystoneRegistration(
            name="glance_register",
            services=(
                KeystoneService(
                    "glance",
                    "image",
                    "Openstack Image",
                    {"internal": "{{ glance_internal_endpoint }}", "public": "{{ glance_public_endpoint }}"},
                ),
            ),
            users=(KeystoneUser("{{ glance_keystone_user }}", "glance_keystone_password"),),
        ),
        # The image's extend_start.sh: glance-manage db_sync and db_load_metadefs.
        # glance-manage db_sync creates triggers, which binary logging (galera.cnf) refuses to
        # non-SUPER users unless MariaDB trusts function creators: on for the sync only, as in Kolla.
        BootstrapJob(
            name="bootstrap_glance",
            container_key="glance-api",
            database_variables={"log_bin_trust_function_creators": ("1", "0")},
        ),
    ),
)
