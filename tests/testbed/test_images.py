"""The test-bed images: built from Debian packages and Kolla's scripts, honouring Kolla's contract.

The end-to-end tests pull from the test-bed registry onto h1 (the shared bed, started if needed and
left running) and need the images pushed: `python -m testbed.images build`.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed import hosts, images, registry
from testbed.env import require

# Per image: what its config.json commands (kolla-ansible 2025.1 templates) and scripts need.
EXPECTED_FILES = {
    "mariadb-server": ["/usr/bin/mariadbd-safe", "/usr/local/bin/kolla_security_reset", "/usr/bin/mysql"],
    "memcached": ["/usr/bin/memcached"],
    "rabbitmq": ["/usr/sbin/rabbitmq-server", "/usr/local/bin/healthcheck_rabbitmq"],
    "kolla-toolbox": ["/usr/local/bin/kolla_toolbox", "/usr/bin/openstack", "/usr/bin/mysql", "/usr/bin/crudini"],
    "cron": ["/usr/sbin/cron", "/usr/sbin/logrotate"],
    "fluentd": ["/usr/local/bin/fluentd"],
    "keystone": [
        "/usr/sbin/apache2",
        "/usr/local/bin/kolla_keystone_bootstrap",
        "/var/lib/kolla/venv/bin/keystone-wsgi-public",
        "/var/lib/kolla/venv/bin/keystone-manage",
        "/usr/lib/apache2/modules/mod_wsgi.so",
    ],
    "keystone-fernet": ["/usr/bin/fetch_fernet_tokens.py", "/usr/sbin/cron", "/usr/bin/rsync", "/usr/bin/ssh"],
    "keystone-ssh": ["/usr/sbin/sshd", "/usr/bin/rsync"],
    "glance-api": [
        "/var/lib/kolla/venv/bin/glance-api",
        "/var/lib/kolla/venv/bin/glance-manage",
        "/var/lib/kolla/venv/bin/glance-rootwrap",
        "/usr/local/bin/kolla_glance_extend_start",
        "/etc/glance/glance-api-paste.ini",
        "/usr/bin/qemu-img",
    ],
    "placement-api": [
        "/var/lib/kolla/venv/bin/uwsgi",
        "/var/lib/kolla/venv/bin/placement-manage",
        "/usr/lib/uwsgi/plugins/python3_plugin.so",
        "/usr/lib/uwsgi/plugins/http_plugin.so",
        "/usr/lib/python3/dist-packages/placement/wsgi/api.py",
        "/usr/local/bin/kolla_placement_extend_start",
        "/etc/apache2/envvars",
    ],
    "nova-api": [
        "/var/lib/kolla/venv/bin/uwsgi",
        "/var/lib/kolla/venv/bin/nova-manage",
        "/usr/lib/uwsgi/plugins/http_plugin.so",
        "/usr/lib/python3/dist-packages/nova/wsgi/osapi_compute.py",
        "/usr/lib/python3/dist-packages/nova/wsgi/metadata.py",
        "/usr/local/bin/kolla_nova_extend_start",
        "/etc/apache2/envvars",
    ],
    "nova-scheduler": ["/var/lib/kolla/venv/bin/nova-scheduler"],
    "nova-conductor": ["/var/lib/kolla/venv/bin/nova-conductor", "/var/lib/kolla/venv/bin/nova-manage"],
    "nova-novncproxy": ["/var/lib/kolla/venv/bin/nova-novncproxy", "/usr/share/novnc/vnc_lite.html"],
    "nova-ssh": ["/usr/sbin/sshd", "/usr/bin/rsync", "/etc/ssh/ssh_host_dsa_key"],
    "nova-compute": [
        "/var/lib/kolla/venv/bin/nova-compute",
        "/var/lib/kolla/venv/bin/nova-rootwrap",
        "/var/lib/kolla/venv/bin/privsep-helper",
        "/usr/bin/qemu-img",
        "/usr/bin/genisoimage",
        "/usr/lib/x86_64-linux-gnu/sasl2/libscram.so",
    ],
    "nova-libvirt": [
        "/usr/sbin/libvirtd",
        "/usr/bin/qemu-system-x86_64",
        "/usr/sbin/saslpasswd2",
        "/usr/bin/virsh",
        "/usr/local/bin/kolla_nova_libvirt_start",
    ],
    "openvswitch-db-server": ["/usr/sbin/ovsdb-server", "/usr/bin/ovsdb-tool", "/usr/local/bin/ovs_wrapper"],
    "openvswitch-vswitchd": ["/usr/sbin/ovs-vswitchd", "/usr/bin/ovs-vsctl", "/usr/local/bin/ovs_wrapper"],
    "neutron-server": ["/var/lib/kolla/venv/bin/neutron-server", "/var/lib/kolla/venv/bin/neutron-db-manage"],
    "neutron-openvswitch-agent": [
        "/var/lib/kolla/venv/bin/neutron-openvswitch-agent",
        "/var/lib/kolla/venv/bin/neutron-rootwrap",
        "/var/lib/kolla/venv/bin/privsep-helper",
        "/usr/sbin/iptables-save",
    ],
    "neutron-dhcp-agent": ["/var/lib/kolla/venv/bin/neutron-dhcp-agent", "/usr/sbin/dnsmasq"],
    "neutron-l3-agent": [
        "/var/lib/kolla/venv/bin/neutron-l3-agent",
        "/var/lib/kolla/venv/bin/neutron-keepalived-state-change",
        "/usr/sbin/keepalived",
        "/usr/sbin/haproxy",
        "/usr/sbin/radvd",
    ],
    "neutron-metadata-agent": ["/var/lib/kolla/venv/bin/neutron-metadata-agent", "/usr/sbin/haproxy"],
    "heat-api": [
        "/usr/sbin/apache2",
        "/usr/lib/apache2/modules/mod_wsgi.so",
        "/var/lib/kolla/venv/bin/heat-wsgi-api",
        "/var/lib/kolla/venv/bin/heat-manage",
    ],
    "heat-api-cfn": ["/usr/sbin/apache2", "/var/lib/kolla/venv/bin/heat-wsgi-api-cfn"],
    "heat-engine": ["/var/lib/kolla/venv/bin/heat-engine", "/var/lib/kolla/venv/bin/heat-manage"],
    "horizon": [
        "/usr/sbin/apache2",
        "/usr/lib/apache2/modules/mod_wsgi.so",
        "/var/lib/kolla/venv/bin/manage.py",
        "/var/lib/kolla/venv/lib/python3/site-packages/openstack_dashboard/wsgi.py",
        "/var/lib/kolla/venv/lib/python3/site-packages/openstack_dashboard/local/local_settings.py",
        "/var/lib/kolla/venv/lib/python3/site-packages/heat_dashboard/enabled",
        "/etc/openstack-dashboard/local_settings.d",
    ],
    "haproxy": ["/usr/sbin/haproxy", "/usr/local/bin/kolla_ensure_haproxy_latest_config", "/var/lib/kolla/haproxy"],
    "keepalived": ["/usr/sbin/keepalived", "/check_alive.sh", "/usr/local/bin/kolla_extend_start", "/usr/bin/mysql"],
}
BASE_FILES = ["/usr/local/bin/kolla_start", "/usr/local/bin/kolla_set_configs", "/usr/bin/dumb-init", "/usr/bin/sudo"]


def _wheel_cached() -> None:
    cached = (images.CACHE / f"kolla-{images.KOLLA_VERSION}" / "docker").is_dir()
    require(cached, f"the kolla {images.KOLLA_VERSION} wheel (python -m testbed.images build fetches it)")


# --- no bed needed --------------------------------------------------------------------------------


def test_every_image_names_a_layer_chain_from_the_base() -> None:
    for image in images.IMAGES.values():
        assert images._chain(image.layer)[0] == "base"
    assert set(EXPECTED_FILES) == set(images.IMAGES)


def test_layer_keys_follow_their_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same inputs, same keys; a package change re-keys that layer only (not its parent or siblings)."""
    _wheel_cached()
    before = images.layer_keys("http://mirror.example/debian")
    assert images.layer_keys("http://mirror.example/debian") == before
    memcached = images.LAYERS["memcached"]
    changed = images.Layer(memcached.name, memcached.parent, (*memcached.packages, "netcat-openbsd"), memcached.users)
    monkeypatch.setitem(images.LAYERS, "memcached", changed)
    after = images.layer_keys("http://mirror.example/debian")
    assert {name for name in before if before[name] != after[name]} == {"memcached"}


