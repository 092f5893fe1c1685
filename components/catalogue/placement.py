"""Placement: the resource-provider API nova schedules against (Kolla's `placement` role)."""

from __future__ import annotations

from components.catalogue.model import (
    BootstrapJob,
    ConfigFile,
    Container,
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

# Kolla's `placement_wsgi_provider`: uwsgi by default in 2025.1, Apache's mod_wsgi on request.
_COMMAND = wsgi_command("placement_wsgi_provider", "/etc/placement/placement-api-uwsgi.ini")
_apache = wsgi_provider_is("placement_wsgi_provider", "apache")
_uwsgi = wsgi_provider_is("placement_wsgi_provider", "uwsgi")


SERVICE = Service(
    name="placement",
    enable_flag="enable_placement",
    depends_on=("common", "mariadb", "memcached", "rabbitmq", "keystone"),
    passwords=(
        "placement_database_password",
        "placement_keystone_password",
        "nova_api_database_password",
        "keystone_admin_password",
        "memcache_secret_key",
    ),
    variables={
        "placement_database_name": "placement",
        "placement_database_user": "placement",
        "placement_database_address": "{{ database_address | put_address_in_context('url') }}:{{ database_port }}",
        "placement_database_host": "{{ database_address }}",
        # migrate-db.rc names the nova_api database (Kolla declares these in both roles, same values).
        "nova_api_database_name": "nova_api",
        "nova_api_database_user": "nova_api",
        "nova_api_database_host": "{{ database_address }}",
        "placement_logging_debug": "{{ openstack_logging_debug }}",
        "placement_api_workers": "{{ openstack_service_workers }}",
        "placement_wsgi_provider": "uwsgi",
        **KEYSTONE_AUTHTOKEN_VARIABLES,
    },
    containers=(
        Container(
            key="placement-api",
            container_name="placement_api",
            image="placement-api",
            group="placement-api",
            command=_COMMAND,
            volumes=default_volumes("placement-api"),
            files=(
                ConfigFile(
                    "placement/placement.conf.j2",
                    "/etc/placement/placement.conf",
                    "placement",
                    ini_overrides=(
                        "global.conf",
                        "placement.conf",
                        "placement/{container_key}.conf",
                        "placement/{host}/placement.conf",
                    ),
                ),
                ConfigFile(
                    "placement/placement-api-wsgi.conf.j2",
                    f"/etc/{APACHE_CONF_DIR}/00-placement-api.conf",
                    "placement",
                    when=_apache,
                ),
                ConfigFile(
                    "placement/placement-api-uwsgi.ini.j2",
                    "/etc/placement/placement-api-uwsgi.ini",
                    "placement",
                    when=_uwsgi,
                ),
                ConfigFile("placement/migrate-db.rc.j2", "/etc/placement/migrate-db.rc", "placement"),
            ),
            permissions=(
                {"path": "/var/log/kolla/placement", "owner": "placement:kolla", "recurse": True},
                {"path": "/var/log/kolla/placement/placement-api.log", "owner": "placement:placement"},
            ),
            healthcheck=api_healthcheck("placement_api_listen_port"),
            haproxy=api_frontends(
                "placement_api",
                "{{ placement_api_port }}",
                "{{ placement_api_public_port }}",
                "{{ placement_api_listen_port }}",
                backend_extra=("option httpchk GET /",),
            ),
        ),
    ),
    # Kolla's deploy.yml: register, then (bootstrap.yml) database, user and db sync, then the container.
    jobs=(
        KeystoneRegistration(
            name="placement_register",
            services=(
                KeystoneService(
                    name="placement",
                    type="placement",
                    description="Placement Service",
                    endpoints={
                        "internal": "{{ placement_internal_endpoint }}",
                        "public": "{{ placement_public_endpoint }}",
                    },
                ),
            ),
            users=(KeystoneUser(user="{{ placement_keystone_user }}", password_key="placement_keystone_password"),),
        ),
        database_job("placement"),
        BootstrapJob(name="bootstrap_placement", container_key="placement-api"),
    ),
)
