"""kolla-genpwd for a stack: generate every missing secret the enabled services need, as Pulumi secrets.

    python -m components.genpwd --stack <stack> [--work-dir <project dir>] [--all]

Existing values are never overwritten (kolla-genpwd's rule). Values are stored encrypted by the
engine (`pulumi config set --secret --path passwords.<name>`) and never printed: the command lists
only the names it generated. `--all` fills every key of Kolla's passwords.yml, not only those the
catalogue's services need. Needs the `pulumi` CLI, as `pulumi config set` does.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from components.catalogue import SERVICES
from components.config.passwords import ALL_KEYS, genpwd

PROJECT = "kolla-pulumi"


def needed_keys(every_key: bool = False) -> list[str]:
    if every_key:
        return list(ALL_KEYS)
    return sorted({key for service in SERVICES for key in service.passwords})


def fill_missing_passwords(stack: auto.Stack, keys: list[str]) -> list[str]:
    """Generate the missing ones among `keys` into the stack's config; return their names."""
    current = stack.get_all_config().get(f"{PROJECT}:passwords")
    existing: dict[str, Any] = json.loads(current.value) if current is not None else {}
    filled = genpwd(existing, keys=keys)
    generated = []
    for key in keys:
        if key in existing or filled.get(key) is None:
            continue
        value = filled[key]
        parts = value.items() if isinstance(value, dict) else [(None, value)]
        for part, text in parts:
            path = f"passwords.{key}" + (f".{part}" if part else "")
            stack.set_config(path, auto.ConfigValue(value=text, secret=True), path=True)
        generated.append(key)
    return generated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--work-dir", default=str(Path(__file__).resolve().parent.parent))
    parser.add_argument("--all", action="store_true", help="every key of Kolla's passwords.yml")
    args = parser.parse_args(argv)
    stack = auto.select_stack(args.stack, work_dir=args.work_dir)
    generated = fill_missing_passwords(stack, needed_keys(args.all))
    print(f"generated {len(generated)} secret(s)" + (f": {', '.join(generated)}" if generated else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