def test_a_mirror_change_rekeys_everything() -> None:
    _wheel_cached()
    first, second = images.layer_keys("http://a/debian"), images.layer_keys("http://b/debian")
    assert all(first[name] != second[name] for name in first)


def test_kolla_users_exist_before_any_base_package() -> None:
    """Kolla creates its users (fixed UIDs) first so packages such as keystone reuse them."""
    _wheel_cached()
    script = images._layer_script(images.LAYERS["base"])
    assert "useradd -l -M --shell /usr/sbin/nologin --uid 42425 --gid 42425 keystone" in script
    assert "groupadd --gid 42486 haclient" in script
    assert script.index("--uid 42400 --gid 42400 kolla") < script.index("dumb-init")


def test_whiteouts_and_opaque_dirs_become_oci_entries(tmp_path: Path) -> None:
    """An overlay upper dir's deletions must survive as `.wh.` entries in the layer tar."""
    require(os.geteuid() == 0, "root (mknod, trusted.* xattrs)")
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "kept").write_text("x")
    os.mknod(upper / "etc" / "gone", 0o600 | 0o020000, os.makedev(0, 0))  # overlay's whiteout
    (upper / "opaque").mkdir()
    os.setxattr(upper / "opaque", "trusted.overlay.opaque", b"y")
    blob = tmp_path / "layer.tar.gz"
    diff_id, digest, size, _ = images._write_blob(upper, blob)
    with tarfile.open(blob) as tar:
        names = set(tar.getnames())
    assert names == {"etc", "etc/kept", "etc/.wh.gone", "opaque", "opaque/.wh..wh..opq"}
    assert diff_id.startswith("sha256:") and digest.startswith("sha256:") and size == blob.stat().st_size


