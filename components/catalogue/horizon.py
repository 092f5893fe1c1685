"""Horizon: the dashboard (Django under Apache mod_wsgi), sessions in memcached."""

from __future__ import annotations

from collections.abc import Callable

from components.catalogue.model import ConfigFile, Container, Context, Frontend, Healthcheck, Service
from components.catalogue.volumes import default_volumes

# The dashboards the horizon image enables at start (Kolla's ENABLE_* environment), each following its
# service's flag. Flags this program has no setting for (fwaas, vpnaas) are off, as they are in Kolla.
PLUGINS = {
    "blazar": "enable_blazar",
    "cloudkitty": "enable_cloudkitty",
    "designate": "enable_designate",
    "fwaas": "enable_neutron_fwaas",
    "heat": "enable_heat",
    "ironic": "enable_ironic",
    "magnum": "enable_magnum",
    "manila": "enable_manila",
    "masakari": "enable_masakari",
    "mistral": "enable_mistral",
    "neutron_vpnaas": "enable_neutron_vpnaas",
    "octavia": "enable_octavia",
    "tacker": "enable_tacker",
    "trove": "enable_trove",
    "venus": "enable_venus",
    "watcher": "enable_watcher",
    "zun": "enable_zun",
}


def _follows(flag: str) -> Callable[[Context], bool]:
    return lambda ctx: bool(ctx.get(flag, False))


_APACHE_DEBIAN = "kolla_base_distro in ['ubuntu', 'debian']"


def _frontend(name: str, external: bool) -> Frontend:
    tls = "kolla_enable_tls_external" if external else "kolla_enable_tls_internal"
    return Frontend(
        name,
        port=f"{{% if {tls} | bool %}}{{{{ horizon_tls_port }}}}{{% else %}}{{{{ horizon_port }}}}{{% endif %}}",
        listen_port="{{ horizon_listen_port }}",
        external=external,
        backend_extra=("balance {{ 'roundrobin' if enable_memcached | bool else 'source' }}", "option httpchk"),
    )


def _redirect(name: str, external: bool) -> Frontend:
    """Kolla's plain-HTTP listener that redirects to HTTPS, only where TLS is on."""
    tls = "kolla_enable_tls_external" if external else "kolla_enable_tls_internal"
    return Frontend(
        name,
        port="{{ horizon_port }}",
        listen_port="{{ horizon_listen_port }}",
        mode="redirect",
        external=external,
        enabled=lambda ctx: bool(ctx[tls]),
    )


SERVICE = Service(
    name="horizon",
    enable_flag="enable_horizon",
    depends_on=("common", "memcached", "keystone"),
    passwords=("horizon_secret_key",),
    variables={
        **{f"enable_horizon_{name}": _follows(flag) for name, flag in PLUGINS.items()},
        "horizon_logging_debug": "{{ openstack_logging_debug }}",
        "horizon_use_keystone_public_url": False,
        "horizon_keystone_url": lambda c: (
            c["keystone_public_url"] if c["horizon_use_keystone_public_url"] else c["keystone_internal_url"]
        ),
        "horizon_keystone_multidomain": False,
        "horizon_keystone_domain_choices": {"Default": "default"},
        "horizon_wsgi_processes": "{{ openstack_service_workers }}",
        "horizon_wsgi_threads": "1",
        "horizon_dev_mode": False,
        # group_vars the settings and Apache files read.
        "keystone_default_user_role": "member",
        "multiple_regions_names": lambda c: [c["openstack_region_name"]],
        "enable_cinder_backup": True,
        "distro_python_version": "3",
    },
    containers=(
        Container(
            key="horizon",
            container_name="horizon",
            image="horizon",
            group="horizon",
            command=f"/usr/sbin/{{{{ 'apache2' if {_APACHE_DEBIAN} else 'httpd' }}}} -DFOREGROUND",
            environment={
                **{
                    f"ENABLE_{name.upper()}": f"{{{{ 'yes' if enable_horizon_{name} | bool else 'no' }}}}"
                    for name in PLUGINS
                },
                "FORCE_GENERATE": "{{ 'yes' if horizon_dev_mode | bool else 'no' }}",
            },
            volumes=default_volumes("horizon"),
            files=(
                ConfigFile(
                    "horizon/horizon.conf.j2",
                    f"/etc/{{{{ 'apache2/conf-enabled/000-default.conf' if {_APACHE_DEBIAN} "
                    "else 'httpd/conf.d/horizon.conf' }}",
                    "horizon",
                ),
                ConfigFile(
                    "horizon/_9998-kolla-settings.py.j2",
                    "/etc/openstack-dashboard/local_settings.d/_9998-kolla-settings.py",
                    "horizon",
                ),
                ConfigFile(
                    "horizon/_9999-custom-settings.py.j2",
                    "/etc/openstack-dashboard/local_settings.d/_9999-custom-settings.py",
                    "horizon",
                ),
            ),
            healthcheck=Healthcheck(
                "healthcheck_curl http://{{ api_interface_address | put_address_in_context('url') }}"
                ":{{ horizon_listen_port }}"
            ),
            haproxy=(
                _frontend("horizon", external=False),
                _redirect("horizon_redirect", external=False),
                _frontend("horizon_external", external=True),
                _redirect("horizon_external_redirect", external=True),
            ),
        ),
    ),
)
