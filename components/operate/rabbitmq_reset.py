"""kolla-ansible's `rabbitmq-reset-state`, without Pulumi: over the pinned SSH, RabbitMQ's state (its
queues, exchanges and cluster membership) is forced back to a fresh node's, as Kolla's reset-state.yml
does, with the steps the rabbitmq service defines (components/catalogue/rabbitmq.py), each on every
rabbitmq host before the next starts (Ansible's order): `stop_app`, `force_reset`, `start_app` (the
node loads Kolla's definitions.json again: users, vhosts, policies), then each waits until every node
of the cluster is online. Clients reconnect and declare their queues again; messages in flight are
lost, which is what the verb is for.
"""

from __future__ import annotations

from collections.abc import Callable

from components.catalogue.rabbitmq import RESET_STATE_STEPS
from components.config.stack import StackConfig
from components.context import render_string
from components.deployment import DeploymentPlan
from components.operate.ssh import Runner, run_script
from components.operate.verbs import OperateError

CONTAINER = "rabbitmq"


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
    for step, command in RESET_STATE_STEPS:
        for name in hosts:
            script = f"set -eu\n{render_string(command, plan.host_contexts[name])} >/dev/null\n"
            done = runner(config.inventory.hosts[name], script)
            if done.returncode != 0:
                raise OperateError(f"{name}: rabbitmqctl {step} failed: {done.why}")
        log(f"{step}: done on {', '.join(hosts)}")
    return hosts
