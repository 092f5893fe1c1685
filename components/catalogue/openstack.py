"""Data every OpenStack API service's definition repeats: Kolla declares these per role, with the same
values, so each service here builds them from one place."""

from __future__ import annotations

from typing import Any

from components.catalogue.model import Context, DatabaseJob, Frontend, Healthcheck, Predicate, always

# group_vars every keystone_authtoken section reads (same values wherever they are declared).
KEYSTONE_AUTHTOKEN_VARIABLES = {
    "memcache_security_strategy": "ENCRYPT",
    "default_project_domain_id": "default",
    "default_user_domain_id": "default",
    "default_project_domain_name": "Default",
    "default_user_domain_name": "Default",
}

_DEBIAN_FAMILY = "kolla_base_distro in ['ubuntu', 'debian']"

# Apache in the foreground, and the directory its vhosts are read from, on the image's distro.
APACHE_COMMAND = f"/usr/sbin/{{{{ 'apache2' if {_DEBIAN_FAMILY} else 'httpd' }}}} -DFOREGROUND"
APACHE_CONF_DIR = f"{{{{ 'apache2/conf-enabled' if {_DEBIAN_FAMILY} else 'httpd/conf.d' }}}}"


def wsgi_command(provider_variable: str, uwsgi_ini: str) -> str:
    """Kolla's config.json command for a `<service>_wsgi_provider`: Apache's mod_wsgi or uwsgi."""
    return f"{{% if {provider_variable} == 'apache' %}}{APACHE_COMMAND}{{% else %}}uwsgi {uwsgi_ini}{{% endif %}}"


def wsgi_provider_is(provider_variable: str, provider: str) -> Predicate:
    """A file's `when`: the service's WSGI server is `provider` ('apache' or 'uwsgi')."""

    def chosen(ctx: Context) -> bool:
        return ctx[provider_variable] == provider

    return chosen


def database_job(prefix: str, password_key: str = "", **options: Any) -> DatabaseJob:
    """Kolla's bootstrap.yml database task: the job `<prefix>_database` creates the database
    `{{ <prefix>_database_name }}` and its user `{{ <prefix>_database_user }}`, with the password
    `<prefix>_database_password` unless another is named."""
    return DatabaseJob(
        name=f"{prefix}_database",
        database=f"{{{{ {prefix}_database_name }}}}",
        user=f"{{{{ {prefix}_database_user }}}}",
        password_key=password_key or f"{prefix}_database_password",
        **options,
    )


def api_healthcheck(listen_port_variable: str, path: str = "", trailing: str = "") -> Healthcheck:
    """Kolla's `healthcheck_curl` of an API on this host's API address and listen port."""
    url = "http://{{ api_interface_address | put_address_in_context('url') }}"
    return Healthcheck(f"healthcheck_curl {url}:{{{{ {listen_port_variable} }}}}{path}{trailing}")


def api_frontends(
    name: str,
    port: str,
    public_port: str,
    listen_port: str = "",
    *,
    backend_extra: tuple[str, ...] = ("option httpchk",),
    frontend_extra: tuple[str, ...] = (),
    external: Predicate = always,
) -> tuple[Frontend, Frontend]:
    """Kolla's `haproxy:` pair of an API: `<name>` on the internal VIP and `<name>_external` on the
    external one (`external` decides whether that one is on), both to the hosts' listen port."""
    common = {"listen_port": listen_port, "frontend_extra": frontend_extra, "backend_extra": backend_extra}
    return (
        Frontend(name, port, **common),
        Frontend(f"{name}_external", public_port, external=True, enabled=external, **common),
    )
