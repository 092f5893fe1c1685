"""How a service's containers are replaced across hosts: the order, as one pure function.

When a change replaces a service's containers on several hosts, Pulumi would replace them all at once:
an outage of exactly what several hosts exist for. Instead each service rolls, as its catalogue entry
declares (`Service.rollout`): its hosts in batches (one host at a time by default, or Kolla's `serial`
percentage), and the containers of a batch are replaced only once the previous batch serves again
(its containers healthy, its load-balancer backends back up). Unaffected hosts are untouched: their
step in the chain is a no-op.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

from components.catalogue.model import Rollout

ONE_AT_A_TIME = Rollout()


def batch_size(batch: str, hosts: int) -> int:
    """Kolla's `serial` for `hosts` hosts: a count, or a percentage rounded down; never below one."""
    text = str(batch).strip()
    if text.endswith("%"):
        share = float(text[:-1])
        if not 0 < share <= 100:
            raise ValueError(f"rollout batch {batch!r}: a percentage must be above 0 and at most 100")
        return max(1, math.floor(hosts * share / 100))
    count = int(text)
    if count < 1:
        raise ValueError(f"rollout batch {batch!r}: at least one host at a time")
    return count


def rollout_batches(
    hosts: Sequence[str], rollout: Rollout = ONE_AT_A_TIME, together: Collection[str] = ()
) -> list[tuple[str, ...]]:
    """The service's hosts (in inventory order) in the batches they are replaced in, first to last;
    the hosts in `together` (in none but the rollout's `together` node groups) form the last batch."""
    last = tuple(h for h in dict.fromkeys(hosts) if h in together)
    ordered = [h for h in dict.fromkeys(hosts) if h not in together]
    if rollout.first_host_last and len(ordered) > 1:
        ordered = [*ordered[1:], ordered[0]]
    size = batch_size(rollout.batch, len(ordered)) if ordered else 1
    batches = [tuple(ordered[i : i + size]) for i in range(0, len(ordered), size)]
    return [*batches, last] if last else batches
