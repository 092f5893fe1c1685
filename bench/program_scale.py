"""Evaluation time and peak memory of the program under Pulumi's mocks, by inventory size.

    python bench/program_scale.py [--hosts 1 10 100 500]

Each size runs in its own process (peak RSS is per process): 3 control hosts (also the network
hosts; 1 for the one-host case), the rest compute, with Kolla's default services. Prints hosts,
resources, containers, seconds, peak MiB, and microseconds per resource, so linear growth shows as a
flat last column.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(hosts: int) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from tests.conftest import host, make_config
    from tests.harness import run_program

    config = make_config(hosts=1)
    names = [f"h{i}" for i in range(1, hosts + 1)]
    config["inventory"]["hosts"] = {n: host(f"10.77.{i // 250}.{i % 250 + 1}") for i, n in enumerate(names)}
    controls = names[: min(3, hosts)]
    config["inventory"]["groups"] = {
        "control": controls,
        "network": controls,
        "storage": controls,
        "monitoring": controls,
        "compute": names[3:] or controls,
    }
    # Kolla's default services (enable_openstack_core, haproxy + keepalived + proxysql on the VIP):
    # drop the test fixture's switches that turn them off.
    for flag in ("enable_openstack_core", "enable_keystone", "enable_haproxy", "enable_proxysql"):
        config["globals"].pop(flag, None)
    config["globals"]["kolla_internal_vip_address"] = "10.77.255.254"
    started = time.monotonic()
    run = run_program(config)
    seconds = time.monotonic() - started
    return {
        "hosts": hosts,
        "resources": len(run.resources),
        "containers": len(run.containers()),
        "seconds": seconds,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[1, 10, 100, 500])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one)))
        return 0
    print(f"{'hosts':>6} {'resources':>10} {'containers':>11} {'seconds':>8} {'peak MiB':>9} {'µs/resource':>12}")
    for hosts in args.hosts:
        out = (
            subprocess.run([sys.executable, __file__, "--one", str(hosts)], check=True, capture_output=True, text=True)
            .stdout.strip()
            .splitlines()[-1]
        )
        r = json.loads(out)
        per = r["seconds"] / r["resources"] * 1e6
        print(
            f"{r['hosts']:>6} {r['resources']:>10} {r['containers']:>11} {r['seconds']:>8.2f} "
            f"{r['peak_mib']:>9.0f} {per:>12.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
