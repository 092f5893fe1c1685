"""End to end: the seed's scenario on a control + compute split (h1: control, network; h2: compute).

Deployed first with `nova_compute_virt_type: kvm` on hosts without /dev/kvm (the test-bed hosts have
none): the `up` fails, and its output says which host cannot run kvm guests and what to set. Changed to
`qemu`: the preview replaces exactly h2's nova_compute, the `up` replaces it and no other container
(ids and start times read on the hosts), nova-compute is up and a server boots. Then nothing secret is
found in the state, the engine's logs and outputs, or any container's environment.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from pulumi import automation as auto

from tests.e2e import secret_scan
from tests.e2e.bed import clean_bed
from tests.e2e.cloud import Cloud, compute_config, container_starts

pytestmark = pytest.mark.e2e

STACK = "e2e-compute-split"
GROUPS = {"control": ["h1"], "network": ["h1"], "storage": ["h1"], "monitoring": ["h1"], "compute": ["h2"]}


def _preview(stack: auto.Stack) -> tuple[set[tuple[str, str]], str]:
    """The preview's (operation, resource name) steps other than `same`, and its output."""
    steps: set[tuple[str, str]] = set()

    def on_event(event: auto.EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre and pre.metadata.op.value != "same":
            steps.add((pre.metadata.op.value, pre.metadata.urn.rsplit("::", 1)[-1]))

    result = stack.preview(on_event=on_event)
    return steps, result.stdout


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from testbed.deploy import stack_with_config

    started_at = time.time()
    with clean_bed(2) as hosts:
        state = tmp_path_factory.mktemp("e2e-split-state")
        stack = stack_with_config(STACK, state, compute_config(GROUPS, nova_compute_virt_type="kvm"))
        with pytest.raises(auto.CommandError) as failed:
            stack.up()
        kvm_failure = str(failed.value)
        stack = stack_with_config(STACK, state, compute_config(GROUPS, nova_compute_virt_type="qemu"))
        steps, preview_output = _preview(stack)
        before = {host.name: container_starts(host) for host in hosts}
        up = stack.up()
        after = {host.name: container_starts(host) for host in hosts}
        yield {
            "hosts": hosts,
            "stack": stack,
            "state": state,
            "kvm_failure": kvm_failure,
            "steps": steps,
            "before": before,
            "after": after,
            "up": up,
            "captured": {"kvm-up": kvm_failure, "preview": preview_output, "up": up.stdout + up.stderr},
            "client": Cloud(stack, tmp_path_factory.mktemp("e2e-split-client")),
            "started_at": started_at,
        }


def test_kvm_on_a_host_without_dev_kvm_fails_the_up_saying_why(scenario):
    message = " ".join(scenario["kvm_failure"].split())
    assert "nova_compute_virt_type is kvm, but libvirt on h2 cannot run kvm guests" in message
    assert "'kvm' is not supported" in message  # libvirt's own answer
    assert "h2 has no /dev/kvm" in message and "set nova_compute_virt_type: qemu" in message
    # nova-compute itself was deployed (it starts with kvm, then fails every boot).
    assert "nova_compute" in scenario["before"]["h2"]


def test_the_preview_replaces_exactly_nova_compute_on_h2(scenario):
    replaced = {name for op, name in scenario["steps"] if op in ("replace", "create-replacement")}
    assert replaced == {"h2-nova_compute"}, sorted(scenario["steps"])
    # Besides: its config directory, and the virt_type check that failed, now run.
    assert ("update", "h2-nova-compute-config") in scenario["steps"]
    assert ("create", "h2-nova_libvirt_virt_type") in scenario["steps"]


def test_the_up_replaces_nova_compute_and_no_other_container(scenario):
    assert scenario["up"].summary.result == "succeeded"
    before, after = scenario["before"], scenario["after"]
    changed = {
        f"{host}/{name}"
        for host in before
        for name, started in before[host].items()
        if after[host].get(name) != started
    }
    assert changed == {"h2/nova_compute"}, changed
    assert set(after["h2"]) >= set(before["h2"]) and set(after["h1"]) >= set(before["h1"])


def test_a_token_is_issued_and_the_catalogue_points_at_the_control_host(scenario):
    client = scenario["client"]
    assert client.json("token", "issue")["id"]
    endpoints = client.json("endpoint", "list")
    internal = {e["Service Type"]: e["URL"] for e in endpoints if e["Interface"] == "internal"}
    assert set(internal) == {"identity", "image", "placement", "compute", "network"}, internal
    assert all(url.startswith("http://10.77.0.11:") for url in internal.values()), internal


def test_compute_on_h2_and_the_agents_on_both_hosts_work(scenario):
    client = scenario["client"]
    services = client.compute_services_up({"h2"})
    assert [(s["Host"], s["State"]) for s in services] == [("h2", "up")]
    agents = client.agents_alive({"h1"})
    by_host = {(a["Agent Type"], a["Host"]) for a in agents}
    assert ("Open vSwitch agent", "h2") in by_host and ("Open vSwitch agent", "h1") in by_host
    assert all(a["Alive"] for a in agents), agents


def test_a_server_boots_on_the_compute_host(scenario):
    client = scenario["client"]
    client.prepare_tenant_network(scenario["state"] / "kp.raw")
    server = client.boot("kp-vm")
    assert server["status"] == "ACTIVE", server.get("fault")
    assert server["OS-EXT-SRV-ATTR:host"] == "h2"


def test_nothing_secret_in_state_logs_outputs_or_containers(scenario):
    passwords = secret_scan.stack_passwords(scenario["stack"].get_all_config())
    report = secret_scan.scan_deployment(
        passwords,
        scenario["state"] / "backend",
        scenario["hosts"],
        log_dirs=secret_scan.default_log_dirs(scenario["state"] / "home"),
        captured=scenario["captured"],
        since=scenario["started_at"],
    )
    assert not report.problems(), report.problems()
    assert report.scanned["containers"].sources >= 20, report.scanned
