"""Bad stack config stops the run with one clear message, before any resource is declared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.config import ConfigError
from components.config.stack import plain_text_passwords
from tests.conftest import host, make_config
from tests.harness import RecordingMocks, run_program


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
    # What Docker, DNS or the services would refuse later.
    (
        "registry with a scheme",
        _set("globals.docker_registry", "https://registry.example:5000"),
        ["globals.docker_registry = 'https://registry.example:5000'", "no scheme, no path"],
    ),
    (
        "namespace in capitals",
        _set("globals.docker_namespace", "OpenStack.Kolla"),
        ["globals.docker_namespace = 'OpenStack.Kolla'", "lower-case"],
    ),
    (
        "image prefix",
        _set("globals.docker_image_name_prefix", "My-"),
        ["globals.docker_image_name_prefix = 'My-'", "lower-case"],
    ),
    ("tag", _set("globals.openstack_tag", "2025.1 debian"), ["globals.openstack_tag = '2025.1 debian'", "letters"]),
    (
        "fqdn",
        _set("globals.kolla_internal_fqdn", "api_internal..example"),
        ["globals.kolla_internal_fqdn = 'api_internal..example'", "a DNS name"],
    ),
    (
        "port not a number",
        _set("globals.keystone_public_listen_port", "fivethousand"),
        ["globals.keystone_public_listen_port = 'fivethousand'", "a port number from 1 to 65535"],
    ),
    (
        "port out of range",
        _set("globals.keystone_public_listen_port", 65536),
        ["globals.keystone_public_listen_port = '65536'", "a port number from 1 to 65535"],
    ),
    (
        "port claimed twice on a host",
        _set("globals.keystone_public_listen_port", 11211),
        [
            "globals.keystone_public_listen_port = 11211",
            "no other container on h1 listens on",
            "keystone and memcached",
        ],
    ),
    # The shape of every structure.
    ("globals a list", _set("globals", ["enable_keystone"]), ["globals = ['enable_keystone']", "a mapping"]),
    ("inventory a string", _set("inventory", "h1"), ["inventory = 'h1'", "a mapping with `hosts`"]),
    ("groups a list", _set("inventory.groups", ["control"]), ["inventory.groups = ['control']", "a mapping"]),
    ("passwords a list", _set("passwords", ["x"]), ["passwords = '<secret>'", "a mapping"]),
]


@pytest.mark.parametrize("change, fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_config_is_rejected_before_any_resource(change, fragments):
    config = make_config()
    change(config)
    assert_refused(config, fragments)


def assert_refused(config: dict[str, Any], fragments: list[str], custom: Any = None) -> ConfigError:
    """The program refuses `config` with a message holding every fragment, having registered nothing."""
    mocks = RecordingMocks()
    with pytest.raises(ConfigError) as raised:
        result = run_program(config, mocks=mocks)
        # Reaching here means the program declared resources from a bad config.
        pytest.fail(f"accepted; declared {len(result.resources)} resources")
    assert not mocks.resources, f"registered before refusing: {sorted(mocks.resources)}"
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, message
    return raised.value


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


def test_several_mistakes_in_several_sections_are_reported_together():
    config = make_config(docker_registry="http://x", keystone_public_listen_port="0")
    config["inventory"]["hosts"]["h1"]["address"] = "10.77.0"
    config["passwords"]["keystone_admin_password"] = 42
    error = assert_refused(
        config,
        [
            "globals.docker_registry = 'http://x'",
            "globals.keystone_public_listen_port = '0'",
            "inventory.hosts.h1.address = '10.77.0'",
            "passwords.keystone_admin_password = '<secret>': expected a string",
        ],
    )
    assert len(error.problems) >= 4, error.problems


def _with_overrides(tmp_path: Path, files: dict[str, bytes | str]) -> dict[str, Any]:
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return make_config(node_custom_config=str(tmp_path))


def test_operator_files_that_do_not_parse_render_or_read_are_all_named_with_their_line(tmp_path: Path):
    config = _with_overrides(
        tmp_path,
        {
            "keystone.conf": "[DEFAULT]\ndebug = True\n[token\nprovider = fernet\n",
            "keystone/keystone.conf": "[DEFAULT]\n\n# a comment\nlog_dir = {{ no_such_variable }}\n",
            "global.conf": "[DEFAULT]\nx = {% if %}\n",
            "keystone/binary.conf": b"\xff\xfe\x00[DEFAULT]",
        },
    )
    error = assert_refused(
        config,
        [
            f"node_custom_config: {tmp_path}/keystone.conf:3: invalid section header",
            f"node_custom_config: {tmp_path}/keystone/keystone.conf:4: 'no_such_variable' is undefined",
            f"node_custom_config: {tmp_path}/global.conf:2: Expected an expression",
            f"node_custom_config: {tmp_path}/keystone/binary.conf: not UTF-8 text",
        ],
    )
    # One line per file, however many containers read it.
    assert len(error.problems) == len(set(error.problems)), error.problems


def test_a_listener_claimed_twice_on_the_vip_is_refused_before_any_resource():
    config = make_config(enable_haproxy=True, kolla_internal_vip_address="10.77.0.10", keystone_internal_port="3306")
    config["globals"]["enable_mariadb"] = True
    assert_refused(config, ["haproxy:", "mariadb/mariadb and keystone/keystone_internal both bind 10.77.0.10:3306"])


def test_a_password_kept_in_plain_text_in_the_stack_file_is_named(tmp_path: Path):
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text(
        "config:\n"
        "  kolla-pulumi:passwords:\n"
        "    keystone_admin_password:\n"
        "      secure: v1:abc\n"
        "    database_password: hunter2hunter2\n"
        "    nova_ssh_key:\n"
        "      private_key:\n"
        "        secure: v1:def\n"
        "      public_key: ssh-ed25519 AAAA\n"
    )
    assert plain_text_passwords(stack_file, "kolla-pulumi") == [
        "passwords.database_password",
        "passwords.nova_ssh_key.public_key",
    ]


def test_the_offline_plan_reports_a_missing_stack_file_or_a_bad_config_without_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from components import offline_plan

    assert offline_plan.main(["--stack", "no-such-stack"]) == 2
    assert "Pulumi.no-such-stack.yaml cannot be read" in capsys.readouterr().err
    (tmp_path / "Pulumi.broken.yaml").write_text(
        "config:\n  kolla-pulumi:globals: [1, 2]\n  kolla-pulumi:inventory: h1\n  kolla-pulumi:passwords: {}\n"
    )
    monkeypatch.setattr(offline_plan, "ROOT", tmp_path)
    assert offline_plan.main(["--stack", "broken"]) == 2
    err = capsys.readouterr().err
    assert "globals = [1, 2]: expected a mapping" in err and "inventory = 'h1': expected a mapping" in err


def test_the_program_refuses_a_password_kept_in_plain_text_in_its_stack_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check is wired into the program: the stack file beside __main__.py is read."""
    from components.config import stack

    (tmp_path / "Pulumi.test.yaml").write_text(
        "config:\n  kolla-pulumi:passwords:\n    database_password: hunter2hunter2\n"
    )
    monkeypatch.setattr(stack, "PROJECT_ROOT", tmp_path)
    assert_refused(make_config(), ["passwords.database_password: stored in plain text", "--secret"])
