"""End to end: real OpenStack services on the test bed. An all-in-one on h1 with keystone, glance and
placement from the test-bed images (Debian trixie's packages), deployed through the Automation API, then
used as an operator would: the admin credentials (the stack's admin_openrc output) and the openstack
client inside kolla_toolbox on h1.

The credentials reach the toolbox on stdin (a script `bash -s` reads), never on a command line.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.bed import clean_bed
from tests.e2e.test_lifecycle import containers, stack_config

pytestmark = pytest.mark.e2e

STACK = "e2e-openstack"
SERVICES = {"enable_glance": True, "enable_placement": True}
NEW_CONTAINERS = {"glance_api", "placement_api"}


def all_in_one_config() -> dict[str, Any]:
    """test_lifecycle's stack config with glance and placement on, every group on h1 alone."""
    config = stack_config(**SERVICES)
    inventory = config["kolla-pulumi:inventory"]
    inventory["hosts"] = {"h1": inventory["hosts"]["h1"]}
    inventory["groups"] = {group: ["h1"] for group in inventory["groups"]}
    return config


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from testbed.deploy import stack_with_config

    with clean_bed(2) as started:
        state = tmp_path_factory.mktemp("e2e-openstack-state")
        stack = stack_with_config(STACK, state, all_in_one_config())
        yield {"h1": started[0], "h2": started[1], "stack": stack, "up": stack.up()}


def openstack(cloud: dict[str, Any], commands: str) -> str:
    """Run `commands` (bash) in kolla_toolbox on h1 with the admin credentials sourced first."""
    openrc = cloud["up"].outputs["admin_openrc"].value
    script = f"set -euo pipefail\n{openrc}\n{commands}\n"
    result = cloud["h1"].ssh("docker exec -i kolla_toolbox bash -s", input=script, check=False)
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-3000:])
    return result.stdout


def test_one_up_deploys_keystone_glance_and_placement_on_h1(cloud):
    """One `up`: glance's and placement's registrations run at once and both make the `service`
    project; the loser's 409 is taken as "already there"."""
    assert cloud["up"].summary.result == "succeeded"
    on = containers(cloud["h1"])
    assert NEW_CONTAINERS | {"keystone", "mariadb", "kolla_toolbox"} <= set(on), on
    assert all(state.endswith(":running") for state in on.values()), on
    assert containers(cloud["h2"]) == {}
    # The password travels as a secret output, never in plain text in the engine's result.
    assert cloud["up"].outputs["admin_openrc"].secret


def test_a_token_is_issued(cloud):
    token = json.loads(openstack(cloud, "openstack token issue -f json"))
    assert token["id"] and token["project_id"] and token["user_id"]


def test_the_catalogue_lists_identity_image_and_placement(cloud):
    catalogue = json.loads(openstack(cloud, "openstack catalog list -f json"))
    by_type = {entry["Type"]: entry for entry in catalogue}
    assert {"identity", "image", "placement"} <= set(by_type), catalogue
    endpoints = json.loads(openstack(cloud, "openstack endpoint list -f json"))
    urls = {(e["Service Type"], e["Interface"]): e["URL"] for e in endpoints}
    assert urls[("image", "internal")] == "http://10.77.0.11:9292"
    assert urls[("placement", "internal")] == "http://10.77.0.11:8780"


def test_an_image_is_uploaded_to_glance_and_becomes_active(cloud):
    created = json.loads(
        openstack(
            cloud,
            "head -c 1048576 /dev/urandom > /tmp/kp-probe.raw\n"
            "openstack image create --disk-format raw --container-format bare "
            "--file /tmp/kp-probe.raw -f json kp-probe",
        )
    )
    assert created["status"] == "active", created
    assert created["size"] == 1048576
    listing = json.loads(openstack(cloud, "openstack image list -f json"))
    assert {(i["Name"], i["Status"]) for i in listing} == {("kp-probe", "active")}
    # The bytes are in the file store on the `glance` named volume.
    stored = cloud["h1"].ssh(f"docker exec glance_api stat -c %s /var/lib/glance/images/{created['id']}")
    assert stored.stdout.strip() == "1048576"


def test_the_placement_api_answers(cloud):
    assert json.loads(openstack(cloud, "openstack resource provider list -f json")) == []
    # The API itself, with a token from keystone: its root document names the microversions.
    root = openstack(
        cloud,
        "token=$(openstack token issue -f value -c id)\n"
        'curl -sf -H @- http://10.77.0.11:8780/ <<< "X-Auth-Token: $token"',
    )
    versions = json.loads(root)["versions"]
    assert versions[0]["id"] == "v1.0" and versions[0]["status"] == "CURRENT", versions
    provider = json.loads(openstack(cloud, "openstack resource provider create -f json kp-probe"))
    assert provider["name"] == "kp-probe"
    listing = json.loads(openstack(cloud, "openstack resource provider list -f json"))
    assert [p["name"] for p in listing] == ["kp-probe"]


def test_the_services_log_under_kolla_logs(cloud):
    """Kolla's log layout: each service writes /var/log/kolla/<service>/ in the kolla_logs volume."""
    h1 = cloud["h1"]
    for path in ("glance/glance-api.log", "placement/placement-api.log"):
        out = h1.ssh(f"docker exec fluentd test -s /var/log/kolla/{shlex.quote(path)} && echo ok", check=False)
        assert out.stdout.strip() == "ok", (path, out.stderr)
