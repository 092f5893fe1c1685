"""kolla-ansible's init-runonce, made idempotent: the demo image, networks, router, security-group
rules, keypair, quotas and flavors, each created only when missing.

Sent to kolla_toolbox by `kolla-pulumi init-runonce` (components/operate/init_runonce.py), run by the
python that has openstacksdk. stdin: one line of JSON parameters ("auth", "region", "interface",
"steps": the steps to run, in Kolla's order, and each step's settings), then, when "image_size" is
above 0, that many bytes of the image file. stdout: one JSON object per line, {"kind", "name",
"done"}, "done" one of created, exists, set, unchanged, missing (the image, when no bytes were sent),
or "differs: ..." (found, but not as init-runonce would make it; left alone).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

Report = dict[str, str]


def report(kind: str, name: str, done: str) -> Report:
    return {"kind": kind, "name": name, "done": done}


def _found_or_created(kind: str, name: str, find: Callable[[], Any], create: Callable[[], Any]) -> tuple[Any, Report]:
    found = find()
    if found is not None:
        return found, report(kind, name, "exists")
    return create(), report(kind, name, "created")


def image_step(conn: Any, p: dict[str, Any], data: BinaryIO) -> Iterator[Report]:
    name = p["image"]["name"]
    if conn.image.find_image(name) is not None:
        yield report("image", name, "exists")
        return
    size = int(p.get("image_size") or 0)
    if not size:
        yield report("image", name, "missing")
        return
    with tempfile.NamedTemporaryFile(prefix="init-runonce-", suffix=".img") as handle:
        left = size
        while left:
            chunk = data.read(min(left, 1 << 20))
            if not chunk:
                raise SystemExit(f"the image's bytes ended after {size - left} of {size}")
            handle.write(chunk)
            left -= len(chunk)
        handle.flush()
        conn.image.create_image(
            name=name,
            filename=handle.name,
            disk_format=p["image"]["disk_format"],
            container_format="bare",
            visibility="public",
            meta={"os_type": p["image"]["type"]},
            wait=True,
        )
    yield report("image", name, "created")


def _subnet_settings(net: dict[str, Any], ip_version: int) -> dict[str, Any]:
    settings: dict[str, Any] = {"ip_version": ip_version, "cidr": net["cidr"], "gateway_ip": net["gateway"]}
    if ip_version == 6:
        # Neutron's default for IPv6 is external addressing; Kolla asks for stateful DHCPv6 on the demo net.
        settings.update(ipv6_ra_mode="dhcpv6-stateful", ipv6_address_mode="dhcpv6-stateful")
    return settings


def network_step(conn: Any, p: dict[str, Any]) -> Iterator[Report]:
    net = conn.network
    ip_version = int(p["ip_version"])
    demo = p["demo_net"]
    router, done = _found_or_created(
        "router", "demo-router", lambda: net.find_router("demo-router"), lambda: net.create_router(name="demo-router")
    )
    yield done
    network, done = _found_or_created(
        "network", "demo-net", lambda: net.find_network("demo-net"), lambda: net.create_network(name="demo-net")
    )
    yield done
    settings = {**_subnet_settings(demo, ip_version), "dns_nameservers": [demo["dns"]]}
    subnet, done = _found_or_created(
        "subnet",
        "demo-subnet",
        lambda: net.find_subnet("demo-subnet", network_id=network.id),
        lambda: net.create_subnet(name="demo-subnet", network_id=network.id, **settings),
    )
    yield done
    attached = any(
        any(ip.get("subnet_id") == subnet.id for ip in port.fixed_ips or []) for port in net.ports(device_id=router.id)
    )
    if attached:
        yield report("router interface", "demo-router:demo-subnet", "exists")
    else:
        net.add_interface_to_router(router, subnet_id=subnet.id)
        yield report("router interface", "demo-router:demo-subnet", "created")
    if not p["ext_net"]["enabled"]:
        return
    ext = p["ext_net"]
    public, done = _found_or_created(
        "network",
        "public1",
        lambda: net.find_network("public1"),
        lambda: net.create_network(
            name="public1",
            is_router_external=True,
            provider_physical_network="physnet1",
            provider_network_type="flat",
        ),
    )
    yield done
    start, end = ext["range"]
    public_subnet, done = _found_or_created(
        "subnet",
        "public1-subnet",
        lambda: net.find_subnet("public1-subnet", network_id=public.id),
        lambda: net.create_subnet(
            name="public1-subnet",
            network_id=public.id,
            is_dhcp_enabled=False,
            allocation_pools=[{"start": start, "end": end}],
            ip_version=ip_version,
            cidr=ext["cidr"],
            gateway_ip=ext["gateway"],
        ),
    )
    yield done
    gateway = dict(router.external_gateway_info or {})
    if gateway.get("network_id") == public.id:
        yield report("router gateway", "demo-router:public1", "exists")
    elif gateway:
        yield report("router gateway", "demo-router", f"differs: its gateway is network {gateway.get('network_id')}")
    else:
        info: dict[str, Any] = {"network_id": public.id}
        if ip_version == 6:
            # No NAT for IPv6: Kolla routes to the demo net through a fixed router address.
            info["external_fixed_ips"] = [{"subnet_id": public_subnet.id, "ip_address": ext["demo_router_address"]}]
        net.update_router(router, external_gateway_info=info)
        yield report("router gateway", "demo-router:public1", "created")


# Kolla's rules on the admin project's default security group: ping, ssh, and heat-cfn's ports.
RULES = (("icmp", None), ("tcp", 22), ("tcp", 8000), ("tcp", 8080))


def _rule_matches(rule: Any, ethertype: str, protocol: str, port: int | None) -> bool:
    return (
        rule.direction == "ingress"
        and rule.ether_type == ethertype
        and rule.protocol == protocol
        and rule.port_range_min == port
        and rule.port_range_max == port
        and rule.remote_ip_prefix in (None, "0.0.0.0/0", "::/0")
        and rule.remote_group_id is None
    )


def security_group_step(conn: Any, p: dict[str, Any]) -> Iterator[Report]:
    project_id = conn.current_project_id
    groups = list(conn.network.security_groups(project_id=project_id, name="default"))
    if not groups:
        raise SystemExit(f"project {project_id} has no `default` security group")
    group = groups[0]
    ethertype = f"IPv{int(p['ip_version'])}"
    rules = list(conn.network.security_group_rules(security_group_id=group.id))
    for protocol, port in RULES:
        name = f"default: ingress {ethertype} {protocol}" + (f" {port}" if port else "")
        if any(_rule_matches(rule, ethertype, protocol, port) for rule in rules):
            yield report("security group rule", name, "exists")
            continue
        conn.network.create_security_group_rule(
            security_group_id=group.id,
            direction="ingress",
            ether_type=ethertype,
            protocol=protocol,
            port_range_min=port,
            port_range_max=port,
        )
        yield report("security group rule", name, "created")


def keypair_step(conn: Any, p: dict[str, Any]) -> Iterator[Report]:
    name, key = p["keypair"]["name"], p["keypair"]["public_key"].strip()
    found = conn.compute.find_keypair(name)
    if found is None:
        conn.compute.create_keypair(name=name, public_key=key)
        yield report("keypair", name, "created")
    elif found.public_key.split()[:2] == key.split()[:2]:
        yield report("keypair", name, "exists")
    else:
        yield report("keypair", name, "differs: it holds another public key")


def quota_step(conn: Any, p: dict[str, Any]) -> Iterator[Report]:
    project_id = conn.current_project_id
    wanted = {key: int(value) for key, value in p["quotas"].items()}
    current = conn.compute.get_quota_set(project_id)
    changed = {key: value for key, value in wanted.items() if getattr(current, key) != value}
    if changed:
        conn.compute.update_quota_set(project_id, **changed)
    name = ", ".join(f"{key} {value}" for key, value in sorted(wanted.items()))
    yield report("compute quota", name, "set" if changed else "unchanged")


def flavor_step(conn: Any, p: dict[str, Any]) -> Iterator[Report]:
    for flavor in p["flavors"]:
        if conn.compute.find_flavor(flavor["name"]) is not None:
            yield report("flavor", flavor["name"], "exists")
            continue
        taken = conn.compute.find_flavor(flavor["id"])
        if taken is not None:
            yield report("flavor", flavor["name"], f"differs: id {flavor['id']} is flavor {taken.name}")
            continue
        conn.compute.create_flavor(
            id=flavor["id"], name=flavor["name"], ram=flavor["ram"], disk=flavor["disk"], vcpus=flavor["vcpus"]
        )
        yield report("flavor", flavor["name"], "created")


STEPS: dict[str, Callable[..., Iterator[Report]]] = {
    "image": image_step,
    "network": network_step,
    "security_group": security_group_step,
    "keypair": keypair_step,
    "quota": quota_step,
    "flavor": flavor_step,
}


def run(conn: Any, p: dict[str, Any], data: BinaryIO) -> Iterator[Report]:
    for step in p["steps"]:
        if step == "image":
            yield from image_step(conn, p, data)
        else:
            yield from STEPS[step](conn, p)


def connect(p: dict[str, Any]) -> Any:
    import openstack

    deadline = time.time() + int(p.get("timeout", 60))
    while True:
        try:
            conn = openstack.connect(auth=p["auth"], region_name=p["region"], interface=p["interface"])
            conn.authorize()
            return conn
        except Exception as exc:  # keystone restarting: retried until the deadline
            if time.time() > deadline:
                raise SystemExit(f"keystone not reachable at {p['auth']['auth_url']}: {exc}") from exc
            time.sleep(3)


def main() -> None:
    data = sys.stdin.buffer
    p = json.loads(data.readline())
    conn = connect(p)
    for line in run(conn, p, data):
        print(json.dumps(line, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
