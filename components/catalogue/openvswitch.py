"""Open vSwitch (Kolla's `openvswitch` role): ovsdb-server and ovs-vswitchd on network and compute hosts,
then the post-config steps: the host's system-id and, where Kolla wants one, the external bridge."""

from __future__ import annotations

import shlex

from components.catalogue.model import Container, Context, ExecJob, Healthcheck, Service
from components.catalogue.volumes import default_volumes

_OVS_VOLUMES = ("/lib/modules:/lib/modules:ro", "/run/openvswitch:/run/openvswitch:shared")

# Kolla's "Waiting for openvswitch_db service to be ready" handler, before each post-config step.
_WAIT_FOR_DB = "for i in $(seq 30); do ovs-vsctl --no-wait show >/dev/null 2>&1 && break; sleep 2; done\n"


def needs_external_bridge(ctx: Context) -> bool:
    """Kolla's post-config condition (and openvswitch_agent.ini's bridge_mappings): network hosts, and
    compute hosts when they need the external bridge (provider networks, DVR)."""
    host = ctx["inventory_hostname"]
    groups = ctx["groups"]
    return host in groups.get("network", ()) or (
        host in groups.get("compute", ()) and bool(ctx["computes_need_external_bridge"])
    )


def external_bridge_commands(ctx: Context) -> str:
    """ovs-vsctl commands for Kolla's openvswitch_bridge + openvswitch_port steps: each bridge of
    neutron_bridge_name (fail mode standalone) and the matching interface of neutron_external_interface
    as its port (extra interfaces without a bridge are left out, as Kolla's with_together would fail on them).
    Idempotent (--may-exist); names are shell-quoted as they come from the stack config."""
    bridges = [b.strip() for b in str(ctx["neutron_bridge_name"]).split(",")]
    ports = [p.strip() for p in str(ctx["neutron_external_interface"]).split(",")]
    datapath = shlex.quote(str(ctx["ovs_datapath"]))
    # The bridge gets the datapath neutron's agent uses (Kolla's openvswitch_bridge leaves OVS's
    # default, system): the agent does not change an existing bridge's, and a system bridge on a host
    # running the userspace datapath (ovs_datapath: netdev) has no datapath_id, which stops the agent.
    lines = [
        f"ovs-vsctl -t 30 -- --may-exist add-br {q} -- set-fail-mode {q} standalone"
        f" -- set Bridge {q} datapath_type={datapath}"
        for q in map(shlex.quote, bridges)
    ]
    lines += [
        f"ovs-vsctl -t 30 -- --may-exist add-port {shlex.quote(b)} {shlex.quote(p)}"
        for b, p in zip(bridges, ports, strict=False)
    ]
    return "\n".join(lines)


def _ovs_container(key: str, name: str, command: str, test: str, *extra: str, privileged: bool = False) -> Container:
    return Container(
        key=key,
        container_name=name,
        image=key,
        group="openvswitch",
        command=command,
        volumes=default_volumes(key, *_OVS_VOLUMES, *extra),
        privileged=privileged,
        healthcheck=Healthcheck(test),
    )


SERVICE = Service(
    name="openvswitch",
    enable_flag="enable_openvswitch",
    depends_on=("common",),
    variables={
        # group_vars that neutron reads too (neutron comes later in SERVICES).
        "ovsdb_port": "6640",
        # Kolla's is netdev with enable_ovs_dpdk (ovs-dpdk is not deployed here); netdev is OVS's
        # userspace datapath, for hosts without the openvswitch kernel module.
        "ovs_datapath": "system",
        "neutron_bridge_name": "br-ex",
        # Kolla derives it from DVR, provider networks and OVN distributed FIPs (none deployed here);
        # set it to true for provider networks on compute hosts.
        "computes_need_external_bridge": False,
        "openvswitch_external_bridge_commands": external_bridge_commands,
    },
    named_volumes=("openvswitch_db",),
    containers=(
        _ovs_container(
            "openvswitch-db-server",
            "openvswitch_db",
            "ovs_wrapper ovsdb-server /var/lib/openvswitch/conf.db -vconsole:emer -vsyslog:err -vfile:info "
            "--remote=punix:/run/openvswitch/db.sock --remote=ptcp:{{ ovsdb_port }}:127.0.0.1 "
            "--remote=db:Open_vSwitch,Open_vSwitch,manager_options "
            "--log-file=/var/log/kolla/openvswitch/ovsdb-server.log --pidfile",
            "ovsdb-client list-dbs",
            "openvswitch_db:/var/lib/openvswitch/",
        ),
        _ovs_container(
            "openvswitch-vswitchd",
            "openvswitch_vswitchd",
            "ovs_wrapper ovs-vswitchd unix:/run/openvswitch/db.sock -vconsole:emer -vsyslog:err -vfile:info "
            "--mlockall --log-file=/var/log/kolla/openvswitch/ovs-vswitchd.log --pidfile",
            "ovs-appctl version",
            privileged=True,
        ),
    ),
    jobs=(
        # Kolla's post-config "Set system-id, hostname and hw-offload" (hw-offload stays off, its default;
        # the hostname is the inventory's, as Kolla's fqdn fact is not gathered).
        ExecJob(
            name="openvswitch_system_id",
            container_key="openvswitch-vswitchd",
            all_hosts=True,
            script=_WAIT_FOR_DB + "ovs-vsctl -t 30 set Open_vSwitch . external_ids:system-id={{ hostname }} "
            "external_ids:hostname={{ hostname }} -- remove Open_vSwitch . other_config hw-offload",
        ),
        # Kolla's "Ensuring OVS bridge/ports are properly setup": only where Kolla sets the bridge up.
        ExecJob(
            name="openvswitch_external_bridge",
            container_key="openvswitch-vswitchd",
            all_hosts=True,
            when=needs_external_bridge,
            script="set -e\n" + _WAIT_FOR_DB + "{{ openvswitch_external_bridge_commands }}",
        ),
    ),
)
