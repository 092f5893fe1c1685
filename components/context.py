"""The render context: what kolla-ansible's templates see, built without facts from the hosts.

Kolla's templates read globals, group_vars (`database_address`, `rpc_transport_url`, ...), role
defaults, passwords, `groups`, `hostvars` and per-host facts. Here the same names are built from the
stack config: group_vars below (Kolla's own expressions, in Kolla's syntax), role defaults from each
service's `variables`, host facts from the inventory. Users override any of them in `globals`.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from components.config.inventory import Host, Inventory
from components.config.passwords import Passwords

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _api_vars(prefix: str, port_prefix: str, port: str, endpoint: str, base: bool = False) -> dict[str, str]:
    """Kolla's per-API group_vars: fqdns, `<api>_port`, its listen and public ports, the endpoints."""
    suffix = "_base_endpoint" if base else "_endpoint"
    return {
        f"{prefix}_internal_fqdn": "{{ kolla_internal_fqdn }}",
        f"{prefix}_external_fqdn": "{{ kolla_external_fqdn }}",
        f"{port_prefix}_port": port,
        f"{port_prefix}_listen_port": f"{{{{ {port_prefix}_port }}}}",
        f"{port_prefix}_public_port": (
            "{{ haproxy_single_external_frontend_public_port if haproxy_single_external_frontend "
            f"else {port_prefix}_port }}}}"
        ),
        f"{endpoint}_internal{suffix}": (
            f"{{{{ {prefix}_internal_fqdn | kolla_url(internal_protocol, {port_prefix}_port) }}}}"
        ),
        f"{endpoint}_public{suffix}": (
            f"{{{{ {prefix}_external_fqdn | kolla_url(public_protocol, {port_prefix}_public_port) }}}}"
        ),
    }


