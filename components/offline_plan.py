"""Print what a stack would deploy, without an engine, hosts or network: per host each container with
its image and config hash, then the jobs in order.

    python -m components.offline_plan [--stack dev] [--json]

It reads `Pulumi.<stack>.yaml` as the program would and runs the same checks and rendering. Secrets
are not decrypted here: missing or encrypted passwords are replaced by a throwaway generated set, and
key files that do not exist yet (a test bed not started) by placeholders; the output says so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from components.catalogue import SERVICES
from components.config.errors import ConfigError
from components.config.passwords import genpwd
from components.config.stack import TOP_LEVEL_KEYS, resolve_stack_config
from components.deployment import plan_deployment

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "kolla-pulumi"
PLACEHOLDER_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nplaceholder\n-----END OPENSSH PRIVATE KEY-----\n"
PLACEHOLDER_HOST_KEY = "ssh-ed25519 AAAAplaceholder"


def _stack_config(stack: str) -> tuple[dict[str, Any], list[str]]:
    path = ROOT / f"Pulumi.{stack}.yaml"
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(
            [f"--stack {stack}: {path} cannot be read ({exc.strerror}); expected the stack's settings file"]
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not YAML ({exc}); expected the stack's settings file"]) from None
    config = document.get("config") if isinstance(document, dict) else None
    config = config if isinstance(config, dict) else {}
    raw = {key: config[f"{PROJECT}:{key}"] for key in TOP_LEVEL_KEYS if f"{PROJECT}:{key}" in config}
    notes: list[str] = []
    inventory = raw.get("inventory")
    hosts = inventory.get("hosts") if isinstance(inventory, dict) else None
    for name, host in (hosts if isinstance(hosts, dict) else {}).items():
        if not isinstance(host, dict):
            continue
        for field, placeholder in (("private_key", PLACEHOLDER_KEY), ("host_key", PLACEHOLDER_HOST_KEY)):
            file = host.get(f"{field}_file")
            if file and not Path(os.path.expanduser(file)).exists():
                host.pop(f"{field}_file")
                host[field] = placeholder
                notes.append(f"{name}: {file} does not exist yet; a placeholder stands in for the plan")
    passwords = raw.get("passwords") if isinstance(raw.get("passwords"), dict) else {}
    plain = {k: v for k, v in passwords.items() if not (isinstance(v, dict) and "secure" in v)}
    needed = {key for service in SERVICES for key in service.passwords}
    if needed - plain.keys():
        notes.append("passwords are not in plain text here: a throwaway generated set stands in for the plan")
    raw["passwords"] = genpwd(plain, keys=sorted(needed))
    return raw, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        raw, notes = _stack_config(args.stack)
        config = resolve_stack_config(raw)
        plan = plan_deployment(config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    elapsed = time.monotonic() - started
    if args.json:
        hosts: dict[str, list[dict[str, str]]] = {}
        for s in plan.services:
            for c in s.containers:
                hosts.setdefault(c.host, []).append(
                    {
                        "service": s.service.name,
                        "container": c.container_name,
                        "image": c.image,
                        "config_hash": c.config_hash,
                    }
                )
        jobs = [{"service": s.service.name, "host": j.host, "job": j.name} for s in plan.services for j in s.jobs]
        print(json.dumps({"stack": args.stack, "hosts": hosts, "jobs": jobs, "notes": notes}, indent=2))
        return 0
    print(f"Plan for stack '{args.stack}' (evaluated offline in {elapsed:.2f} s)")
    for note in [*notes, *config.notices]:
        print(f"  note: {note}")
    for host in config.inventory.hosts:
        print(f"\nhost {host} ({config.inventory.hosts[host].address})")
        for s in plan.services:
            for c in s.containers:
                if c.host == host:
                    print(f"  {s.service.name:<10} {c.container_name:<16} {c.image}  config {c.config_hash[:12]}")
    print("\njobs, in order")
    step = 0
    for s in plan.services:
        for j in s.jobs:
            step += 1
            when = "after its containers" if j.after_containers else "before its containers"
            print(f"  {step:>2}. {j.host}/{j.name} ({s.service.name}, {when})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