# --- on the test bed ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def h1() -> hosts.Host:
    require(os.geteuid() == 0 and shutil.which("dockerd") is not None, "root and Debian's docker.io")
    require(registry.responding() or shutil.which("docker-registry") is not None, "the test-bed registry")
    host = hosts.up(2)[0]
    _wheel_cached()
    keys = images.layer_keys(images.debian_mirror())
    missing = [
        n for n, i in images.IMAGES.items() if images.pushed_key(n, images.DEFAULT_TAG) != images.image_key(i, keys)
    ]
    require(not missing, f"current images in the registry (missing or stale: {missing}); run testbed.images build")
    return host


@pytest.fixture
def config_dir(h1: hosts.Host) -> Iterator[str]:
    """A Kolla-style /etc/kolla/<service>/ on h1 with a config.json and one file to copy."""
    path = f"/etc/kolla/kp-probe-{uuid.uuid4().hex[:8]}"
    h1.ssh(f"mkdir -p {path} && chmod 770 {path} && echo probe > {path}/data.txt && chmod 660 {path}/data.txt")
    yield path
    h1.ssh(f"rm -rf {path}", check=False)


def _write_config(h1: hosts.Host, path: str, command: str) -> None:
    config = {
        "command": command,
        "config_files": [
            {
                "source": "/var/lib/kolla/config_files/data.txt",
                "dest": "/etc/kp-probe/data.txt",
                "owner": "memcached",
                "perm": "0640",
            }
        ],
    }
    h1.ssh(f"cat > {path}/config.json", input=json.dumps(config))


def _kolla_run(path: str, extra: str = "") -> str:
    image = images.reference("memcached")
    mount = f"-v {path}:/var/lib/kolla/config_files/:ro"
    return f"docker run --network host -e KOLLA_CONFIG_STRATEGY=COPY_ALWAYS {mount} {extra} {image}"


