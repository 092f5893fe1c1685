"""Rendered files against what kolla-ansible renders for the same globals, and the pure helpers."""

from __future__ import annotations

import json

import pytest

from components.catalogue.keystone import fernet_cron_jobs
from components.config.passwords import SSH_KEYS, generate_value, genpwd
from components.context import put_address_in_context
from components.ini_merge import IniError, merge
from components.render import NO_OVERRIDES, CustomConfig
from tests.conftest import make_config, plan_of, rendered_files


def _files(config, host="h1", key="keystone", custom=NO_OVERRIDES):
    return rendered_files(plan_of(config, custom), host, key)


def test_keystone_conf_has_kollas_values():
    config = make_config()
    pw = config["passwords"]
    conf = _files(config)["keystone.conf"]
    assert (
        f"connection = mysql+pymysql://keystone:{pw['keystone_database_password']}@10.77.0.11:3306/keystone\n" in conf
    )
    assert f"transport_url = rabbit://openstack:{pw['rabbitmq_password']}@10.77.0.11:5672//\n" in conf
    assert "memcache_servers = 10.77.0.11:11211\n" in conf
    assert "max_active_keys = 3\n" in conf  # ((86400 + 172800 + 259200 - 1) // 259200) + 2
    assert "heartbeat_in_pthread = True\n" in conf


def test_keystone_fernet_renders_keystone_conf_as_its_own_service():
    conf = _files(make_config(), key="keystone-fernet")["keystone.conf"]
    assert "heartbeat_in_pthread = False\n" in conf


def test_config_json_is_kollas_contract():
    document = json.loads(_files(make_config())["config.json"])
    assert document["command"] == "/usr/bin/keystone-startup.sh -DFOREGROUND"
    dests = {f["dest"]: (f["source"], f["owner"], f["perm"]) for f in document["config_files"]}
    assert dests["/etc/keystone/keystone.conf"] == ("/var/lib/kolla/config_files/keystone.conf", "keystone", "0600")
    assert dests["/etc/apache2/conf-enabled/wsgi-keystone.conf"][0].endswith("/wsgi-keystone.conf")
    assert dests["/usr/bin/keystone-startup.sh"][2] == "0755"


def test_distro_branches_like_kolla():
    rocky = _files(make_config(kolla_base_distro="rocky"), key="keystone-fernet")
    assert json.loads(rocky["config.json"])["command"] == "crond -s -n"
    assert "/etc/httpd/conf.d/wsgi-keystone.conf" in _files(make_config(kolla_base_distro="rocky"))["config.json"]


def test_memcached_command_line():
    document = json.loads(_files(make_config(memcached_max_memory="512"), key="memcached")["config.json"])
    assert document["command"] == "/usr/bin/memcached -v -l 10.77.0.11 -p 11211 -c 5000 -U 0 -m 512"


def test_galera_cluster_address_lists_every_mariadb_host():
    config = make_config(hosts=2)
    config["inventory"]["groups"]["control"] = ["h1", "h2"]
    cnf = _files(config, key="mariadb")["galera.cnf"]
    assert "wsrep_cluster_address=gcomm://10.77.0.11:4567,10.77.0.12:4567\n" in cnf
    assert "bind-address=10.77.0.11\n" in cnf
    assert "wsrep_node_name=h1\n" in cnf


def test_rabbitmq_cookie_is_a_file_and_reaches_only_the_bootstrap_on_stdin():
    config = make_config()
    cookie = config["passwords"]["rabbitmq_cluster_cookie"]
    files = _files(config, key="rabbitmq")
    assert files["rabbitmq-erlang.cookie"].strip() == cookie
    plan = plan_of(config)
    rabbit = next(c for s in plan.services for c in s.containers if c.key == "rabbitmq")
    assert rabbit.secret_environment == {}
    assert "RABBITMQ_CLUSTER_COOKIE" not in rabbit.environment
    bootstrap = next(j for s in plan.services for j in s.jobs if j.name == "rabbitmq_bootstrap")
    assert f"RABBITMQ_CLUSTER_COOKIE={cookie}" in bootstrap.stdin
    assert cookie not in bootstrap.script
    assert "cluster_formation.classic_config.nodes.0 = rabbit@h1\n" in files["rabbitmq.conf"]
    assert '"name": "openstack"' in files["definitions.json"]
    # Erlang wants an address tuple; a dotted address makes rabbitmq-server refuse to start.
    assert "{inet_dist_use_interface, {10,77,0,11}}," in files["advanced.config"]


