"""Test-bed stand-ins for Pulumi plugins that cannot be had offline (see testbed.env).

Each is started by the engine through a launcher named like the real plugin; with network access the
real plugins replace them (KOLLA_PULUMI_REAL_PLUGINS=1).
"""
