"""init-runonce: Kolla's variables and their errors, the image file (found, downloaded, refused), the
two calls into kolla_toolbox, and the program run there against a fake OpenStack: everything made
on the first run, nothing on the second."""

from __future__ import annotations

import functools
import http.server
import io
import json
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from components.operate import init_runonce as runonce
from components.operate import init_runonce_program as program
from components.operate.ssh import Completed
from components.operate.verbs import OperateError
from tests.conftest import make_config, plan_of

# --- Kolla's variables -------------------------------------------------------------------------------


def test_kollas_defaults_without_variables() -> None:
    settings = runonce.settings_from({})
    assert settings.ip_version == 4
    assert settings.demo_net == {"cidr": "10.0.0.0/24", "gateway": "10.0.0.1", "dns": "8.8.8.8"}
    assert settings.ext_net["enabled"] is True
    assert settings.ext_net["range"] == ["10.0.2.150", "10.0.2.199"]
    assert settings.cirros_file.startswith("cirros-0.6.3-") and settings.cirros_file.endswith("-disk.img")
    assert settings.image_url == "https://github.com/cirros-dev/cirros/releases/download/0.6.3/"


def test_variables_override_the_defaults_like_kollas_script() -> None:
    environ = {"DEMO_NET_CIDR": "192.168.7.0/24", "DEMO_NET_GATEWAY": "192.168.7.1", "ENABLE_EXT_NET": "0"}
    settings = runonce.settings_from(environ, image_disk_format="raw")
    assert settings.demo_net["cidr"] == "192.168.7.0/24"
    assert settings.ext_net["enabled"] is False
    assert settings.image_disk_format == "raw"


def test_every_wrong_variable_is_named_with_its_value_and_what_is_expected() -> None:
    environ = {
        "IP_VERSION": "5",
        "DEMO_NET_CIDR": "10.0.0.0/33",
        "EXT_NET_RANGE": "10.0.2.150-10.0.2.199",
        "EXT_NET_GATEWAY": "10.9.9.9",
        "ENABLE_EXT_NET": "yes",
    }
    with pytest.raises(OperateError) as raised:
        runonce.settings_from(environ)
    message = str(raised.value)
    assert "IP_VERSION='5': expected 4 or 6" in message
    assert "DEMO_NET_CIDR='10.0.0.0/33': expected an IPv4 network in CIDR notation" in message
    assert "EXT_NET_RANGE='10.0.2.150-10.0.2.199': expected start=<address>,end=<address>" in message
    assert "EXT_NET_GATEWAY='10.9.9.9': expected an address in 10.0.2.0/24" in message
    assert "ENABLE_EXT_NET='yes': expected 1 (create public1) or 0" in message


def test_ipv6_with_the_external_net_needs_the_demo_router_address_as_in_kollas_script() -> None:
    environ = {
        "IP_VERSION": "6",
        "DEMO_NET_CIDR": "fd00:1::/64",
        "DEMO_NET_GATEWAY": "fd00:1::1",
        "DEMO_NET_DNS": "fd00:1::53",
        "EXT_NET_CIDR": "fd00:2::/64",
        "EXT_NET_RANGE": "start=fd00:2::10,end=fd00:2::99",
        "EXT_NET_GATEWAY": "fd00:2::1",
    }
    with pytest.raises(OperateError, match=r"EXT_NET_DEMO_ROUTER_ADDR='': expected an IP address"):
        runonce.settings_from(environ)
    settings = runonce.settings_from({**environ, "EXT_NET_DEMO_ROUTER_ADDR": "fd00:2::5"})
    assert settings.ip_version == 6 and settings.ext_net["demo_router_address"] == "fd00:2::5"


def test_an_unknown_disk_format_is_refused() -> None:
    with pytest.raises(OperateError, match=r"--image-disk-format='qcow3': expected one of glance's disk formats"):
        runonce.settings_from({}, image_disk_format="qcow3")


# --- the image file and the key ----------------------------------------------------------------------


def test_a_missing_image_file_is_refused_naming_it(tmp_path: Path) -> None:
    settings = runonce.settings_from({}, image_file=tmp_path / "nope.img")
    with pytest.raises(OperateError, match=r"--image-file .*nope.img: expected an image file; it does not exist"):
        runonce.image_file(settings, print)