@pytest.mark.parametrize(
    "address, context, expected",
    [
        ("10.0.0.1", "url", "10.0.0.1"),
        ("fd00::1", "url", "[fd00::1]"),
        ("fd00::1", "memcache", "inet6:[fd00::1]"),
        ("10.0.0.1", "rabbitmq", "10,0,0,1"),
        ("fd00::1", "rabbitmq", "16#fd00,16#0000,16#0000,16#0000,16#0000,16#0000,16#0000,16#0001"),
    ],
)
def test_put_address_in_context(address, context, expected):
    assert put_address_in_context(address, context) == expected


def test_overrides_merge_in_kollas_order(tmp_path):
    custom = CustomConfig(
        files={
            "global.conf": "[DEFAULT]\ndebug = True\n[extra]\nfrom = global\n",
            "keystone.conf": "[extra]\nfrom = service\n",
            "keystone/keystone.conf": "[extra]\nfrom = container\nonly = {{ openstack_region_name }}\n",
            "keystone/h1/keystone.conf": "[token]\nexpiration = 60\n",
        }
    )
    conf = _files(make_config(), custom=custom)["keystone.conf"]
    assert "[DEFAULT]\ndebug = True\n" in conf
    assert "[extra]\nfrom = container\nonly = RegionOne\n" in conf, "a later source wins; overrides are Jinja"
    assert "expiration = 60\n" in conf


def test_ini_merge_matches_merge_configs():
    merged = merge([("a", "# comment\n[s]\nk = 1\nm = a\nm = b\n\n[t]\nx = 'q'\n"), ("b", "[s]\nk = 2\nnew =\n")])
    assert merged == "[s]\nk = 2\nm = a\nm = b\nnew =\n\n[t]\nx = q\n\n"


def test_ini_merge_rejects_garbage_with_the_line():
    with pytest.raises(IniError, match="b:2"):
        merge([("b", "[s]\nno separator here\n")])


@pytest.mark.parametrize(
    "index, hosts, minutes, expected",
    [
        (0, 1, 4320, [{"min": 0, "hour": 0, "day": 0}, {"min": 0, "hour": 0, "day": 3}]),
        # Kolla's generator writes `hour = time % 60` in its day branch; kept so crontabs match.
        (1, 3, 720, [{"min": 0, "hour": 0, "day": d} for d in (0, 2, 3, 5, 6)]),
        (0, 2, 30, [{"min": 0, "hour": "*", "day": "*"}]),
        (
            0,
            4,
            120,
            [{"min": 0, "hour": 0, "day": "*"}, {"min": 0, "hour": 8, "day": "*"}, {"min": 0, "hour": 16, "day": "*"}],
        ),
    ],
)
def test_fernet_cron_jobs_match_kollas_generator(index, hosts, minutes, expected):
    assert fernet_cron_jobs(index, hosts, minutes) == expected


def test_genpwd_fills_only_what_is_missing():
    existing = {"database_password": "keep-me", "keystone_admin_password": ""}
    out = genpwd(
        existing, keys=["database_password", "keystone_admin_password", "rbd_secret_uuid", "docker_registry_password"]
    )
    assert out["database_password"] == "keep-me"
    assert len(out["keystone_admin_password"]) == 40 and out["keystone_admin_password"].isalnum()
    assert len(out["rbd_secret_uuid"]) == 36
    assert out["docker_registry_password"] is None, "kolla-genpwd leaves the registry password blank"


def test_genpwd_kinds():
    assert len(generate_value("osprofiler_secret")) == 32
    assert len(generate_value("barbican_crypto_key")) == 44
    assert "keystone_ssh_key" in SSH_KEYS
    pair = generate_value("keystone_ssh_key")
    assert pair["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert pair["public_key"].startswith("ssh-rsa ")
