"""Benchmark a real OpenStack all-in-one on the test bed (keystone, glance, placement, nova, neutron);
prints a table of figures.

    python bench/openstack_all_in_one.py [--repeat 3]

On h1 of freshly wiped test-bed hosts (images already on the hosts count as a user's local images):
the first `up`; a no-change `up` (median of --repeat); the seed's virt_type reconfigure: `up` with
`nova_compute_virt_type: kvm` (the hosts have no /dev/kvm: how long until the run fails saying so), then
back to `qemu` (nova_compute replaced, the check passes); and a server booted to ACTIVE afterwards.

kolla-ansible is not run beside it: its 2025.1 deploy needs the docker and requests Python packages on
every target host (bootstrap-servers pip-installs them into a venv there), and the test-bed hosts have
no route to a package index (see the README's benchmark section).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi import automation as auto

from bench.figures import print_table, timed
from testbed import hosts, images
from testbed.deploy import stack_with_config
from tests.e2e.cloud import Cloud, compute_config

STACK = "bench-all-in-one"
GROUPS = {group: ["h1"] for group in ("control", "network", "compute", "storage", "monitoring")}


def _failing(step: Callable[[], object]) -> float:
    started = time.monotonic()
    try:
        step()
    except auto.CommandError:
        return time.monotonic() - started
    raise AssertionError("expected the kvm up to fail on hosts without /dev/kvm")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    rows.append(("test-bed hosts up (2, fresh)", f"{timed(lambda: hosts.up(2, fresh=True)):.1f} s"))
    rows.append(("images (cached, checked against the registry)", f"{timed(images.build):.1f} s"))
    with tempfile.TemporaryDirectory() as scratch:
        state = Path(scratch)

        def stack(virt_type: str) -> auto.Stack:
            return stack_with_config(STACK, state, compute_config(GROUPS, nova_compute_virt_type=virt_type))

        qemu = stack("qemu")
        first = timed(qemu.up)
        count = len(qemu.export_stack().deployment["resources"])
        rows.append((f"first up, all-in-one ({count} resources)", f"{first:.1f} s"))
        ups = [timed(qemu.up) for _ in range(args.repeat)]
        rows.append(("no-change up (median)", f"{statistics.median(ups):.1f} s"))
        rows.append(("up with kvm, until it fails saying why", f"{_failing(stack('kvm').up):.1f} s"))
        rows.append(("reconfigure back to qemu (nova_compute replaced)", f"{timed(stack('qemu').up):.1f} s"))
        client = Cloud(qemu, state / "client")
        client.compute_services_up({"h1"})
        client.init_runonce()
        started = time.monotonic()
        server = client.boot("kp-vm")
        assert server["status"] == "ACTIVE", server.get("fault")
        rows.append(("server create to ACTIVE (QEMU)", f"{time.monotonic() - started:.1f} s"))
        rows.append(("destroy", f"{timed(qemu.destroy):.1f} s"))

    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
