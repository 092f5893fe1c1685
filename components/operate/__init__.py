"""Operating a kolla-pulumi stack with kolla-ansible's verbs, over the Pulumi Automation API.

`open_stack` gives an `auto.Stack` (local program or inline, same code path afterwards); `verbs`
maps each verb onto a Pulumi operation; `targets` finds what a targeted verb touches; `prechecks`
checks the hosts without Pulumi; `progress` shows an operation as it runs. `components/cli.py` is the
command line over these.
"""

from components.operate.workspace import PROJECT, ROOT, open_stack, raw_config, resolved_config

__all__ = ["PROJECT", "ROOT", "open_stack", "raw_config", "resolved_config"]
