"""kolla-ansible's `rabbitmq-reset-state`, without Pulumi: over the pinned SSH, RabbitMQ's state (its
queues, exchanges and cluster membership) is forced back to a fresh node's, as Kolla's reset-state.yml
does. Each step runs on every rabbitmq host before the next starts (Ansible's order): `stop_app`, then
`force_reset`, then `start_app` (the node loads Kolla's definitions.json again: users, vhosts,
policies), then each waits until every node of the cluster is online. Clients reconnect and declare
their queues again; messages in flight are lost, which is what the verb is for.
"""

from __future__ import annotations

from collections.abc import Callable

from components.config.stack import StackConfig
from components.deployment import DeploymentPlan
from components.operate.ssh import Runner, run_script
from components.operate.verbs import OperateError

CONTAINER = "rabbitmq"


def steps(nodes: int) -> list[tuple[str, str]]:
    return [
        ("stop_app", "docker exec rabbitmq rabbitmqctl stop_app"),
        ("force_reset", "docker exec rabbitmq rabbitmqctl force_reset"),
        ("start_app", "docker exec rabbitmq rabbitmqctl start_app"),
        ("await_online_nodes", f"docker exec rabbitmq rabbitmqctl await_online_nodes {nodes} --timeout 300000"),
    ]


def rabbitmq_hosts(plan: DeploymentPlan) -> list[str]:
    hosts = [c.host for c in plan.placed(CONTAINER)]
    if not hosts:
        raise OperateError("no host runs rabbitmq in this stack")
    return hosts


def reset_state(
    config: StackConfig, plan: DeploymentPlan, *, runner: Runner | None = None, log: Callable[[str], None] = print
) -> list[str]:
    """Run the steps; the hosts reset."""
    runner = runner or (lambda host, script: run_script(host, script, timeout=600))
    hosts = rabbitmq_hosts(plan)
    for step, command in steps(len(hosts)):
        for name in hosts:
            done = runner(config.inventory.hosts[name], f"set -eu\n{command} >/dev/null\n")
            if done.returncode != 0:
                raise OperateError(f"{name}: rabbitmqctl {step} failed: {done.why}")
        log(f"{step}: done on {', '.join(hosts)}")
    return hosts
