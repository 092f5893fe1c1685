"""Neutron (Kolla's `neutron` role) with the openvswitch plugin agent: neutron_server on control hosts,
the Open vSwitch agent on compute and agent hosts, the DHCP, L3 and metadata agents on network hosts.

2025.1's role has no separate RPC server or periodic worker containers (those came with uWSGI in
2025.2): neutron_server runs the API, RPC and periodic workers itself.
"""

from __future__ import annotations

from components.catalogue.model import (
    BootstrapJob,
    ConfigFile,
    Container,
    Context,
    Healthcheck,
    KeystoneGrant,
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

_SHM = "/dev/shm:/dev/shm"
_MODULES = "/lib/modules:/lib/modules:ro"
_NETNS = "/run/netns:/run/netns:shared"
_METADATA_SOCKET = "neutron_metadata_socket:/var/lib/neutron/kolla/"
_LOG_DIR = {"path": "/var/log/kolla/neutron", "owner": "neutron:neutron", "recurse": True}
_STATE_DIR = {"path": "/var/lib/neutron/kolla", "owner": "neutron:neutron", "recurse": True}


def _conf(template: str, dest: str, *overrides: str) -> ConfigFile:
    """A file under /etc/neutron owned by neutron, with Kolla's merge_configs override sources."""
    return ConfigFile(f"neutron/{template}.j2", dest, "neutron", ini_overrides=overrides)


def _ini(name: str, dest: str, per_host: bool = True) -> ConfigFile:
    overrides = (f"neutron/{name}", "neutron/{host}/" + name) if per_host else (f"neutron/{name}",)
    return _conf(name, dest, *overrides)


NEUTRON_CONF = _conf(
    "neutron.conf",
    "/etc/neutron/neutron.conf",
    "global.conf",
    "neutron.conf",
    "neutron/{container_key}.conf",
    "neutron/{host}/neutron.conf",
)


def _plugin_is(*agents: str):
    return lambda c: c["neutron_plugin_agent"] in agents


def _agent_environment(name: str, image: str, legacy_iptables: bool = False) -> dict[str, str]:
    """Kolla's dhcp/l3 agent environment (the agents' wrappers, off by default, read these)."""
    env = {
        "KOLLA_IMAGE": f"{{{{ docker_image_url }}}}{image}:{{{{ openstack_tag }}}}",
        "KOLLA_NAME": name,
        "KOLLA_NEUTRON_WRAPPERS": "{{ 'true' if neutron_agents_wrappers | bool else 'false' }}",
    }
    if legacy_iptables:
        env["KOLLA_LEGACY_IPTABLES"] = "{{ neutron_legacy_iptables | bool | lower }}"
    return env


def _rpc_healthcheck(process: str) -> Healthcheck:
    return Healthcheck(f"healthcheck_port {process} {{{{ om_rpc_port }}}}")


def _names(*items: tuple[str, bool]) -> list[dict[str, str]]:
    """Kolla's `<list> | selectattr('enabled')` of {name, enabled} items, as the templates read them."""
    return [{"name": name} for name, enabled in items if enabled]


def _mechanism_drivers(ctx: Context) -> list[dict[str, str]]:
    agent = ctx["neutron_plugin_agent"]
    return _names(("openvswitch", agent == "openvswitch"), ("l2population", agent != "ovn"))


SERVICE = Service(
    name="neutron",
    enable_flag="enable_neutron",
    # Its jobs reach MariaDB and keystone through the VIP; the Open vSwitch agent needs ovs-vswitchd.
    depends_on=("common", "mariadb", "loadbalancer", "memcached", "rabbitmq", "keystone"),
    local_depends_on=("openvswitch",),
    passwords=(
        "database_password",
        "keystone_admin_password",
        "memcache_secret_key",
        "metadata_secret",
        "neutron_database_password",
        "neutron_keystone_password",
        "neutron_ssh_key",
        "nova_keystone_password",
        "placement_keystone_password",
        "rabbitmq_password",
    ),
    variables={
        # group_vars the neutron files read (ansible/group_vars/all.yml).
        "om_rpc_port": "{{ rabbitmq_port }}",
        **KEYSTONE_AUTHTOKEN_VARIABLES,
        # Kolla's [processor_vcpus, 3] | min; openstack_service_workers is [vcpus, 5] | min, so this is
        # the same number without the fact.
        "openstack_service_rpc_workers": "{{ [openstack_service_workers | int, 3] | min }}",
        # Kolla's 'tunnel' | kolla_address: tunnel_interface defaults to the API interface, so the
        # inventory's API address (per host).
        "tunnel_interface_address": "{{ api_interface_address }}",
        "tunnel_address_family": "{{ api_address_family }}",
        "neutron_physical_networks": (
            "{% for bridge in neutron_bridge_name.split(',') %}physnet{{ loop.index }}"
            "{% if not loop.last %},{% endif %}{% endfor %}"
        ),
        "neutron_type_drivers": "flat,vlan,vxlan",
        "neutron_tenant_network_types": "vxlan",
        "neutron_ipam_driver": "internal",
        "neutron_dnsmasq_dns_servers": "1.1.1.1,8.8.8.8,8.8.4.4",
        "neutron_legacy_iptables": False,
        # Role defaults.
        "neutron_database_name": "neutron",
        "neutron_database_user": "neutron",
        "neutron_database_address": "{{ database_address | put_address_in_context('url') }}:{{ database_port }}",
        "neutron_logging_debug": "{{ openstack_logging_debug }}",
        "neutron_api_workers": "{{ openstack_service_workers }}",
        "neutron_metadata_workers": "{{ openstack_service_workers }}",
        "neutron_agents_wrappers": False,
        "neutron_dns_domain": "openstacklocal",
        "ovsdb_timeout": 10,
        "neutron_mechanism_drivers": _mechanism_drivers,
        "neutron_extension_drivers": lambda c: _names(("port_security", True)),
        "neutron_service_plugins": lambda c: _names(("router", c["neutron_plugin_agent"] != "ovn")),
    },
    named_volumes=("neutron_metadata_socket",),
    containers=(
        # First: the database, registration and bootstrap jobs run on its group's first host.
        Container(
            key="neutron-server",
            container_name="neutron_server",
            image="neutron-server",
            group="neutron-server",
            command=(
                "neutron-server --config-file /etc/neutron/neutron.conf "
                "--config-file /etc/neutron/plugins/ml2/ml2_conf.ini"
            ),
            volumes=default_volumes("neutron-server", _SHM),
            files=(
                NEUTRON_CONF,
                _ini("ml2_conf.ini", "/etc/neutron/plugins/ml2/ml2_conf.ini"),
                ConfigFile("neutron/id_rsa.j2", "/var/lib/neutron/.ssh/id_rsa", "neutron", source="id_rsa"),
            ),
            permissions=(_LOG_DIR,),
            healthcheck=api_healthcheck("neutron_server_listen_port"),
            haproxy=api_frontends(
                "neutron_server",
                "{{ neutron_server_port }}",
                "{{ neutron_server_public_port }}",
                "{{ neutron_server_listen_port }}",
            ),
        ),
        Container(
            key="neutron-openvswitch-agent",
            container_name="neutron_openvswitch_agent",
            image="neutron-openvswitch-agent",
            # Kolla places it by host_in_groups: compute hosts and every dhcp/l3/metadata agent host.
            group="neutron-openvswitch-agent",
            command=(
                "neutron-openvswitch-agent --config-file /etc/neutron/neutron.conf "
                "--config-file /etc/neutron/plugins/ml2/openvswitch_agent.ini"
            ),
            enabled=_plugin_is("openvswitch"),
            privileged=True,
            environment={"KOLLA_LEGACY_IPTABLES": "{{ neutron_legacy_iptables | bool | lower }}"},
            volumes=default_volumes(
                "neutron-openvswitch-agent", _MODULES, "/run/openvswitch:/run/openvswitch:shared", _SHM
            ),
            files=(NEUTRON_CONF, _ini("openvswitch_agent.ini", "/etc/neutron/plugins/ml2/openvswitch_agent.ini")),
            permissions=(_LOG_DIR,),
            healthcheck=_rpc_healthcheck("neutron-openvswitch-agent"),
        ),
        Container(
            key="neutron-dhcp-agent",
            container_name="neutron_dhcp_agent",
            image="neutron-dhcp-agent",
            group="neutron-dhcp-agent",
            command=(
                "neutron-dhcp-agent --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/dhcp_agent.ini"
            ),
            enabled=lambda c: c["neutron_plugin_agent"] != "ovn",
            privileged=True,
            cgroupns_mode="private",
            environment=_agent_environment("neutron_dhcp_agent", "neutron-dhcp-agent"),
            volumes=default_volumes("neutron-dhcp-agent", _METADATA_SOCKET, _NETNS, _SHM),
            files=(
                NEUTRON_CONF,
                _ini("dhcp_agent.ini", "/etc/neutron/dhcp_agent.ini"),
                # Kolla takes the first of node_custom_config's dnsmasq.conf files instead: not merged.
                ConfigFile("neutron/dnsmasq.conf.j2", "/etc/neutron/dnsmasq.conf", "neutron"),
            ),
            permissions=(_LOG_DIR, _STATE_DIR),
            healthcheck=_rpc_healthcheck("neutron-dhcp-agent"),
        ),
        Container(
            key="neutron-l3-agent",
            container_name="neutron_l3_agent",
            image="neutron-l3-agent",
            group="neutron-l3-agent",
            command="/usr/local/bin/neutron-l3-agent-wrapper.sh",
            enabled=lambda c: c["neutron_plugin_agent"] != "ovn",
            privileged=True,
            cgroupns_mode="private",
            environment=_agent_environment("neutron_l3_agent", "neutron-l3-agent", legacy_iptables=True),
            volumes=default_volumes("neutron-l3-agent", _MODULES, _METADATA_SOCKET, _NETNS, _SHM),
            files=(
                ConfigFile(
                    "neutron/neutron-l3-agent-wrapper.sh.j2",
                    "/usr/local/bin/neutron-l3-agent-wrapper.sh",
                    "root",
                    "0755",
                ),
                NEUTRON_CONF,
                _ini("l3_agent.ini", "/etc/neutron/l3_agent.ini"),
            ),
            permissions=(_LOG_DIR, _STATE_DIR),
            # The trailing space tells the agent from its wrapper script in the process list.
            healthcheck=_rpc_healthcheck("'neutron-l3-agent '"),
        ),
        Container(
            key="neutron-metadata-agent",
            container_name="neutron_metadata_agent",
            image="neutron-metadata-agent",
            group="neutron-metadata-agent",
            command=(
                "neutron-metadata-agent --config-file /etc/neutron/neutron.conf "
                "--config-file /etc/neutron/metadata_agent.ini"
            ),
            enabled=lambda c: c["neutron_plugin_agent"] != "ovn",
            privileged=True,
            volumes=default_volumes("neutron-metadata-agent", _METADATA_SOCKET, _SHM),
            files=(NEUTRON_CONF, _ini("metadata_agent.ini", "/etc/neutron/metadata_agent.ini", per_host=False)),
            permissions=(_LOG_DIR, _STATE_DIR),
            # No healthcheck: Kolla's neutron_metadata_agent_enable_healthchecks defaults to "no".
        ),
    ),
    jobs=(
        database_job("neutron"),
        KeystoneRegistration(
            name="neutron_register",
            services=(
                KeystoneService(
                    name="neutron",
                    type="network",
                    description="Openstack Networking",
                    endpoints={
                        "internal": "{{ neutron_internal_endpoint }}",
                        "public": "{{ neutron_public_endpoint }}",
                    },
                ),
            ),
            users=(KeystoneUser("{{ neutron_keystone_user }}", "neutron_keystone_password"),),
            user_roles=(KeystoneGrant("{{ neutron_keystone_user }}", "service", "service"),),
        ),
        # neutron-server's extend_start.sh runs `neutron-db-manage upgrade heads` (and each subproject's
        # in NEUTRON_BOOTSTRAP_SERVICES: none deployed).
        BootstrapJob(
            name="bootstrap_neutron",
            container_key="neutron-server",
            environment={"KOLLA_BOOTSTRAP": "", "NEUTRON_BOOTSTRAP_SERVICES": ""},
        ),
    ),
)
