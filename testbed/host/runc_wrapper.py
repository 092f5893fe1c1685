#!/usr/bin/python3
"""The test-bed hosts' `runc`: drops capabilities this machine cannot grant, then runs the real runc.

These machines lack CAP_SYS_RESOURCE in their bounding set, so runc refuses `--privileged` containers
("unable to apply caps: operation not permitted"). The hosts' dockerd finds this file first on PATH
under the name `runc`; it edits the OCI spec (`create`/`run`: the bundle's config.json; `exec`: the
--process file) to keep only capabilities in our own bounding set. Runs with the system Python only.
"""

from __future__ import annotations

import json
import os
import sys

REAL_RUNC = "/usr/sbin/runc"
# Linux capability numbers 0..40 (include/uapi/linux/capability.h).
CAP_NAMES = (
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
)


def bounding_set() -> set[str]:
    with open("/proc/self/status") as status:
        mask = next(int(line.split()[1], 16) for line in status if line.startswith("CapBnd:"))
    return {f"CAP_{name}" for bit, name in enumerate(CAP_NAMES) if mask >> bit & 1}


def option(args: list[str], *names: str) -> str | None:
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def strip_caps(path: str, in_process: bool, allowed: set[str]) -> None:
    with open(path) as f:
        spec = json.load(f)
    caps = (spec if in_process else spec.get("process", {})).get("capabilities") or {}
    changed = False
    for kind, names in caps.items():
        kept = [c for c in names or [] if c in allowed]
        if kept != (names or []):
            caps[kind], changed = kept, True
    if changed:
        with open(path, "w") as f:
            json.dump(spec, f)


def main(args: list[str]) -> None:
    command = next((a for a in args if a in ("create", "run", "exec")), None)
    if command in ("create", "run"):
        bundle = option(args, "--bundle", "-b") or "."
        strip_caps(os.path.join(bundle, "config.json"), False, bounding_set())
    elif command == "exec":
        process = option(args, "--process", "-p")
        if process:
            strip_caps(process, True, bounding_set())
    os.execv(REAL_RUNC, [REAL_RUNC, *args])


if __name__ == "__main__":
    main(sys.argv[1:])