# Kolla's group_vars that the rendered files use, in dependency order (ansible/group_vars/all.yml).
GROUP_VARS: dict[str, Any] = {
    "node_config_directory": "/etc/kolla",
    "container_config_directory": "/var/lib/kolla/config_files",
    "docker_image_url": (
        "{{ docker_registry ~ '/' if docker_registry else '' }}{{ docker_namespace }}/{{ docker_image_name_prefix }}"
    ),
    "database_address": "{{ kolla_internal_fqdn }}",
    "database_user": "root",
    "database_port": "3306",
    "database_connection_recycle_time": 10,
    "database_max_pool_size": 1,
    "mariadb_port": "{{ database_port }}",
    "mariadb_wsrep_port": "4567",
    "mariadb_ist_port": "4568",
    "mariadb_sst_port": "4444",
    "memcached_port": "11211",
    "rabbitmq_port": "5672",
    "rabbitmq_management_port": "15672",
    "rabbitmq_cluster_port": "25672",
    "rabbitmq_epmd_port": "4369",
    "rabbitmq_user": "openstack",
    "om_rpc_transport": "rabbit",
    "om_rpc_vhost": "/",
    "om_notify_transport": "rabbit",
    "om_notify_vhost": "/",
    "rpc_transport_url": (
        "{{ om_rpc_transport }}://{% for host in groups['rabbitmq'] %}{{ rabbitmq_user }}:{{ rabbitmq_password }}"
        "@{{ 'api' | kolla_address(host) | put_address_in_context('url') }}:{{ rabbitmq_port }}"
        "{% if not loop.last %},{% endif %}{% endfor %}/{{ om_rpc_vhost }}"
    ),
    "notify_transport_url": (
        "{{ om_notify_transport }}://{% for host in groups['rabbitmq'] %}{{ rabbitmq_user }}:{{ rabbitmq_password }}"
        "@{{ 'api' | kolla_address(host) | put_address_in_context('url') }}:{{ rabbitmq_port }}"
        "{% if not loop.last %},{% endif %}{% endfor %}/{{ om_notify_vhost }}"
    ),
    "internal_protocol": "{{ 'https' if kolla_enable_tls_internal else 'http' }}",
    "public_protocol": "{{ 'https' if kolla_enable_tls_external else 'http' }}",
    "keystone_public_listen_port": "5000",
    "keystone_public_port": "{{ keystone_public_listen_port }}",
    "keystone_internal_port": "5000",
    "keystone_internal_listen_port": "{{ keystone_internal_port }}",
    "keystone_internal_url": (
        "{{ internal_protocol }}://{{ kolla_internal_fqdn | put_address_in_context('url') }}"
        ":{{ keystone_internal_port }}"
    ),
    "keystone_public_url": (
        "{{ public_protocol }}://{{ kolla_external_fqdn | put_address_in_context('url') }}:{{ keystone_public_port }}"
    ),
    "kolla_httpd_timeout": 60,
    "kolla_httpd_keep_alive": 60,
    "openstack_interface": "internal",
    "openstack_cacert": "",
    "haproxy_single_external_frontend": False,
    "haproxy_single_external_frontend_public_port": "{{ '443' if kolla_enable_tls_external else '80' }}",
    # Each API's ports and endpoints: group_vars because other services read them (nova.conf names
    # neutron's, horizon all of them). `<svc>_api_public_port` follows haproxy_single_external_frontend.
    **_api_vars("glance", "glance_api", "9292", endpoint="glance"),
    **_api_vars("placement", "placement_api", "8780", endpoint="placement"),
    **_api_vars("nova", "nova_api", "8774", endpoint="nova", base=True),
    "nova_metadata_internal_fqdn": "{{ kolla_internal_fqdn }}",
    "nova_metadata_external_fqdn": "{{ kolla_external_fqdn }}",
    "nova_metadata_port": "8775",
    "nova_metadata_listen_port": "{{ nova_metadata_port }}",
    "nova_novncproxy_fqdn": "{{ kolla_external_fqdn }}",
    "nova_novncproxy_port": "6080",
    "nova_novncproxy_listen_port": "{{ nova_novncproxy_port }}",
    "nova_novncproxy_public_port": (
        "{{ haproxy_single_external_frontend_public_port if haproxy_single_external_frontend "
        "else nova_novncproxy_port }}"
    ),
    **_api_vars("neutron", "neutron_server", "9696", endpoint="neutron"),
    **_api_vars("heat", "heat_api", "8004", endpoint="heat", base=True),
    **_api_vars("heat_cfn", "heat_api_cfn", "8000", endpoint="heat_cfn", base=True),
    "horizon_internal_fqdn": "{{ kolla_internal_fqdn }}",
    "horizon_external_fqdn": "{{ kolla_external_fqdn }}",
    "horizon_port": "80",
    "horizon_tls_port": "443",
    "horizon_listen_port": "{{ horizon_port }}",
    "horizon_internal_endpoint": (
        "{{ horizon_internal_fqdn | kolla_url(internal_protocol, "
        "horizon_tls_port if kolla_enable_tls_internal else horizon_port) }}"
    ),
    "horizon_public_endpoint": (
        "{{ horizon_external_fqdn | kolla_url(public_protocol, "
        "horizon_tls_port if kolla_enable_tls_external else horizon_port) }}"
    ),
    "glance_keystone_user": "glance",
    "placement_keystone_user": "placement",
    "nova_keystone_user": "nova",
    "neutron_keystone_user": "neutron",
    "heat_keystone_user": "heat",
    "haproxy_stats_port": "1984",
    "haproxy_monitor_port": "61313",
    "proxysql_admin_port": "6032",
    "openstack_auth": None,  # built in code below: it is a mapping
}


def put_address_in_context(address: str, context: str = "url") -> str:
    """Kolla's filter: IPv6 addresses in brackets for URLs and memcache lists."""
    try:
        parsed = ipaddress.ip_address(str(address))
    except ValueError:
        return str(address)
    if context == "rabbitmq":
        # An Erlang address tuple's elements (advanced.config wraps them in braces).
        if parsed.version == 4:
            return str(address).replace(".", ",")
        return ",".join(f"16#{part}" for part in parsed.exploded.split(":"))
    if parsed.version == 4:
        return str(address)
    if context == "memcache":
        return f"inet6:[{address}]"
    return f"[{address}]"


def kolla_url(fqdn: str, protocol: str, port: Any, path: str = "", context: str = "url") -> str:
    """Kolla's filter: `protocol://fqdn[:port]path`, the port left out where it is the protocol's own."""
    address = put_address_in_context(fqdn, context)
    default = {"http": 80, "ws": 80, "https": 443, "wss": 443}.get(protocol)
    if int(port) == default:
        return f"{protocol}://{address}{path}"
    return f"{protocol}://{address}:{int(port)}{path}"


