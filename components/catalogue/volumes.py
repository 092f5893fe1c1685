"""Volume lists every Kolla service starts from (its `<service>_default_volumes`)."""

from __future__ import annotations


def config_volume(key: str) -> str:
    """The service's rendered config, read-only where kolla_set_configs looks for it."""
    return f"{{{{ node_config_directory }}}}/{key}/:{{{{ container_config_directory }}}}/:ro"


def default_volumes(key: str, *extra: str) -> tuple[str, ...]:
    # Kolla adds /etc/timezone on Debian-family hosts only; that is a host fact we do not gather, and
    # /etc/localtime alone sets the zone in the images.
    return (config_volume(key), "/etc/localtime:/etc/localtime:ro", "kolla_logs:/var/log/kolla/", *extra)
