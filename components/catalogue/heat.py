"""Heat: the orchestration API (heat_api), its CloudFormation API (heat_api_cfn) and heat_engine."""

from __future__ import annotations

from components.catalogue.model import (
    BootstrapJob,
    ConfigFile,
    Container,
    Healthcheck,
    KeystoneGrant,
    KeystoneRegistration,
    KeystoneService,
    KeystoneUser,
    Service,
)
from components.catalogue.openstack import (
    APACHE_COMMAND,
    APACHE_CONF_DIR,
    KEYSTONE_AUTHTOKEN_VARIABLES,
    api_frontends,
    api_healthcheck,
    database_job,
)
from components.catalogue.volumes import default_volumes

_LOG_DIR = {"path": "/var/log/kolla/heat", "owner": "heat:heat", "recurse": True}


def _heat_conf() -> ConfigFile:
    return ConfigFile(
        "heat/heat.conf.j2",
        "/etc/heat/heat.conf",
        "heat",
        ini_overrides=("global.conf", "heat.conf", "heat/{container_key}.conf", "heat/{host}/heat.conf"),
    )


def _api(key: str) -> Container:
    """heat-api and heat-api-cfn: Apache mod_wsgi in their own images, as Kolla runs them. Kolla's
    variables for each are named after the key (`heat_api_port`, `heat_api_cfn_listen_port`, ...)."""
    prefix = key.replace("-", "_")
    listen_port = f"{{{{ {prefix}_listen_port }}}}"
    return Container(
        key=key,
        container_name=prefix,
        image=key,
        group=key,
        command=APACHE_COMMAND,
        volumes=default_volumes(key, "/dev/shm:/dev/shm"),
        files=(
            _heat_conf(),
            ConfigFile(f"heat/wsgi-{key}.conf.j2", f"/etc/{APACHE_CONF_DIR}/wsgi-{key}.conf", "heat"),
        ),
        permissions=(_LOG_DIR,),
        healthcheck=api_healthcheck(f"{prefix}_listen_port"),
        haproxy=api_frontends(prefix, f"{{{{ {prefix}_port }}}}", f"{{{{ {prefix}_public_port }}}}", listen_port),
    )


SERVICE = Service(
    name="heat",
    enable_flag="enable_heat",
    depends_on=("common", "mariadb", "memcached", "rabbitmq", "keystone"),
    passwords=(
        "heat_database_password",
        "heat_keystone_password",
        "heat_domain_admin_password",
        "keystone_admin_password",
        "memcache_secret_key",
        "rabbitmq_password",
    ),
    variables={
        "heat_database_name": "heat",
        "heat_database_user": "heat",
        "heat_database_address": "{{ database_address | put_address_in_context('url') }}:{{ database_port }}",
        "heat_internal_endpoint": "{{ heat_internal_base_endpoint }}/v1/%(tenant_id)s",
        "heat_public_endpoint": "{{ heat_public_base_endpoint }}/v1/%(tenant_id)s",
        "heat_cfn_internal_endpoint": "{{ heat_cfn_internal_base_endpoint }}/v1",
        "heat_cfn_public_endpoint": "{{ heat_cfn_public_base_endpoint }}/v1",
        "heat_logging_debug": "{{ openstack_logging_debug }}",
        "heat_stack_user_role": "heat_stack_user",
        "heat_stack_owner_role": "heat_stack_owner",
        "heat_api_workers": "{{ openstack_service_workers }}",
        "heat_api_cfn_workers": "{{ openstack_service_workers }}",
        "heat_engine_workers": "{{ openstack_service_workers }}",
        # group_vars heat.conf reads (same values wherever they are declared).
        "enable_cinder_backup": True,
        "om_rpc_port": "{{ rabbitmq_port }}",
        **KEYSTONE_AUTHTOKEN_VARIABLES,
    },
    containers=(
        _api("heat-api"),
        _api("heat-api-cfn"),
        Container(
            key="heat-engine",
            container_name="heat_engine",
            image="heat-engine",
            group="heat-engine",
            command="heat-engine",
            volumes=default_volumes("heat-engine", "/dev/shm:/dev/shm"),
            files=(_heat_conf(),),
            permissions=(_LOG_DIR,),
            healthcheck=Healthcheck("healthcheck_port heat-engine {{ om_rpc_port }}"),
        ),
    ),
    jobs=(
        database_job("heat"),
        KeystoneRegistration(
            name="heat_register",
            services=(
                KeystoneService(
                    "heat",
                    "orchestration",
                    "Orchestration",
                    {"internal": "{{ heat_internal_endpoint }}", "public": "{{ heat_public_endpoint }}"},
                ),
                KeystoneService(
                    "heat-cfn",
                    "cloudformation",
                    "Orchestration",
                    {"internal": "{{ heat_cfn_internal_endpoint }}", "public": "{{ heat_cfn_public_endpoint }}"},
                ),
            ),
            users=(
                KeystoneUser("{{ heat_keystone_user }}", "heat_keystone_password"),
                # Kolla's heat image creates these in bootstrap_heat from the admin credentials in its
                # environment; here they are registered like the rest, passwords on stdin.
                KeystoneUser("heat_domain_admin", "heat_domain_admin_password", project="", domain="heat_user_domain"),
            ),
            roles=("{{ heat_stack_owner_role }}", "{{ heat_stack_user_role }}"),
            user_roles=(
                KeystoneGrant(
                    "{{ keystone_admin_user }}", "{{ keystone_admin_project }}", "{{ heat_stack_owner_role }}"
                ),
            ),
        ),
        # Only the schema: the stack domain and its admin are registered above, so the image's
        # KOLLA_BOOTSTRAP path (which also needs the admin password in its environment) is not used.
        BootstrapJob(
            name="bootstrap_heat",
            container_key="heat-api",
            environment={},
            command="sudo -E kolla_set_configs && heat-manage db_sync",
        ),
    ),
)