@jinja2.pass_context
def kolla_address(ctx: Any, _kind: str, host: str) -> str:
    """Kolla's `'api' | kolla_address(host)`: that host's API address, from the inventory."""
    return ctx["hostvars"][host]["api_interface_address"]


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"yes", "true", "on", "1"}
    return bool(value)


@cache
def environment() -> jinja2.Environment:
    """Jinja as Kolla uses it, with undefined names an error instead of silently empty."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        autoescape=False,
    )
    env.filters["bool"] = _to_bool
    env.filters["put_address_in_context"] = put_address_in_context
    env.filters["kolla_address"] = kolla_address
    env.filters["kolla_url"] = kolla_url
    # Ours, for scripts the catalogue renders (a value as one shell word).
    env.filters["quote"] = lambda value: shlex.quote(str(value))
    return env


@cache
def _compiled(text: str) -> jinja2.Template:
    # The same expressions are rendered for every host and container: compile each once.
    return environment().from_string(text)


def render_string(text: str, context: Mapping[str, Any]) -> str:
    if "{{" not in text and "{%" not in text:
        return text
    return _compiled(text).render(context)


def render_template(name: str, context: Mapping[str, Any]) -> str:
    return environment().get_template(name).render(context)


@dataclass(frozen=True)
class HostFacts:
    """What Kolla would read from a host's facts, declared in the inventory instead."""

    hostname: str
    api_interface_address: str

    @property
    def api_address_family(self) -> str:
        return "ipv6" if ipaddress.ip_address(self.api_interface_address).version == 6 else "ipv4"


def facts(host: Host) -> HostFacts:
    return HostFacts(hostname=host.hostname, api_interface_address=host.api_address)


def _is_host_level(default: Any) -> bool:
    """Defaults that are rules (callables) or Jinja strings may read host facts: resolve per host."""
    return callable(default) or (isinstance(default, str) and ("{{" in default or "{%" in default))


def _resolve_vars(ctx: dict[str, Any], defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> None:
    """Add variables in order; a user override wins; rules and Jinja strings see earlier names."""
    for name, default in defaults.items():
        if name in overrides:
            ctx[name] = overrides[name]
        elif callable(default):
            ctx[name] = default(ctx)
        elif isinstance(default, str):
            ctx[name] = render_string(default, ctx)
        elif default is not None:
            ctx[name] = default


def base_context(
    globals_values: Mapping[str, Any],
    inventory: Inventory,
    passwords: Passwords,
    service_variables: Iterable[Mapping[str, Any]],
) -> dict[str, Any]:
    """The context shared by all hosts; `host_context` adds one host's facts."""
    ctx: dict[str, Any] = dict(globals_values)
    ctx.update(passwords.values)
    ctx["groups"] = {group: list(members) for group, members in inventory.groups.items()}
    ctx["hostvars"] = {name: facts(h).__dict__ | {"inventory_hostname": name} for name, h in inventory.hosts.items()}
    _resolve_vars(ctx, GROUP_VARS, globals_values)
    ctx["openstack_auth"] = {
        "auth_url": ctx["keystone_internal_url"],
        "username": ctx["keystone_admin_user"],
        "password": ctx["keystone_admin_password"],
        "project_name": ctx["keystone_admin_project"],
        "domain_name": "default",
        "user_domain_name": "default",
    }
    for variables in service_variables:
        _resolve_vars(ctx, {k: v for k, v in variables.items() if not _is_host_level(v)}, globals_values)
    return ctx


def host_context(base: Mapping[str, Any], host: Host, service_variables: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One host's view: its facts, then the role defaults that depend on them."""
    ctx = dict(base)
    host_facts = facts(host)
    ctx.update(
        inventory_hostname=host.name,
        hostname=host_facts.hostname,
        api_interface_address=host_facts.api_interface_address,
        api_address_family=host_facts.api_address_family,
    )
    for variables in service_variables:
        _resolve_vars(ctx, {k: v for k, v in variables.items() if _is_host_level(v)}, base)
    return ctx
