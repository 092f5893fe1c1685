"""memcached: one container per host of group `memcached`, configured on its command line only."""

from __future__ import annotations

from components.catalogue.model import Container, Healthcheck, Service
from components.catalogue.volumes import config_volume

SERVICE = Service(
    name="memcached",
    enable_flag="enable_memcached",
    variables={"memcached_connection_limit": "5000", "memcached_max_memory": "256"},
    containers=(
        Container(
            key="memcached",
            container_name="memcached",
            image="memcached",
            group="memcached",
            command=(
                "/usr/bin/memcached -v -l {{ api_interface_address }} -p {{ memcached_port }} "
                "-c {{ memcached_connection_limit }} -U 0 -m {{ memcached_max_memory }}"
            ),
            # No kolla_logs: Kolla's memcached logs to stdout only.
            volumes=(config_volume("memcached"), "/etc/localtime:/etc/localtime:ro"),
            healthcheck=Healthcheck("healthcheck_listen memcached {{ memcached_port }}"),
        ),
    ),
)
