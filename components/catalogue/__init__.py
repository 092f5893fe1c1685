"""The service catalogue: every service's whole definition, as data, in deployment order.

Order follows kolla-ansible's site.yml: common, mariadb, memcached, rabbitmq, keystone, ...
"""

from __future__ import annotations

from components.catalogue import (
    common,
    glance,
    heat,
    horizon,
    keystone,
    loadbalancer,
    mariadb,
    memcached,
    neutron,
    nova,
    nova_cell,
    openvswitch,
    placement,
    rabbitmq,
)
from components.catalogue.model import Service

SERVICES: tuple[Service, ...] = (
    common.SERVICE,
    mariadb.SERVICE,
    loadbalancer.SERVICE,
    memcached.SERVICE,
    rabbitmq.SERVICE,
    keystone.SERVICE,
    glance.SERVICE,
    placement.SERVICE,
    openvswitch.SERVICE,
    nova.SERVICE,
    nova_cell.SERVICE,
    neutron.SERVICE,
    heat.SERVICE,
    horizon.SERVICE,
)


def service_variables() -> dict[str, object]:
    """Every role default the catalogue declares, by name (users may override them in globals)."""
    out: dict[str, object] = {}
    for service in SERVICES:
        out.update(service.variables)
    return out
