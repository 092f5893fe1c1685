"""Importing a kolla-ansible deployment: globals.yml, an INI inventory and passwords.yml to our stack config.

The example-file tests run on kolla-ansible's own examples, from the wheel on PyPI (tests/kolla_examples.py):
every key or inventory item is either mapped or reported, and the mapped config passes
resolve_stack_config once the placeholders the report asks for are filled in.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config.globals import SETTINGS
from components.config.inventory import NODE_GROUPS, SERVICE_GROUP_PARENTS
from components.config.passwords import SSH_KEYS
from components.config.stack import resolve_stack_config
from components.operate.kolla_import import (
    GENPWD,
    expand_host_pattern,
    import_kolla,
    import_kolla_data,
    map_globals,
    map_inventory,
    map_passwords,
    parse_ansible_ini,
    read_passwords_yml,
)
from components.render import CustomConfig
from tests.kolla_examples import commented_keys, example_files, uncomment_globals

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKeyForTests"
PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n"


def reported(unmapped: list[str], section: str) -> dict[str, str]:
    """`<section>.<key>: reason` lines as {key: reason} (the key is the rest of the dotted path)."""
    out: dict[str, str] = {}
    for line in unmapped:
        if match := re.match(rf"{re.escape(section)}\.([^: ]+): (.*)", line):
            out[match.group(1)] = match.group(2)
    return out


def load(text: str) -> dict[str, Any]:
    return yaml.safe_load(text) or {}


# ------------------------------------------------------------------------------------ unit: parsing


def test_host_ranges_expand_like_ansible() -> None:
    assert expand_host_pattern("control[01:03]") == ["control01", "control02", "control03"]
    assert expand_host_pattern("node[8:10]") == ["node8", "node9", "node10"]
    assert expand_host_pattern("web[a:c].lan") == ["weba.lan", "webb.lan", "webc.lan"]
    assert expand_host_pattern("r[1:2]c[1:5:4]") == ["r1c1", "r1c5", "r2c1", "r2c5"]
    assert expand_host_pattern("plain") == ["plain"]
    with pytest.raises(ValueError):
        expand_host_pattern("bad[1:b]")


def test_ini_parser_reads_hosts_children_vars_and_reports_bad_lines() -> None:
    inv = parse_ansible_ini(
        "top1\n"
        "[control]\n"
        "c[1:2] ansible_user=kolla  # a comment\n"
        "c3:2222 ansible_host='10.0.0.3'\n"
        "[group2:children]\ncontrol\n"
        "[group2:vars]\nansible_user = ops\n"
        "[broken:what]\n"
        "[control]\n"
        "c4 novalue\n"
    )
    assert inv.groups["ungrouped"] == ["top1"]
    assert inv.groups["control"] == ["c1", "c2", "c3"]
    assert inv.hosts["c1"] == {"ansible_user": "kolla"}
    assert inv.hosts["c3"] == {"ansible_port": "2222", "ansible_host": "10.0.0.3"}
    assert inv.members("group2") == ["c1", "c2", "c3"]
    assert inv.group_vars["group2"] == {"ansible_user": "ops"}
    assert inv.effective_vars("c1")["ansible_user"] == ("kolla", "its host line")
    assert inv.effective_vars("c3")["ansible_user"] == ("ops", "[group2:vars]")
    assert [p.split(":")[0] for p in inv.problems] == ["inventory line 9", "inventory line 11"]


# ------------------------------------------------------------------------------------ unit: globals


def test_globals_are_coerced_checked_or_reported_with_a_reason() -> None:
    data = load(
        """
        enable_heat: "no"
        openstack_logging_debug: "yes"
        keepalived_virtual_router_id: "51"
        enable_cinder: yes
        enable_grafana: no
        enable_neutron_dvr: yes
        enable_neutron_qos: no
        kola_base_distro: ubuntu
        kolla_internal_fqdn: "{{ kolla_internal_vip_address }}"
        docker_registry:
        openstack_release: "2023.1"
        kolla_max_fail_percentage: 50
        kolla_container_engine: podman
        network_interface: "bond0"
        """.replace("\n        ", "\n")
    )
    mapped, unmapped = map_globals(data)
    assert mapped == {
        "enable_heat": False,
        "openstack_logging_debug": True,
        "keepalived_virtual_router_id": 51,
        "enable_grafana": False,
        "docker_registry": "",
        "network_interface": "bond0",
    }
    why = reported(unmapped, "globals")
    assert set(why) == set(data) - set(mapped) | {"kolla_internal_vip_address"}
    assert "does not deploy yet" in why["enable_cinder"]
    assert "does not deploy yet" in why["enable_neutron_dvr"]
    assert "off here" in why["enable_neutron_qos"]
    assert "a typo of 'kolla_base_distro'" in why["kola_base_distro"]
    assert "Jinja expression" in why["kolla_internal_fqdn"]
    assert "value not accepted" in why["openstack_release"] and "2025.1" in why["openstack_release"]
    assert "Ansible-only" in why["kolla_max_fail_percentage"]
    assert "Docker only" in why["kolla_container_engine"]
    assert "required" in why["kolla_internal_vip_address"]


def test_ansible_tags_unsafe_is_literal_and_vault_is_reported(tmp_path: Path) -> None:
    (tmp_path / "globals.yml").write_text(
        "kolla_internal_vip_address: 10.0.0.250\n"
        "openstack_region_name: !unsafe '{{ literally }}'\n"
        "keystone_admin_project: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n"
    )
    (tmp_path / "inventory").write_text("[control]\n10.0.0.1\n")
    (tmp_path / "passwords.yml").write_text("$ANSIBLE_VAULT;1.1;AES256\n616263\n")
    with pytest.raises(ValueError, match="ansible-vault"):
        import_kolla(tmp_path / "globals.yml", tmp_path / "inventory", tmp_path / "passwords.yml")
    (tmp_path / "passwords.yml").write_text("database_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n")
    with pytest.raises(ValueError, match=r"encrypted values \(database_password\)"):
        read_passwords_yml(tmp_path / "passwords.yml")
    (tmp_path / "passwords.yml").write_text("database_password: x\n")
    result = import_kolla(tmp_path / "globals.yml", tmp_path / "inventory", tmp_path / "passwords.yml")
    assert result.config["globals"] == {
        "kolla_internal_vip_address": "10.0.0.250",
        "openstack_region_name": "{{ literally }}",
    }
    assert "ansible-vault" in reported(result.unmapped, "globals")["keystone_admin_project"]
    assert result.config["passwords"] == {"database_password": "x"}
    assert result.config["inventory"]["hosts"] == {"10.0.0.1": {"address": "10.0.0.1"}}


# ---------------------------------------------------------------------------------- unit: inventory

INVENTORY = """
[control]
ctl[01:02] ansible_user=admin
[control:vars]
ansible_ssh_private_key_file=/keys/ctl
neutron_external_interface=eth2
[network]
10.0.0.21:2222
[compute]
cmp01 ansible_host=10.0.0.31 api_interface=em1
[storage:children]
compute
[all:vars]
ansible_user=kolla
[glance:children]
network
[heat]
ctl02
[neutron-server:children]
control
[cinder:children]
control
[deployment]
localhost ansible_connection=local
"""


def test_inventory_connection_variables_groups_and_reports() -> None:
    inventory, unmapped = map_inventory(INVENTORY)
    assert inventory["hosts"] == {
        "ctl01": {"user": "admin", "private_key_file": "/keys/ctl"},
        "ctl02": {"user": "admin", "private_key_file": "/keys/ctl"},
        "10.0.0.21": {"port": 2222, "user": "kolla", "address": "10.0.0.21"},
        "cmp01": {"user": "kolla", "address": "10.0.0.31"},
    }
    # Node groups as listed (storage through its children); service groups only where they differ.
    assert inventory["groups"] == {
        "control": ["ctl01", "ctl02"],
        "network": ["10.0.0.21"],
        "compute": ["cmp01"],
        "storage": ["cmp01"],
        "glance": ["10.0.0.21"],
        "heat": ["ctl02"],
    }
    hosts, groups = reported(unmapped, "inventory.hosts"), reported(unmapped, "inventory.groups")
    assert "not an IP address" in hosts["ctl01.address"] and "10.0.0.21.address" not in hosts
    assert "ssh-keyscan -t ed25519 -p 2222 10.0.0.21 > 10.0.0.21.pub" in hosts["10.0.0.21.host_key_file"]
    assert "ssh-keyscan -t ed25519 10.0.0.31 > cmp01.pub" in hosts["cmp01.host_key_file"]
    assert all(f"{h}.host_key_file" in hosts for h in inventory["hosts"])
    assert "set private_key_file" in hosts["cmp01.private_key_file"] and "ctl01.private_key_file" not in hosts
    assert "api_address" in hosts["cmp01.api_interface"]
    assert "only in groups kolla-pulumi does not use (deployment)" in hosts["localhost"]
    assert "globals" in groups["control.vars.neutron_external_interface"]
    assert not any(k.endswith("ansible_user") or k.endswith("private_key_file") for k in groups)
    assert "does not use" in groups["cinder"] and "deployment" in groups
    assert "not in the inventory" in groups["mariadb"]
    assert "neutron-server" not in groups and "neutron-openvswitch-agent" not in groups


def test_local_connection_maps_to_loopback_and_asks_for_a_real_address() -> None:
    inventory, unmapped = map_inventory("[control]\nlocalhost ansible_connection=local\n")
    assert inventory["hosts"] == {"localhost": {"address": "127.0.0.1"}}
    hosts = reported(unmapped, "inventory.hosts")
    assert "127.0.0.1 as a placeholder" in hosts["localhost.address"] and "real address" in hosts["localhost.address"]
    assert "ssh-keyscan -t ed25519 <address> > localhost.pub" in hosts["localhost.host_key_file"]


# ---------------------------------------------------------------------------------- unit: passwords


def test_passwords_yml_values_pairs_and_empties(tmp_path: Path) -> None:
    path = tmp_path / "passwords.yml"
    path.write_text(
        "database_password: s3cret\n"
        "keystone_admin_password: 12345\n"
        "rabbitmq_password: ''\n"
        "heat_keystone_password:\n"
        "docker_registry_password:\n"
        "nova_ssh_key:\n  private_key: PRIV\n  public_key: ssh-rsa AAA\n"
        "kolla_ssh_key:\n  private_key: PRIV\n  public_key:\n"
        "haproxy_ssh_key:\n  private_key:\n  public_key:\n"
        "my_own_password: x\n"
    )
    values = read_passwords_yml(path)
    assert values == {
        "database_password": "s3cret",
        "keystone_admin_password": "12345",
        "rabbitmq_password": None,
        "heat_keystone_password": None,
        "docker_registry_password": None,
        "nova_ssh_key": {"private_key": "PRIV", "public_key": "ssh-rsa AAA"},
        "kolla_ssh_key": {"private_key": "PRIV", "public_key": None},
        "haproxy_ssh_key": None,
        "my_own_password": "x",
    }
    mapped, unmapped = map_passwords(values)
    assert mapped == {
        "database_password": "s3cret",
        "keystone_admin_password": "12345",
        "nova_ssh_key": {"private_key": "PRIV", "public_key": "ssh-rsa AAA"},
    }
    why = reported(unmapped, "passwords")
    assert set(why) == set(values) - set(mapped)
    for key in ("rabbitmq_password", "heat_keystone_password", "haproxy_ssh_key"):
        assert why[key] == f"empty: to be generated by {GENPWD}"
    assert "incomplete key pair" in why["kolla_ssh_key"]
    assert "left unset" in why["docker_registry_password"]
    assert "unknown to kolla-pulumi" in why["my_own_password"]
    assert not any("s3cret" in line or "PRIV" in line for line in unmapped)


# --------------------------------------------------------------------------- kolla-ansible's examples


@pytest.fixture(scope="module")
def examples() -> dict[str, str]:
    return example_files()


@pytest.fixture(scope="module")
def example_passwords(examples: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("kolla") / "passwords.yml"
    path.write_text(examples["passwords.yml"])
    return read_passwords_yml(path)


def test_example_globals_active_keys_are_mapped_or_reported(examples: dict[str, str]) -> None:
    data = load(examples["globals.yml"])
    assert set(data) == {"workaround_ansible_issue_8743"}  # the example's only active key
    mapped, unmapped = map_globals(data)
    why = reported(unmapped, "globals")
    assert mapped == {}
    assert "Ansible-only" in why["workaround_ansible_issue_8743"]
    assert set(why) == set(data) | {"kolla_internal_vip_address"}


def test_every_example_globals_key_is_mapped_or_reported(examples: dict[str, str]) -> None:
    keys = commented_keys(examples["globals.yml"])
    data = load(uncomment_globals(examples["globals.yml"]))
    assert set(data) == set(keys) | {"workaround_ansible_issue_8743"} and len(keys) > 300
    mapped, unmapped = map_globals(data)
    why = reported(unmapped, "globals")
    assert set(mapped) | set(why) == set(data)
    assert not set(mapped) & set(why)
    assert len(unmapped) == len(why)  # one line per key
    # Ansible's strings become our types; Jinja defaults are left for kolla-pulumi to derive.
    assert mapped["keepalived_virtual_router_id"] == 51
    assert mapped["openstack_logging_debug"] is False
    assert mapped["kolla_internal_vip_address"] == "10.10.10.254"
    assert mapped["enable_cinder"] is False and mapped["enable_haproxy"] is True
    for key in ("openstack_tag", "kolla_internal_fqdn", "api_interface", "enable_glance", "enable_opensearch"):
        assert "Jinja expression" in why[key], key
    assert "value not accepted" in why["openstack_release"]  # the example is a newer series than we render
    # Every key kolla-pulumi declares is mapped unless its value is a Jinja expression or refused.
    for key in set(data) & set(SETTINGS) - set(mapped):
        assert "Jinja expression" in why[key] or "value not accepted" in why[key], key


def test_all_in_one_inventory(examples: dict[str, str]) -> None:
    inventory, unmapped = map_inventory(examples["all-in-one"])
    assert inventory["hosts"] == {"localhost": {"address": "127.0.0.1"}}
    assert inventory["groups"] == {group: ["localhost"] for group in NODE_GROUPS}
    hosts = reported(unmapped, "inventory.hosts")
    assert "real address" in hosts["localhost.address"]
    assert "ssh-keyscan" in hosts["localhost.host_key_file"]
    _assert_groups_accounted(examples["all-in-one"], inventory, unmapped)


def test_multinode_inventory(examples: dict[str, str]) -> None:
    inventory, unmapped = map_inventory(examples["multinode"])
    assert inventory["groups"] == {
        "control": ["control01", "control02", "control03"],
        "network": ["network01", "network02"],
        "compute": ["compute01"],
        "storage": ["storage01"],
        "monitoring": ["monitoring01"],
    }  # every service group we know matches what we derive from these, so none is repeated
    assert set(inventory["hosts"]) == {h for members in inventory["groups"].values() for h in members}
    hosts = reported(unmapped, "inventory.hosts")
    assert "not an IP address" in hosts["control01.address"]
    assert "only in groups kolla-pulumi does not use" in hosts["localhost"]
    assert {k for k in hosts if k.endswith(".host_key_file")} == {f"{h}.host_key_file" for h in inventory["hosts"]}
    _assert_groups_accounted(examples["multinode"], inventory, unmapped)


def _assert_groups_accounted(text: str, inventory: dict[str, Any], unmapped: list[str]) -> None:
    """Each group of the file is a node group, a service group we know (kept or dropped), or reported."""
    in_file = set(parse_ansible_ini(text).groups) - {"ungrouped"}
    groups = reported(unmapped, "inventory.groups")
    known = set(NODE_GROUPS) | set(SERVICE_GROUP_PARENTS) | {"kolla_logs", "kolla_toolbox"}
    assert in_file - known == set(groups) & in_file
    assert len(in_file - known) > 100  # the services kolla-pulumi does not deploy
    for group in in_file & known:
        assert group not in groups


def test_example_passwords_are_all_to_be_generated(example_passwords: dict[str, Any]) -> None:
    assert len(example_passwords) > 100 and set(example_passwords.values()) == {None}
    mapped, unmapped = map_passwords(example_passwords)
    why = reported(unmapped, "passwords")
    assert mapped == {} and set(why) == set(example_passwords)
    assert {k for k, reason in why.items() if reason != f"empty: to be generated by {GENPWD}"} == {
        "docker_registry_password"
    }


def test_filled_example_passwords_are_all_mapped(examples: dict[str, str], tmp_path: Path) -> None:
    data = load(examples["passwords.yml"])
    filled = {k: {"private_key": "PRIV", "public_key": "PUB"} if k in SSH_KEYS else f"v-{k}" for k in data}
    path = tmp_path / "passwords.yml"
    path.write_text(yaml.safe_dump(filled))
    mapped, unmapped = map_passwords(read_passwords_yml(path))
    assert mapped == filled and unmapped == []


def _fill_placeholders(config: dict[str, Any], unmapped: list[str]) -> dict[str, Any]:
    """Do what the report asks a user to do, and nothing else."""
    hosts = config["inventory"]["hosts"]
    for n, path in enumerate(reported(unmapped, "inventory.hosts"), start=11):
        name, _, item = path.rpartition(".")
        if item == "address":
            hosts[name]["address"] = f"10.0.0.{n}"
        elif item == "host_key_file":
            hosts[name]["host_key"] = HOST_KEY
        elif item == "private_key_file":
            hosts[name]["private_key"] = PRIVATE_KEY
    if "kolla_internal_vip_address" in reported(unmapped, "globals"):
        config["globals"]["kolla_internal_vip_address"] = "10.0.0.250"
    for key, reason in reported(unmapped, "passwords").items():
        if "to be generated" in reason:
            config["passwords"][key] = {"private_key": "P", "public_key": "Q"} if key in SSH_KEYS else f"gen-{key}"
    return config


@pytest.mark.parametrize(("globals_kind", "inventory"), [("example", "all-in-one"), ("uncommented", "multinode")])
def test_import_gives_a_valid_stack_config(
    examples: dict[str, str], example_passwords: dict[str, Any], globals_kind: str, inventory: str
) -> None:
    text = examples["globals.yml"] if globals_kind == "example" else uncomment_globals(examples["globals.yml"])
    result = import_kolla_data(load(text), examples[inventory], example_passwords)
    assert set(result.config) == {"globals", "inventory", "passwords"}
    with pytest.raises(ValueError):  # not yet: the report lists what is missing
        resolve_stack_config(result.config, custom=CustomConfig(files={}))
    config = _fill_placeholders(result.config, result.unmapped)
    stack = resolve_stack_config(config, custom=CustomConfig(files={}))
    assert stack.notices == ()
    groups = stack.inventory.groups
    if inventory == "multinode":
        assert groups["loadbalancer"] == groups["network"] == ("network01", "network02")
        assert groups["mariadb"] == groups["control"] and groups["openvswitch"] == (
            "network01",
            "network02",
            "compute01",
        )
        assert stack.globals["docker_namespace"] == "kolla" and stack.globals["keepalived_virtual_router_id"] == 51
    else:
        assert all(groups[g] == ("localhost",) for g in (*NODE_GROUPS, "mariadb", "loadbalancer"))
