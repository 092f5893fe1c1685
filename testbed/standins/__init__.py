"""Test-bed stand-ins for Pulumi plugins that cannot be had offline (see testbed.env).

Each is started by the engine through a launcher named like the real plugin; with network access the
real plugins replace them (KOLLA_PULUMI_REAL_PLUGINS=1).
"""

from pulumi.provider.experimental import provider as _provider

_sdk_extract_type = _provider._extract_type


def _extract_type(urn: str) -> str:
    """The resource's own type token. SDK 3.272 returns the URN's whole type part, which for a resource
    under a component is `parentType$...$type` (e.g. `kolla:infra:Host$command:remote:Command`); the
    engine sends real providers the plain token, so the stand-ins must see the same."""
    return _sdk_extract_type(urn).rsplit("$", 1)[-1]


_provider._extract_type = _extract_type
