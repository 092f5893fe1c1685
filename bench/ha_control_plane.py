"""Benchmark the HA control plane on the test bed (Pulumi.ha.yaml: three controllers behind the VIP, one
compute); prints a table of figures.

    python bench/ha_control_plane.py [--figures PATH]

It runs the HA end-to-end module (tests/e2e/test_ha.py), whose steps are the measurements: the first
`up` on fresh hosts, a no-change `up`, memory per host, then each reconfigure (a keystone option, a nova
API option, a RabbitMQ option, a MariaDB option, the seed's virt_type) while a client loop sends about
4 requests a second to the VIP and counts the failed ones; then the host holding the VIP losing power
(the failed requests and the seconds they span), its return, and every controller losing power and
`mariadb-recovery`. One code path for the check and the figure: the module writes its figures to
PATH (default: a temporary file), this script prints them. About 40 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import print_table
from testbed.versions import ROOT

FIGURES_VAR = "KOLLA_PULUMI_HA_FIGURES"


def rows(figures: dict[str, dict[str, object]]) -> list[tuple[str, str]]:
    table = []
    for name, figure in figures.items():
        if "requests" in figure:
            text = f"{figure.get('seconds', '-')} s, {figure['failed']} of {figure['requests']} requests failed"
            text += f", {figure.get('slow', 0)} slower than 5 s"
            if figure.get("outage_s"):
                text += f", {figure['outage_s']} s from first to last failure"
            if "last_failure_after_cut_s" in figure:
                text += f" (the last one {figure['last_failure_after_cut_s']} s after the power cut)"
        elif "seconds" in figure:
            text = f"{figure['seconds']} s" + (
                f" (from {figure['bootstrapped from']})" if "bootstrapped from" in figure else ""
            )
        else:
            text = ", ".join(f"{k} {v}" for k, v in figure.items())
        table.append((name, text))
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--figures", type=Path, help="where the module writes its figures (JSON)")
    args = parser.parse_args(argv)
    path = args.figures or Path(tempfile.mkstemp(prefix="ha-figures-", suffix=".json")[1])
    env = {**os.environ, FIGURES_VAR: str(path)}
    test = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests/e2e/test_ha.py"]
    done = subprocess.run(test, cwd=ROOT, env=env, check=False)
    if not path.exists() or not path.read_text().strip():
        print("the HA module wrote no figures", file=sys.stderr)
        return 1
    print_table(rows(json.loads(path.read_text())))
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