def test_images_carry_their_input_keys_in_the_registry(h1: hosts.Host) -> None:
    """What makes an unchanged rebuild a no-op: the registry already has the manifest for the key."""
    keys = images.layer_keys(images.debian_mirror())
    for name, image in images.IMAGES.items():
        assert images.pushed_key(name, images.DEFAULT_TAG) == images.image_key(image, keys)


def test_kolla_start_copies_config_files_and_execs_the_command(h1: hosts.Host, config_dir: str) -> None:
    _write_config(h1, config_dir, "/usr/bin/stat -c %U:%G:%a /etc/kp-probe/data.txt")
    result = h1.ssh(_kolla_run(config_dir, "--rm"), check=False)
    assert result.returncode == 0, result.stderr
    # memcached runs as memcached; kolla_set_configs ran as root through Kolla's sudoers rule.
    assert result.stdout.splitlines()[-1] == "memcached:memcached:640"
    assert "Running command: '/usr/bin/stat" in result.stdout + result.stderr


def test_kolla_set_configs_check_reports_drift(h1: hosts.Host, config_dir: str) -> None:
    """`kolla_set_configs --check` exits 0 while configs match and 1 once a source changes.

    As root, as kolla-ansible's DockerWorker.compare_config runs it: /etc/kolla/<service>/ is 0770 root.
    """
    _write_config(h1, config_dir, "/usr/bin/sleep 600")
    name = config_dir.rsplit("/", 1)[1]
    h1.ssh(_kolla_run(config_dir, f"-d --name {name}"))
    try:
        assert h1.ssh(f"docker exec -u root {name} kolla_set_configs --check", check=False).returncode == 0
        h1.ssh(f"echo changed > {config_dir}/data.txt")
        assert h1.ssh(f"docker exec -u root {name} kolla_set_configs --check", check=False).returncode == 1
    finally:
        h1.ssh(f"docker rm -f {name}", check=False)


@pytest.mark.parametrize("name", sorted(images.IMAGES))
def test_image_follows_the_kolla_layout(h1: hosts.Host, name: str) -> None:
    image, spec = images.reference(name), images.IMAGES[name]
    h1.ssh(f"docker pull -q {image}")
    inspect = json.loads(h1.ssh(f"docker image inspect {image}").stdout)[0]["Config"]
    assert inspect["Entrypoint"] == list(spec.entrypoint)
    assert inspect["Cmd"] == ["kolla_start"]
    assert inspect["Labels"]["kolla_version"] == images.KOLLA_VERSION
    files = " ".join(BASE_FILES + EXPECTED_FILES[name])
    probe = f"for f in {files}; do test -e $f || echo missing $f; done; id -un"
    out = h1.ssh(f"docker run --rm --entrypoint /bin/sh {image} -c '{probe}'").stdout.split("\n")
    assert [line for line in out if line.startswith("missing")] == []
    assert out[-2] == (spec.user or "root")


def test_placement_uwsgi_serves_http_with_only_the_python3_plugin_named(h1: hosts.Host) -> None:
    """Kolla 2025.1's placement-api-uwsgi.ini serves with `http =` and loads only `plugins = python3`
    (Kolla's pip uwsgi has the http router built in; Debian's uwsgi-core loads it as a plugin)."""
    image = images.reference("placement-api")
    script = r"""
printf 'def application(env, start):\n    start("200 OK", []); return [b"served"]\n' > /tmp/app.py
printf '[uwsgi]\nhttp = 127.0.0.1:18780\nmaster = true\ndie-on-term = true\nchdir = /tmp\n' > /tmp/u.ini
printf 'module = app:application\nplugins-dir = /usr/lib/uwsgi/plugins\nplugins = python3\n' >> /tmp/u.ini
uwsgi /tmp/u.ini >/tmp/uwsgi.log 2>&1 &
for i in $(seq 50); do curl -sf -m 1 http://127.0.0.1:18780/ && break; sleep 0.2; done
kill -KILL $! 2>/dev/null || true
"""
    run = f"timeout -s KILL 60 docker run --rm -i --network none --entrypoint /bin/bash {image} -s"
    result = h1.ssh(run, input=script, check=False, timeout=90)
    assert result.stdout.strip() == "served", (result.stdout, result.stderr)
