"""Bad stack config stops the run with one clear message, before any resource is declared."""

from __future__ import annotations

from typing import Any

import pytest

from components.config import ConfigError
from tests.conftest import host, make_config
from tests.harness import run_program


def _set(path: str, value: Any) -> Any:
    def change(config: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = config
        for part in parents:
            node = node[part]
        if value is _DELETE:
            del node[leaf]
        else:
            node[leaf] = value

    return change


_DELETE = object()

# (case id, change to a valid config, fragments the message must contain)
CASES = [
    (
        "unknown global",
        _set("globals.enable_keystonee", True),
        ["globals.enable_keystonee", "did you mean 'enable_keystone'"],
    ),
    ("bad distro", _set("globals.kolla_base_distro", "arch"), ["globals.kolla_base_distro = 'arch'", "one of"]),
    ("bad release", _set("globals.openstack_release", "2023.1"), ["openstack_release = '2023.1'", "'2025.1'"]),
    (
        "bad vip",
        _set("globals.kolla_internal_vip_address", "10.77.0"),
        ["kolla_internal_vip_address = '10.77.0'", "an IP address"],
    ),
    ("missing vip", _set("globals.kolla_internal_vip_address", _DELETE), ["kolla_internal_vip_address is required"]),
    ("bool type", _set("globals.enable_fluentd", "maybe"), ["enable_fluentd = 'maybe'", "a boolean"]),
    (
        "int type",
        _set("globals.openstack_service_workers", "many"),
        ["openstack_service_workers = 'many'", "an integer"],
    ),
    ("unimplemented service", _set("globals.enable_cinder", True), ["globals.enable_cinder = True", "does not deploy"]),
    ("bad host address", _set("inventory.hosts.h1.address", "not-an-ip"), ["inventory.hosts.h1.address = 'not-an-ip'"]),
    ("bad port", _set("inventory.hosts.h1.port", 70000), ["inventory.hosts.h1.port = 70000", "1 to 65535"]),
    ("no host key", _set("inventory.hosts.h1.host_key", _DELETE), ["inventory.hosts.h1: no host_key", "pinned"]),
    ("bad host key", _set("inventory.hosts.h1.host_key", "AAAA"), ["inventory.hosts.h1.host_key", "ssh-ed25519"]),
    (
        "unknown group member",
        _set("inventory.groups.compute", ["h9"]),
        ["inventory.groups.compute = 'h9'", "a host of inventory.hosts"],
    ),
    (
        "unknown group",
        _set("inventory.groups.computes", ["h1"]),
        ["inventory.groups.computes", "did you mean 'compute'"],
    ),
    ("no control", _set("inventory.groups.control", []), ["inventory.groups.control: at least one host"]),
    (
        "missing password",
        _set("passwords.keystone_database_password", ""),
        ["missing keystone_database_password", "python -m components.genpwd --stack"],
    ),
    (
        "unknown password",
        _set("passwords.keystone_db_password", "x"),
        ["passwords.keystone_db_password", "did you mean"],
    ),
    (
        "vip not a db host",
        _set("globals.kolla_internal_vip_address", "10.77.0.99"),
        ["'10.77.0.99'", "API address of a mariadb host"],
    ),
    ("unknown top-level", _set("global", {}), ["global: unknown stack config key", "did you mean 'globals'"]),
    (
        "unknown host key",
        _set("inventory.hosts.h1.adress", "10.0.0.1"),
        ["inventory.hosts.h1.adress: unknown key", "'address'"],
    ),
]


@pytest.mark.parametrize("change, fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_config_is_rejected_before_any_resource(change, fragments):
    config = make_config()
    change(config)
    with pytest.raises(ConfigError) as raised:
        result = run_program(config)
        # Reaching here means the program declared resources from a bad config.
        pytest.fail(f"accepted; declared {len(result.resources)} resources")
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, message


def test_every_problem_is_reported_at_once():
    config = make_config(kolla_base_distro="arch", enable_fluentd="maybe")
    config["inventory"]["hosts"]["h1"]["port"] = 0
    with pytest.raises(ConfigError) as raised:
        run_program(config)
    assert len(raised.value.problems) == 3, raised.value.problems


def test_plain_text_passwords_are_refused():
    """Passwords not set as secrets would sit unencrypted in Pulumi.<stack>.yaml."""
    with pytest.raises(ConfigError, match="plain text"):
        run_program(make_config(), secret_keys=())


def test_duplicate_hosts_are_refused():
    config = make_config(hosts=2)
    config["inventory"]["hosts"]["h2"] = host("10.77.0.11")
    with pytest.raises(ConfigError, match="same address and port as h1"):
        run_program(config)
