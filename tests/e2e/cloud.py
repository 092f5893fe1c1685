"""A real OpenStack on the test bed, used as an operator uses one: the stack config of a compute
deployment, the clouds.yaml that `post-deploy` writes, and the real python-openstackclient (the test
extra) run on this machine against the hosts' APIs; `init-runonce` makes the cloud usable.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from components.operate import verbs
from testbed.deploy import PROJECT
from testbed.versions import ROOT
from tests.e2e.test_lifecycle import stack_config

AGENTS = {"Open vSwitch agent", "DHCP agent", "L3 agent", "Metadata agent"}


def compute_config(groups: dict[str, list[str]], **globals_overrides: Any) -> dict[str, Any]:
    """The dev stack's config (Pulumi.dev.yaml: the README's all-in-one with keystone, glance, placement,
    nova and neutron, and the settings the test-bed hosts need) over `groups`, with the hosts they
    name, and `globals_overrides`."""
    dev = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    used = {host for members in groups.values() for host in members}
    hosts = stack_config()[f"{PROJECT}:inventory"]["hosts"]
    return {
        f"{PROJECT}:globals": {**dev[f"{PROJECT}:globals"], **globals_overrides},
        f"{PROJECT}:inventory": {"hosts": {n: h for n, h in hosts.items() if n in used}, "groups": groups},
    }


def wait_until(what: str, probe: Any, timeout: float = 180) -> Any:
    """`probe()` every 3 s until it returns something true; its last answer in the failure message."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer:
            return answer
        assert time.monotonic() < deadline, f"{what}: not after {timeout:.0f} s; last answer {answer!r}"
        time.sleep(3)


class Cloud:
    """The openstack CLI with the stack's clouds.yaml (cloud `kolla-admin`), in its own directory."""

    def __init__(self, stack: auto.Stack, directory: Path) -> None:
        verbs.post_deploy(stack, directory)
        self.stack = stack
        self.directory = directory

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "OS_CLOUD": "kolla-admin"}
        env = {k: v for k, v in env.items() if not k.startswith("OS_") or k == "OS_CLOUD"}
        cli = Path(sys.executable).with_name("openstack")
        result = subprocess.run(
            [str(cli), *args], cwd=self.directory, env=env, capture_output=True, text=True, check=False, timeout=600
        )
        if check:
            assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-3000:])
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-f", "json").stdout)

    def wait_for(self, what: str, probe: Any, timeout: float = 180) -> Any:
        return wait_until(what, probe, timeout)

    def agents_alive(self, hosts: set[str]) -> list[dict[str, Any]]:
        """The network agents once every expected one runs on `hosts` and is alive."""

        def probe() -> list[dict[str, Any]]:
            agents = self.json("network", "agent", "list")
            kinds = {(a["Agent Type"], a["Host"]) for a in agents if a["Alive"] and a["State"]}
            return agents if all(any((k, h) in kinds for h in hosts) for k in AGENTS) else []

        return self.wait_for("network agents alive", probe)

    def compute_services_up(self, hosts: set[str]) -> list[dict[str, Any]]:
        def probe() -> list[dict[str, Any]]:
            services = self.json("compute", "service", "list", "--service", "nova-compute")
            up = {s["Host"] for s in services if s["State"] == "up" and s["Status"] == "enabled"}
            return services if hosts <= up else []

        return self.wait_for("nova-compute up", probe)

    def init_runonce(self) -> list[dict[str, str]]:
        """`kolla-pulumi init-runonce` (its library call) with a 1 MiB raw image (no cirros offline: it
        boots nowhere, but qemu runs it, so the server is ACTIVE) and a key pair of the test's own."""
        from components.deployment import plan_deployment
        from components.operate import init_runonce as runonce
        from components.operate.workspace import resolved_config

        image = self.directory / "runonce.raw"
        if not image.exists():
            image.write_bytes(b"\0" * 1048576)
        settings = runonce.settings_from({}, image_file=image, public_key=self.directory / "key" / "id_ecdsa.pub")
        config = resolved_config(self.stack)
        return runonce.init_runonce(config, plan_deployment(config), settings, log=lambda line: None)

    def boot(self, name: str, timeout: float = 300) -> dict[str, Any]:
        """The demo server init-runonce's closing lines tell the operator to create (their command as
        printed, named `name`); its final show, ACTIVE or ERROR (with its fault)."""
        from components.operate.init_runonce import next_steps

        command = next_steps().split("run:", 1)[1].replace("\\\n", " ").split()
        assert command[:2] == ["openstack", "--os-cloud=kolla-admin"], command  # the client sets OS_CLOUD
        self.run(*command[2:-1], name)

        def probe() -> dict[str, Any]:
            server = self.json("server", "show", name)
            return server if server["status"] in ("ACTIVE", "ERROR") else {}

        return self.wait_for(f"server {name} built", probe, timeout)


def horizon_login(address: str, user: str, password: str) -> tuple[str, str]:
    """Horizon's login form at `address`, posted as a browser would; where it lands and the page."""
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), urllib.request.ProxyHandler({}))
    login_url = f"http://{address}/auth/login/"
    page = browser.open(login_url, timeout=120).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, page[:2000]
    form = {
        "csrfmiddlewaretoken": token.group(1),
        "region": "default",
        "domain": "Default",
        "username": user,
        "password": password,
    }
    request = urllib.request.Request(
        login_url, data=urllib.parse.urlencode(form).encode(), headers={"Referer": login_url}
    )
    landed = browser.open(request, timeout=120)
    return landed.url, landed.read().decode()


def container_starts(host: Any) -> dict[str, str]:
    """name -> "id started-at" of every container on the host, from its own engine."""
    out = host.ssh("docker ps -aq | xargs -r docker inspect -f '{{.Name}} {{.Id}} {{.State.StartedAt}}'").stdout
    return {name.lstrip("/"): f"{cid} {started}" for name, cid, started in (line.split() for line in out.splitlines())}