def test_kollas_cirros_file_in_the_working_directory_is_used(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(runonce, "IMAGE_PATH", tmp_path / "cache")
    settings = runonce.settings_from({})
    (tmp_path / settings.cirros_file).write_bytes(b"QFI\xfb" + bytes(60))
    path = runonce.image_file(settings, print, tmp_path)
    assert path == tmp_path / settings.cirros_file
    assert runonce.disk_format(settings, path) == "qcow2"


def test_the_image_is_downloaded_from_image_url_when_nowhere_local(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(runonce, "IMAGE_PATH", tmp_path / "cache")
    served = tmp_path / "served"
    served.mkdir()
    settings_name = runonce.settings_from({}).cirros_file
    (served / settings_name).write_bytes(b"\0" * 4096)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        work = tmp_path / "work"
        work.mkdir()
        lines: list[str] = []
        path = runonce.image_file(runonce.settings_from({"IMAGE_URL": base}), lines.append, work)
        assert path == work / settings_name and path.read_bytes() == b"\0" * 4096
        assert any("downloading" in line for line in lines)
        assert runonce.disk_format(runonce.settings_from({}), path) == "raw"
        (served / settings_name).unlink()
        path.unlink()
        with pytest.raises(OperateError, match=r"cannot download .*give --image-file"):
            runonce.image_file(runonce.settings_from({"IMAGE_URL": base}), print, work)
        assert list(work.iterdir()) == []  # no partial file left behind
    finally:
        server.shutdown()


def test_a_missing_public_key_is_generated_as_kollas_script_does(tmp_path: Path) -> None:
    settings = runonce.settings_from({}, public_key=tmp_path / "keys" / "id_ecdsa.pub")
    key = runonce.public_key(settings, print)
    assert key.startswith("ecdsa-sha2-nistp256 ")
    assert (tmp_path / "keys" / "id_ecdsa").is_file()
    assert runonce.public_key(settings, print) == key  # the second run keeps it


# --- the two calls into kolla_toolbox ----------------------------------------------------------------


class Toolbox:
    """A fake runner: records each call's parameters and image bytes, answers from `answers`."""

    def __init__(self, *answers: list[dict[str, str]]) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str, dict[str, Any], bytes]] = []

    def __call__(self, host: Any, command: str, chunks: Iterable[bytes]) -> Completed:
        data = b"".join(chunks)
        first, _, rest = data.partition(b"\n")
        self.calls.append((host.name, command, json.loads(first), rest))
        lines = self.answers.pop(0)
        return Completed(0, "".join(json.dumps(line) + "\n" for line in lines), "")


@pytest.fixture(scope="module")
def aio() -> tuple[Any, Any]:
    from components.config.stack import resolve_stack_config

    raw = make_config(hosts=2, enable_glance=True, enable_placement=True, enable_nova=True, enable_neutron=True)
    return resolve_stack_config(raw), plan_of(raw)


def test_the_image_file_is_read_and_sent_only_when_the_image_is_missing(aio, tmp_path: Path) -> None:
    config, plan = aio
    image = tmp_path / "disk.img"
    image.write_bytes(b"QFI\xfb" + b"x" * 100)
    settings = runonce.settings_from({}, image_file=image, public_key=tmp_path / "k.pub")
    (tmp_path / "k.pub").write_text("ssh-ed25519 AAAAkey me@here\n")
    toolbox = Toolbox([program.report("image", "cirros", "missing")], [program.report("image", "cirros", "created")])
    reports = runonce.init_runonce(config, plan, settings, runner=toolbox, log=lambda line: None)
    assert reports == [{"kind": "image", "name": "cirros", "done": "created"}]
    (host1, command, look, sent1), (host2, _, every, sent2) = toolbox.calls
    assert host1 == host2 == "h1"  # the control host's kolla_toolbox
    assert command.startswith("docker exec -i kolla_toolbox ")
    assert look["steps"] == ["image"] and sent1 == b""
    assert every["steps"] == list(runonce.STEPS)
    assert every["image"] == {"name": "cirros", "type": "linux", "disk_format": "qcow2"}
    assert every["image_size"] == 104 and sent2 == image.read_bytes()
    assert every["auth"]["username"] == "admin" and every["interface"] == "internal"
    assert every["keypair"] == {"name": "mykey", "public_key": "ssh-ed25519 AAAAkey me@here"}
    assert "password" not in command and every["auth"]["password"] not in command

    # With the image there, no file is needed at all.
    settings = runonce.settings_from({}, image_file=tmp_path / "gone.img", public_key=tmp_path / "k.pub")
    toolbox = Toolbox([program.report("image", "cirros", "exists")], [program.report("image", "cirros", "exists")])
    runonce.init_runonce(config, plan, settings, runner=toolbox, log=lambda line: None)
    assert toolbox.calls[1][2].get("image_size") is None and toolbox.calls[1][3] == b""


