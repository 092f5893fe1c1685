"""kolla-pulumi: Kolla's OpenStack containers deployed and operated as a Pulumi program.

Layout: `config/` reads and validates the stack config (globals, inventory, passwords); `catalogue/`
holds every service's definition as data; `render`, `placement` and `ini_merge` are pure functions over
those; `host`, `service`, `jobs` and `deployment` turn them into Pulumi resources.
"""
