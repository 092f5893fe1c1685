"""Prechecks' decisions from fake command results, and the ports/roles taken from the plan."""

from __future__ import annotations

from components.config.stack import resolve_stack_config
from components.deployment import plan_deployment
from components.operate.prechecks import (
    FACTS_SCRIPT,
    HostExpectation,
    HostFacts,
    evaluate,
    expectations,
    parse_facts,
    run_prechecks,
)
from components.operate.ssh import Completed, known_hosts_line, ssh_argv
from tests.conftest import make_config

COMPUTE_KVM = HostExpectation("h2", ports={8022: frozenset({"nova_ssh"})}, compute=True, virt_type="kvm")


def facts(**overrides: object) -> HostFacts:
    values: dict[str, object] = {"reachable": True, "docker": "27.5.1", "kvm": True}
    values.update(overrides)
    return HostFacts(**values)  # type: ignore[arg-type]


def verdicts(expect: HostExpectation, host_facts: HostFacts) -> dict[str, bool]:
    return {c.name: c.ok for c in evaluate(expect, host_facts)}


def test_no_kvm_on_a_compute_host_with_virt_type_kvm_proposes_qemu() -> None:
    """The seed's failure: nova-compute set to KVM on a machine without it."""
    checks = evaluate(COMPUTE_KVM, facts(kvm=False))
    kvm = next(c for c in checks if c.name == "kvm")
    assert not kvm.ok and "nova_compute_virt_type: qemu" in kvm.detail


def test_no_kvm_is_fine_with_qemu_or_without_nova_compute() -> None:
    qemu = HostExpectation("h2", compute=True, virt_type="qemu")
    no_nova = HostExpectation("h2", compute=True, virt_type=None)
    assert verdicts(qemu, facts(kvm=False))["kvm"]
    assert verdicts(no_nova, facts(kvm=False))["kvm"]
    assert verdicts(COMPUTE_KVM, facts(kvm=True))["kvm"]


def test_kvm_is_checked_only_on_compute_hosts() -> None:
    control = HostExpectation("h1", compute=False, virt_type=None)
    assert "kvm" not in verdicts(control, facts(kvm=False))


def test_a_port_held_by_another_process_fails_one_held_by_our_container_passes() -> None:
    expect = HostExpectation("h1", ports={5000: frozenset({"keystone"}), 3306: frozenset({"mariadb"})})
    foreign = evaluate(expect, facts(listening=frozenset({5000})))
    ports = next(c for c in foreign if c.name == "ports")
    assert not ports.ok and "5000 (keystone)" in ports.detail and "3306" not in ports.detail
    assert verdicts(expect, facts(listening=frozenset({5000}), running=frozenset({"keystone"})))["ports"]


def test_unreachable_host_fails_only_its_ssh_check() -> None:
    checks = evaluate(COMPUTE_KVM, facts(reachable=False, error="Host key verification failed."))
    assert [(c.name, c.ok, c.detail) for c in checks] == [("ssh", False, "Host key verification failed.")]


def test_docker_not_answering_fails_and_skips_ports() -> None:
    assert verdicts(COMPUTE_KVM, facts(docker="")) == {"ssh": True, "docker": False, "kvm": True}


def test_parse_facts_reads_hex_ports_and_ssh_failures() -> None:
    parsed = parse_facts(Completed(0, "docker=27.5.1\nkvm=no\nrunning=keystone cron \nlistening=0016 1388 \n", ""))
    assert parsed == HostFacts(True, "", "27.5.1", False, frozenset({"keystone", "cron"}), frozenset({22, 5000}))
    down = parse_facts(Completed(255, "", "ssh: connect to host 10.77.0.11 port 22: No route to host\n"))
    assert not down.reachable and "No route to host" in down.error


def test_expectations_come_from_the_plan() -> None:
    config = resolve_stack_config(make_config())
    expect = expectations(config, plan_deployment(config))["h1"]
    assert expect.ports[5000] == {"keystone"} and expect.ports[3306] == {"mariadb"}
    assert expect.ports[11211] == {"memcached"}
    assert expect.compute and expect.virt_type is None  # nova is not enabled in this stack


def test_run_prechecks_sends_the_facts_script_to_each_host() -> None:
    config = resolve_stack_config(make_config(hosts=2))
    seen: list[tuple[str, str]] = []

    def runner(host: object, script: str) -> Completed:
        seen.append((host.name, script))  # type: ignore[attr-defined]
        return Completed(0, "docker=27\nkvm=yes\nrunning=\nlistening=\n", "")

    checks = run_prechecks(config, plan_deployment(config), runner)
    assert seen == [("h1", FACTS_SCRIPT), ("h2", FACTS_SCRIPT)]
    assert all(c.ok for c in checks) and {c.host for c in checks} == {"h1", "h2"}


def test_ssh_pins_the_host_key_as_the_program_does() -> None:
    host = resolve_stack_config(make_config()).inventory.hosts["h1"]
    argv = ssh_argv(host, "/k", "/kh")
    assert "StrictHostKeyChecking=yes" in argv and "UserKnownHostsFile=/kh" in argv and "BatchMode=yes" in argv
    assert not any("StrictHostKeyChecking=no" in a or "accept-new" in a for a in argv)
    assert known_hosts_line(host) == f"10.77.0.11 {host.host_key}\n"
