"""The rolling order (components/rollout.py): batches as Kolla's `serial` counts them, one host at a
time by default, the first host last where the service declares it."""

from __future__ import annotations

import pytest

from components.rollout import Rollout, batch_size, rollout_batches


def test_one_host_at_a_time_by_default_in_inventory_order():
    assert rollout_batches(["h1", "h2", "h3"]) == [("h1",), ("h2",), ("h3",)]


def test_a_single_host_is_one_batch():
    assert rollout_batches(["h1"], Rollout(first_host_last=True)) == [("h1",)]


def test_the_first_host_last():
    """Galera: the node that bootstrapped the cluster is replaced after the others."""
    assert rollout_batches(["h1", "h2", "h3"], Rollout(first_host_last=True)) == [("h2",), ("h3",), ("h1",)]


@pytest.mark.parametrize(
    ("batch", "hosts", "size"),
    [("1", 3, 1), ("2", 5, 2), ("33%", 3, 1), ("33%", 10, 3), ("25%", 100, 25), ("100%", 4, 4), ("10%", 3, 1)],
)
def test_batch_size_is_kollas_serial(batch, hosts, size):
    assert batch_size(batch, hosts) == size


def test_batches_cover_every_host_once():
    hosts = [f"c{i}" for i in range(10)]
    batches = rollout_batches([*hosts, "c3"], Rollout(batch="30%"))
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert [h for b in batches for h in b] == hosts


@pytest.mark.parametrize("batch", ["0", "-1", "0%", "150%"])
def test_a_batch_that_replaces_nothing_or_too_much_is_refused(batch):
    with pytest.raises(ValueError, match="rollout batch"):
        batch_size(batch, 3)


def test_compute_only_hosts_go_together_last():
    """Hosts serving no API (compute only) are replaced together: none waits for another."""
    batches = rollout_batches(["c1", "h1", "c2", "h2"], Rollout(), together={"c1", "c2"})
    assert batches == [("h1",), ("h2",), ("c1", "c2")]
    assert rollout_batches(["c1", "c2"], Rollout(), together={"c1", "c2"}) == [("c1", "c2")]
