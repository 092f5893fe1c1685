"""The /lib/modules the test-bed hosts see.

This machine's kernel loads no modules (it has no /lib/modules at all) and has no openvswitch
datapath. The hosts therefore run Open vSwitch's userspace datapath (their stacks set
`ovs_datapath: netdev`), but Kolla's openvswitch_vswitchd still starts with `modprobe openvswitch`
under `set -e`, as it must on a real host. Each host gets a module tree for the running kernel that
lists what is built into it (from /sys/module) plus `openvswitch`, so that modprobe answers as on a
host whose kernel has it built in. Nothing else about the kernel is claimed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

# Modules the hosts' containers load that this kernel provides another way (see the docstring).
STAND_IN_BUILTINS = ("kernel/net/openvswitch/openvswitch.ko",)


def _builtins() -> list[str]:
    present = sorted(p.name for p in Path("/sys/module").iterdir() if not (p / "initstate").exists())
    names = [f"kernel/builtin/{name}.ko" for name in present]
    return sorted({*names, *STAND_IN_BUILTINS})


def modules_root(data_root: Path) -> Path:
    """A directory to bind-mount on the hosts' /lib/modules, (re)made when the kernel's list changes."""
    if shutil.which("depmod") is None:
        raise RuntimeError("needs depmod: apt-get install kmod")
    release = os.uname().release
    root = data_root / "modules"
    tree = root / "lib" / "modules" / release
    listing = "\n".join(_builtins()) + "\n"
    builtin = tree / "modules.builtin"
    if not builtin.exists() or builtin.read_text() != listing or not (tree / "modules.builtin.bin").exists():
        tree.mkdir(parents=True, exist_ok=True)
        builtin.write_text(listing)
        subprocess.run(["depmod", "-b", str(root), release], check=True, capture_output=True)
    return root / "lib" / "modules"
