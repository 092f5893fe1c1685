"""Benchmark the test bed and the program's lifecycle on it; prints a table of figures.

    python bench/testbed_lifecycle.py [--cold-engine] [--repeat 3]

Figures: engine build (warm: the cache; cold: a full build into a scratch directory, ~5 min, only
with --cold-engine), then on two fresh test-bed hosts (control + compute): the first `up`, a
no-change `preview`, a no-change `up`, and a one-service reconfigure (memcached's memory: one
container replaced). Each lifecycle figure is the median of --repeat runs where it can be repeated.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import print_table, timed
from testbed import engine, hosts, images
from testbed.deploy import stack_with_config
from tests.e2e.test_lifecycle import STACK, stack_config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold-engine", action="store_true", help="also time a full engine build (~5 min)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []

    rows.append(("engine build, warm (cached)", f"{timed(lambda: engine.ensure_engine(log=lambda _m: None)):.2f} s"))
    if args.cold_engine:
        # Cold: an empty Go build cache (the module download cache is kept: that is network, not build).
        with tempfile.TemporaryDirectory() as scratch:
            target = Path(scratch) / "pulumi"
            saved = os.environ.get("GOCACHE")
            os.environ["GOCACHE"] = str(Path(scratch) / "gocache")
            try:
                seconds = timed(lambda: engine.build(target, log=lambda _m: None))
            finally:
                os.environ.pop("GOCACHE") if saved is None else os.environ.__setitem__("GOCACHE", saved)
            rows.append(("engine build, cold (empty Go build cache)", f"{seconds:.0f} s"))

    rows.append(("test-bed hosts up (2, fresh)", f"{timed(lambda: hosts.up(2, fresh=True)):.1f} s"))
    rows.append(("images (cached, checked against the registry)", f"{timed(images.build):.1f} s"))
    with tempfile.TemporaryDirectory() as state:
        stack = stack_with_config(STACK, Path(state), stack_config())
        rows.append(("first up, 2 hosts (control + compute)", f"{timed(stack.up):.1f} s"))
        previews = [timed(stack.preview) for _ in range(args.repeat)]
        rows.append(("no-change preview (median)", f"{statistics.median(previews):.1f} s"))
        ups = [timed(stack.up) for _ in range(args.repeat)]
        rows.append(("no-change up (median)", f"{statistics.median(ups):.1f} s"))
        reconfigures = []
        for i in range(args.repeat):
            changed = stack_with_config(STACK, Path(state), stack_config(memcached_max_memory=str(128 + i)))
            reconfigures.append(timed(changed.up))
        rows.append(("one-service reconfigure, up (median)", f"{statistics.median(reconfigures):.1f} s"))
        stack.destroy()

    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