def test_a_failure_in_kolla_toolbox_says_what_was_made_before_it(aio) -> None:
    done = Completed(1, json.dumps(program.report("router", "demo-router", "created")) + "\n", "boom\nQuota exceeded\n")
    with pytest.raises(
        OperateError, match=r"failed in kolla_toolbox: Quota exceeded \(after: created router demo-router\)"
    ):
        runonce.parse_reports(done)


# --- the program against a fake OpenStack ------------------------------------------------------------


class Found(SimpleNamespace):
    pass


class FakeCloud:
    """Just enough of openstacksdk's image, network and compute proxies for the program."""

    current_project_id = "admin-project"

    def __init__(self) -> None:
        self.made: list[str] = []
        self.images: dict[str, Found] = {}
        self.routers: dict[str, Found] = {}
        self.networks: dict[str, Found] = {}
        self.subnets: dict[str, Found] = {}
        self.port_list: list[Found] = []
        self.rules: list[Found] = []
        self.keypairs: dict[str, Found] = {}
        self.flavors: dict[str, Found] = {}
        self.quota = Found(instances=10, cores=20, ram=51200)
        self.uploaded = b""
        self.image = self.network = self.compute = self

    def _new(self, table: dict[str, Found], kind: str, **fields: Any) -> Found:
        made = Found(id=f"{kind}-{len(self.made)}", **fields)
        table[fields["name"]] = made
        self.made.append(f"{kind} {fields['name']}")
        return made

    # image
    def find_image(self, name: str) -> Found | None:
        return self.images.get(name)

    def create_image(self, name: str, filename: str, **fields: Any) -> Found:
        self.uploaded = Path(filename).read_bytes()
        return self._new(self.images, "image", name=name, **fields)

    # network
    def find_router(self, name: str) -> Found | None:
        return self.routers.get(name)

    def create_router(self, name: str) -> Found:
        return self._new(self.routers, "router", name=name, external_gateway_info=None)

    def find_network(self, name: str) -> Found | None:
        return self.networks.get(name)

    def create_network(self, name: str, **fields: Any) -> Found:
        return self._new(self.networks, "network", name=name, **fields)

    def find_subnet(self, name: str, network_id: str) -> Found | None:
        found = self.subnets.get(name)
        return found if found and found.network_id == network_id else None

    def create_subnet(self, name: str, network_id: str, **fields: Any) -> Found:
        return self._new(self.subnets, "subnet", name=name, network_id=network_id, **fields)

    def ports(self, device_id: str) -> Iterator[Found]:
        return iter([p for p in self.port_list if p.device_id == device_id])

    def add_interface_to_router(self, router: Found, subnet_id: str) -> None:
        self.port_list.append(Found(device_id=router.id, fixed_ips=[{"subnet_id": subnet_id}]))
        self.made.append(f"interface {subnet_id}")

    def update_router(self, router: Found, external_gateway_info: dict[str, Any]) -> None:
        router.external_gateway_info = external_gateway_info
        self.made.append("gateway")

    def security_groups(self, project_id: str, name: str) -> list[Found]:
        return [Found(id="sg-default")] if project_id == self.current_project_id and name == "default" else []

    def security_group_rules(self, security_group_id: str) -> list[Found]:
        return list(self.rules)

    def create_security_group_rule(self, **fields: Any) -> None:
        rule = {"remote_ip_prefix": None, "remote_group_id": None, **fields}
        rule["ether_type"] = rule.pop("ether_type")
        self.rules.append(Found(**rule))
        self.made.append(f"rule {fields['protocol']} {fields['port_range_min']}")

    # compute
    def find_keypair(self, name: str) -> Found | None:
        return self.keypairs.get(name)

    def create_keypair(self, name: str, public_key: str) -> Found:
        return self._new(self.keypairs, "keypair", name=name, public_key=public_key)

    def get_quota_set(self, project_id: str) -> Found:
        return self.quota

    def update_quota_set(self, project_id: str, **values: int) -> None:
        self.quota = Found(**{**vars(self.quota), **values})
        self.made.append("quota")

    def find_flavor(self, name_or_id: str) -> Found | None:
        return self.flavors.get(name_or_id) or next((f for f in self.flavors.values() if f.id == name_or_id), None)

    def create_flavor(self, id: str, name: str, **fields: Any) -> Found:
        made = Found(id=id, name=name, **fields)
        self.flavors[name] = made
        self.made.append(f"flavor {name}")
        return made


def program_parameters(aio: Any, image: bytes) -> dict[str, Any]:
    _, plan = aio
    settings = runonce.settings_from({}, image_disk_format="qcow2")
    return runonce.parameters(
        plan,
        settings,
        runonce.STEPS,
        image={"name": "cirros", "type": "linux", "disk_format": "qcow2"},
        image_size=len(image),
        keypair={"name": "mykey", "public_key": "ssh-ed25519 AAAAkey"},
    )


def test_the_program_makes_everything_once_then_nothing(aio) -> None:
    cloud = FakeCloud()
    image = b"QFI\xfb" + bytes(1000)
    params = program_parameters(aio, image)
    first = list(program.run(cloud, params, io.BytesIO(image)))
    assert cloud.uploaded == image
    assert {(r["kind"], r["name"]) for r in first if r["done"] == "created"} >= {
        ("image", "cirros"),
        ("router", "demo-router"),
        ("network", "demo-net"),
        ("subnet", "demo-subnet"),
        ("router interface", "demo-router:demo-subnet"),
        ("network", "public1"),
        ("subnet", "public1-subnet"),
        ("router gateway", "demo-router:public1"),
        ("keypair", "mykey"),
        ("flavor", "m1.tiny"),
        ("flavor", "m2.tiny"),
    }
    assert [r["done"] for r in first if r["kind"] == "security group rule"] == ["created"] * 4
    assert [r["done"] for r in first if r["kind"] == "compute quota"] == ["set"]
    assert all(r["done"] in ("created", "set") for r in first), first
    public = cloud.networks["public1"]
    assert (public.is_router_external, public.provider_network_type, public.provider_physical_network) == (
        True,
        "flat",
        "physnet1",
    )
    assert cloud.subnets["public1-subnet"].allocation_pools == [{"start": "10.0.2.150", "end": "10.0.2.199"}]
    assert cloud.subnets["demo-subnet"].dns_nameservers == ["8.8.8.8"]
    assert (cloud.quota.instances, cloud.quota.cores, cloud.quota.ram) == (40, 40, 96000)
    assert cloud.flavors["m1.small"].ram == 2048 and cloud.flavors["m1.small"].id == "2"

    made = list(cloud.made)
    second = list(program.run(cloud, {**params, "image_size": 0}, io.BytesIO(b"")))
    assert cloud.made == made  # nothing new
    assert all(r["done"] in ("exists", "unchanged") for r in second), second
    assert len(second) == len(first)


def test_the_program_leaves_what_differs_alone_and_says_so(aio) -> None:
    cloud = FakeCloud()
    cloud.keypairs["mykey"] = Found(id="k", name="mykey", public_key="ssh-rsa BBBBother")
    cloud.flavors["custom"] = Found(id="1", name="custom")
    cloud.routers["demo-router"] = Found(id="r", name="demo-router", external_gateway_info={"network_id": "elsewhere"})
    reports = list(program.run(cloud, program_parameters(aio, b""), io.BytesIO(b"")))
    by_name = {(r["kind"], r["name"]): r["done"] for r in reports}
    assert by_name[("keypair", "mykey")] == "differs: it holds another public key"
    assert by_name[("flavor", "m1.tiny")] == "differs: id 1 is flavor custom"
    assert by_name[("router gateway", "demo-router")] == "differs: its gateway is network elsewhere"
    assert by_name[("image", "cirros")] == "missing"  # no bytes sent: nothing uploaded
    assert cloud.keypairs["mykey"].public_key == "ssh-rsa BBBBother"


def test_a_stack_without_the_services_it_fills_is_refused_before_any_host_is_reached(tmp_path: Path) -> None:
    from components.config.stack import resolve_stack_config

    raw = make_config(enable_glance=True)  # keystone and glance only
    settings = runonce.settings_from({}, public_key=tmp_path / "k.pub")

    def unreachable(*args: Any) -> Completed:
        raise AssertionError("no host may be reached")

    with pytest.raises(OperateError, match=r"does not enable nova, neutron \(set globals enable_nova: true\)"):
        runonce.init_runonce(resolve_stack_config(raw), plan_of(raw), settings, runner=unreachable)
