"""Nova (Kolla's `nova` and `nova-cell` roles, 2025.1): container specs and placement on a multinode
inventory, rendered nova.conf per container, the cell set-up jobs in order, the virt_type blast radius,
scaling out compute hosts, and secrets."""

from __future__ import annotations

import copy
import itertools
import json
import shlex
import subprocess
from typing import Any

import pytest

from components.catalogue import nova, nova_cell
from tests.conftest import host, make_config, multinode_config, parse_ini, plan_of, rendered_files, volumes_of
from tests.harness import Run, run_program

TAG = "2025.1-debian-bookworm"
CONTROL = {"nova_api", "nova_metadata", "nova_scheduler", "nova_conductor", "nova_novncproxy"}
COMPUTE = {"nova_ssh", "nova_libvirt", "nova_compute"}


def multinode(**globals_: Any) -> dict[str, Any]:
    """Kolla's multinode shape (multinode_config) with nova on."""
    return multinode_config(enable_nova=True, **globals_)


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return multinode()


def _job(plan, host: str, name: str):
    return next(j for s in plan.services for j in s.jobs if (j.host, j.name) == (host, name))


def _nova_containers(run: Run) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for name, c in run.containers().items():
        if c.inputs["name"] in CONTROL | COMPUTE:
            out.setdefault(name.split("-", 1)[0], set()).add(c.inputs["name"])
    return out


# --- placement and specs -------------------------------------------------------------------------


def test_containers_on_the_hosts_kolla_puts_them(run):
    assert _nova_containers(run) == {"h1": CONTROL, "h3": COMPUTE, "h4": COMPUTE}


def test_all_in_one_runs_every_nova_container_on_its_one_host():
    config = make_config(enable_nova=True)
    assert _nova_containers(run_program(config)) == {"h1": CONTROL | COMPUTE}


def test_images_are_kollas(run):
    images = {r.inputs["name"].rsplit("/", 1)[-1] for r in run.of_type("RemoteImage") if "/nova-" in r.inputs["name"]}
    expected = ["nova-api", "nova-scheduler", "nova-conductor", "nova-novncproxy", "nova-ssh", "nova-libvirt"]
    assert images == {f"{i}:{TAG}" for i in [*expected, "nova-compute"]}


def test_nova_libvirt_is_privileged_in_the_hosts_pid_and_cgroup_namespaces(run):
    c = run.containers()["h3-nova_libvirt"]
    assert c.inputs.get("privileged") is True
    assert c.inputs["pidMode"] == "host"
    assert c.inputs["cgroupnsMode"] == "host"
    assert volumes_of(c) == {
        "/etc/kolla/nova-libvirt/:/var/lib/kolla/config_files/:ro",
        "/etc/localtime:/etc/localtime:ro",
        "/lib/modules:/lib/modules:ro",
        "/run:/run:shared",
        "/dev:/dev",
        "/sys/fs/cgroup:/sys/fs/cgroup",
        "kolla_logs:/var/log/kolla/",
        "libvirtd:/var/lib/libvirt",
        "nova_compute:/var/lib/nova/",
        "nova_libvirt_qemu:/etc/libvirt/qemu",
    }
    assert c.inputs["healthcheck"]["tests"] == ["CMD-SHELL", "virsh version --daemon"]


def test_nova_compute_is_privileged_with_the_hosts_ipc(run):
    c = run.containers()["h4-nova_compute"]
    assert c.inputs.get("privileged") is True
    assert c.inputs["ipcMode"] == "host"
    assert "pidMode" not in c.inputs
    assert "LIBGUESTFS_BACKEND=direct" in c.inputs["envs"]
    assert volumes_of(c) == {
        "/etc/kolla/nova-compute/:/var/lib/kolla/config_files/:ro",
        "/etc/localtime:/etc/localtime:ro",
        "/lib/modules:/lib/modules:ro",
        "/run:/run:shared",
        "/dev:/dev",
        "kolla_logs:/var/log/kolla/",
        "libvirtd:/var/lib/libvirt",
        "nova_compute:/var/lib/nova/",
    }
    assert c.inputs["healthcheck"]["tests"] == ["CMD-SHELL", "healthcheck_port nova-compute 5672"]


def test_nova_ssh_and_control_volumes_and_healthchecks(run):
    c = run.containers()
    assert volumes_of(c["h3-nova_ssh"]) == {
        "/etc/kolla/nova-ssh/:/var/lib/kolla/config_files/:ro",
        "/etc/localtime:/etc/localtime:ro",
        "kolla_logs:/var/log/kolla",
        "nova_compute:/var/lib/nova",
    }
    assert c["h3-nova_ssh"].inputs["healthcheck"]["tests"][1] == "healthcheck_listen sshd 8022"
    assert c["h1-nova_api"].inputs.get("privileged") is True
    assert "/lib/modules:/lib/modules:ro" in volumes_of(c["h1-nova_api"])
    assert "/dev/shm:/dev/shm" in volumes_of(c["h1-nova_scheduler"])
    assert not c["h1-nova_metadata"].inputs.get("privileged")
    checks = {name: c[f"h1-{name}"].inputs["healthcheck"]["tests"][1] for name in CONTROL}
    assert checks == {
        "nova_api": "healthcheck_curl http://10.77.0.11:8774 ",
        "nova_metadata": "healthcheck_curl http://10.77.0.11:8775 ",
        "nova_scheduler": "healthcheck_port nova-scheduler 5672",
        "nova_conductor": "healthcheck_port nova-conductor 5672",
        "nova_novncproxy": "healthcheck_curl http://10.77.0.11:6080/vnc_lite.html",
    }


def test_named_volumes_survive_destroy(run):
    for name in ("libvirtd", "nova_compute", "nova_libvirt_qemu"):
        assert run.resources[f"h3-volume-{name}"].retain_on_delete, name
    assert "h1-volume-libvirtd" not in run.resources


def test_haproxy_entries_are_kollas():
    def names(service, key):
        return {f.name: f.external for f in service.SERVICE.container(key).haproxy}

    assert names(nova, "nova-api") == {"nova_api": False, "nova_api_external": True}
    assert names(nova, "nova-metadata") == {"nova_metadata": False, "nova_metadata_external": True}
    assert names(nova_cell, "nova-novncproxy") == {"nova_novncproxy": False, "nova_novncproxy_external": True}
    metadata_external = nova.SERVICE.container("nova-metadata").haproxy[1]
    assert not metadata_external.enabled({"nova_enable_external_metadata": False})


# --- rendered files -------------------------------------------------------------------------------


def test_api_nova_conf_points_at_cell0_and_the_api_database(plan, config):
    pw = config["passwords"]
    conf = parse_ini(rendered_files(plan, "h1", "nova-api")["nova.conf"])
    assert conf["DEFAULT"]["log_file"] == "/var/log/kolla/nova/nova-api.log"
    assert conf["DEFAULT"]["transport_url"] == f"rabbit://openstack:{pw['rabbitmq_password']}@10.77.0.11:5672//"
    assert conf["database"]["connection"] == (
        f"mysql+pymysql://nova:{pw['nova_database_password']}@10.77.0.11:3306/nova_cell0"
    )
    assert conf["api_database"]["connection"] == (
        f"mysql+pymysql://nova_api:{pw['nova_api_database_password']}@10.77.0.11:3306/nova_api"
    )
    assert conf["placement"]["username"] == "placement"
    assert conf["placement"]["password"] == pw["placement_keystone_password"]
    assert conf["placement"]["auth_url"] == "http://10.77.0.11:5000"
    assert conf["keystone_authtoken"]["password"] == pw["nova_keystone_password"]
    assert conf["oslo_messaging_rabbit"]["heartbeat_in_pthread"] == "True"
    assert conf["oslo_messaging_rabbit"]["processname"] == "nova-api"
    assert conf["scheduler"]["discover_hosts_in_cells_interval"] == "-1"
    assert conf["glance"]["api_servers"] == "http://10.77.0.11:9292"
    assert not conf.has_section("libvirt")


def test_neutron_section_as_kolla_renders_it(plan, config):
    pw = config["passwords"]
    for name, key in (("h1", "nova-api"), ("h1", "nova-conductor"), ("h3", "nova-compute")):
        section = parse_ini(rendered_files(plan, name, key)["nova.conf"])["neutron"]
        assert section["username"] == "neutron", key
        assert section["password"] == pw["neutron_keystone_password"], key
        assert section["metadata_proxy_shared_secret"] == pw["metadata_secret"], key
        assert section["auth_url"] == "http://10.77.0.11:5000", key
        assert section["valid_interfaces"] == "internal", key


def test_cell_nova_conf_per_container(plan, config):
    pw = config["passwords"]
    cell_db = f"mysql+pymysql://nova:{pw['nova_database_password']}@10.77.0.11:3306/nova"
    conductor = parse_ini(rendered_files(plan, "h1", "nova-conductor")["nova.conf"])
    assert conductor["database"]["connection"] == cell_db
    assert conductor["api_database"]["connection"].endswith("@10.77.0.11:3306/nova_api")
    assert conductor["DEFAULT"]["transport_url"] == f"rabbit://openstack:{pw['rabbitmq_password']}@10.77.0.11:5672//"
    assert conductor["scheduler"]["max_attempts"] == "10"
    novnc = parse_ini(rendered_files(plan, "h1", "nova-novncproxy")["nova.conf"])
    assert novnc["database"]["connection"] == cell_db
    assert not novnc.has_section("api_database")
    compute = parse_ini(rendered_files(plan, "h3", "nova-compute")["nova.conf"])
    assert not compute.has_section("database") and not compute.has_section("api_database")
    assert compute["DEFAULT"]["compute_driver"] == "libvirt.LibvirtDriver"
    assert compute["DEFAULT"]["my_ip"] == "10.77.0.13"
    assert compute["placement"]["password"] == pw["placement_keystone_password"]
    assert compute["vnc"]["server_listen"] == "10.77.0.13"
    assert compute["vnc"]["novncproxy_base_url"] == "http://10.77.0.11:6080/vnc_lite.html"
    # Kolla sets the console's public URL on compute hosts only.
    assert "novncproxy_base_url" not in conductor["vnc"]


def test_libvirt_section_only_in_nova_compute(plan):
    compute = parse_ini(rendered_files(plan, "h4", "nova-compute")["nova.conf"])
    assert compute["libvirt"]["virt_type"] == "kvm"
    assert compute["libvirt"]["connection_uri"] == "qemu+tcp://10.77.0.14/system"
    assert compute["libvirt"]["live_migration_inbound_addr"] == "10.77.0.14"
    assert compute["workarounds"]["skip_cpu_compare_on_dest"] == "true"
    for name, key in (
        ("h1", "nova-api"),
        ("h1", "nova-scheduler"),
        ("h1", "nova-conductor"),
        ("h1", "nova-novncproxy"),
    ):
        assert not parse_ini(rendered_files(plan, name, key)["nova.conf"]).has_section("libvirt"), key


def test_compute_files_and_config_json(plan, config):
    files = rendered_files(plan, "h3", "nova-compute")
    assert files["compute_id"] == nova_cell.to_uuid("h3")
    assert files["hostnqn"].strip() == f"nqn.2014-08.org.nvmexpress:uuid:{nova_cell.to_uuid('h3')}"
    assert f"password={config['passwords']['libvirt_sasl_password']}\n" in files["auth.conf"]
    document = json.loads(files["config.json"])
    assert document["command"] == "nova-compute"
    assert {f["dest"] for f in document["config_files"]} == {
        "/etc/nova/nova.conf",
        "/var/lib/nova/compute_id",
        "/etc/nvme/hostnqn",
        "/var/lib/nova/.config/libvirt/auth.conf",
    }


def test_libvirt_and_sshrendered_files(plan, config):
    libvirt = rendered_files(plan, "h3", "nova-libvirt")
    assert 'listen_addr = "10.77.0.13"\n' in libvirt["libvirtd.conf"]
    assert 'auth_tcp = "sasl"\n' in libvirt["libvirtd.conf"]
    assert 'tcp_port = "16509"\n' in libvirt["libvirtd.conf"]
    assert libvirt["sasl.conf"] == "mech_list: DIGEST-MD5\nsasldb_path: /etc/libvirt/passwd.db\n"
    # The SASL user nova_compute logs in as is created from auth.conf before libvirtd starts.
    assert json.loads(libvirt["config.json"])["command"] == "/usr/bin/nova-libvirt-startup.sh"
    startup = libvirt["nova-libvirt-startup.sh"]
    assert "| saslpasswd2 -c -p -a libvirt nova\n" in startup
    assert startup.endswith("exec /usr/local/bin/kolla_nova_libvirt_start\n")
    assert config["passwords"]["libvirt_sasl_password"] not in startup
    assert f"password={config['passwords']['libvirt_sasl_password']}\n" in libvirt["auth.conf"]
    ssh = rendered_files(plan, "h3", "nova-ssh")
    assert ssh["sshd_config"].startswith("Port 8022\nListenAddress 10.77.0.13\n")
    assert "Subsystem       sftp    /usr/lib/openssh/sftp-server" in ssh["sshd_config"]
    assert ssh["id_rsa"].strip() == config["passwords"]["nova_ssh_key"]["private_key"].strip()
    assert ssh["id_rsa.pub"].strip() == config["passwords"]["nova_ssh_key"]["public_key"].strip()


def test_nova_api_runs_under_uwsgi_like_kolla(plan):
    files = rendered_files(plan, "h1", "nova-api")
    ini = parse_ini(files["nova-api-uwsgi.ini"])["uwsgi"]
    assert ini["http"] == "10.77.0.11:8774"
    assert ini["module"] == "nova.wsgi.osapi_compute:application"
    assert ini["logfile-chmod"] == "644"
    metadata = parse_ini(rendered_files(plan, "h1", "nova-metadata")["nova-metadata-uwsgi.ini"])["uwsgi"]
    assert metadata["http"] == "10.77.0.11:8775"
    assert metadata["module"] == "nova.wsgi.metadata:application"
    assert json.loads(files["config.json"])["command"] == "uwsgi /etc/nova/nova-api-uwsgi.ini"


# --- jobs -----------------------------------------------------------------------------------------


def test_cell_setup_jobs_in_kollas_order(run):
    r = run.resources
    chain = [
        "h1-nova_api_database",
        "h1-nova_cell0_database",
        "h1-nova_api_bootstrap",
        "h1-nova_register",
    ]
    for before, after in itertools.pairwise(chain):
        assert before in r[after].depends_on, (before, after)
    for name in CONTROL - {"nova_conductor", "nova_novncproxy"}:
        assert chain[-1] in r[f"h1-{name}"].depends_on, name
    # map_cell0 and create_cell need the running API; the scheduler reloads its cells afterwards.
    assert {"h1-nova_api", "h1-nova_scheduler"} <= set(r["h1-nova_cell_mappings"].depends_on)
    assert "h1-nova_cell_mappings" in r["h1-nova_refresh_scheduler_cell_cache"].depends_on
    assert "placement" in run.services_waited_for("h1-nova_api_database")
    # nova-cell waits for all of nova, then: cell database, cell db sync, containers, discovery.
    assert "nova" in run.services_waited_for("h1-nova_cell_database")
    assert "h1-nova_cell_database" in r["h1-nova_cell_bootstrap"].depends_on
    for name in ("h1-nova_conductor", "h3-nova_compute", "h4-nova_libvirt"):
        assert "h1-nova_cell_bootstrap" in r[name].depends_on, name
    # Each compute host's virt_type check follows that host's containers; discovery follows the checks
    # and the conductor it runs in.
    for compute in ("h3", "h4"):
        check = set(r[f"{compute}-nova_libvirt_virt_type"].depends_on)
        assert {f"{compute}-nova_compute", f"{compute}-nova_libvirt"} <= check, compute
        assert not {d for d in check if d.startswith(("h3-", "h4-")) and not d.startswith(compute)}, compute
    assert {"h3-nova_libvirt_virt_type", "h4-nova_libvirt_virt_type", "h1-nova_conductor"} <= set(
        r["h1-nova_discover_hosts"].depends_on
    )


def test_the_virt_type_is_checked_on_each_compute_host_in_its_libvirt(plan):
    hosts = {j.host for s in plan.services for j in s.jobs if j.name == "nova_libvirt_virt_type"}
    assert hosts == {"h3", "h4"}
    check = _job(plan, "h3", "nova_libvirt_virt_type")
    assert "docker exec -i nova_libvirt" in check.script
    assert 'virt_type="kvm"' in check.script


def _run_check(
    tmp_path, plan, virsh_answer: str, virsh_rc: int, kvm_device: bool = False
) -> subprocess.CompletedProcess[str]:
    """The rendered check script (the part after `bash -c`) under bash, with a stand-in virsh and a
    stand-in /dev/kvm (present or not), whatever the machine running the tests has."""
    script = _job(plan, "h3", "nova_libvirt_virt_type").script
    body = shlex.split(script.split("docker exec -i nova_libvirt ", 1)[1])[-1]
    assert body.count("/dev/kvm") == 2  # the test and the message: both follow the stand-in
    device = tmp_path / "kvm"
    if kvm_device:
        device.touch()
    body = body.replace("/dev/kvm", str(device))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    virsh = bin_dir / "virsh"
    answer = f"printf '%s\\n' {shlex.quote(virsh_answer)} >&2\nexit {virsh_rc}\n"
    virsh.write_text('#!/bin/sh\ncase "$*" in *" version") exit 0;; esac\n' + answer)
    virsh.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    return subprocess.run(["bash", "-c", body], capture_output=True, text=True, env=env, check=False)


def test_kvm_without_hardware_support_fails_the_deployment_saying_why(tmp_path, plan):
    answer = "error: invalid argument: the accel 'kvm' is not supported by '/usr/bin/qemu-system-x86_64' on this host"
    result = _run_check(tmp_path, plan, answer, 1)
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert "nova_compute_virt_type is kvm, but libvirt on h3 cannot run kvm guests" in message
    assert "the accel 'kvm' is not supported" in message
    assert "set nova_compute_virt_type: qemu" in message


def test_with_dev_kvm_present_the_check_still_fails_but_does_not_blame_it(tmp_path, plan):
    answer = "error: internal error: Failed to probe QEMU binary"
    result = _run_check(tmp_path, plan, answer, 1, kvm_device=True)
    assert result.returncode == 1
    assert "Failed to probe QEMU binary" in result.stderr
    assert "no " + str(tmp_path / "kvm") not in result.stderr
    assert "set nova_compute_virt_type: qemu" not in " ".join(result.stderr.split())


def test_a_host_that_runs_the_virt_type_passes_the_check(tmp_path, plan):
    result = _run_check(tmp_path, plan, "", 0)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "libvirt on h3 runs kvm guests"


def test_virt_types_libvirt_does_not_run_here_are_not_checked():
    plan = plan_of(multinode(nova_compute_virt_type="vmware"))
    assert not [j for s in plan.services for j in s.jobs if j.name == "nova_libvirt_virt_type"]


def test_bootstrap_containers_are_kollas(plan):
    api = _job(plan, "h1", "nova_api_bootstrap")
    assert "-e KOLLA_UPGRADE=" in api.script and f"nova-api:{TAG}" in api.script
    assert "/etc/kolla/nova-api/:/var/lib/kolla/config_files/:ro" in api.script
    cell = _job(plan, "h1", "nova_cell_bootstrap")
    assert "-e KOLLA_UPGRADE=" in cell.script and f"nova-conductor:{TAG}" in cell.script


def test_cell_mappings_get_their_urls_on_stdin_only(plan, config):
    pw = config["passwords"]
    job = _job(plan, "h1", "nova_cell_mappings")
    assert job.stdin.splitlines() == [
        f"mysql+pymysql://nova:{pw['nova_database_password']}@10.77.0.11:3306/nova_cell0",
        f"mysql+pymysql://nova:{pw['nova_database_password']}@10.77.0.11:3306/nova",
        f"rabbit://openstack:{pw['rabbitmq_password']}@10.77.0.11:5672//",
    ]
    assert "docker exec -i -u nova nova_api" in job.script
    for word in ("map_cell0", "create_cell", "update_cell", "list_cells --verbose"):
        assert word in job.script, word
    assert pw["nova_database_password"] not in job.script and pw["rabbitmq_password"] not in job.script


def test_discover_hosts_waits_for_every_compute_host_in_the_first_conductor(plan):
    job = _job(plan, "h1", "nova_discover_hosts")
    assert "docker exec -i nova_conductor" in job.script
    assert "discover_hosts --by-service --cell_uuid" in job.script
    assert 'expected="h3 h4"' in job.script
    assert "compute=h3,h4" in job.script.splitlines()[0]
    assert '"$tries" -ge 20' in job.script and "sleep 10" in job.script


def test_keystone_registration_is_kollas(plan, config):
    params = json.loads(_job(plan, "h1", "nova_register").stdin)
    assert params["services"] == [
        {
            "name": "nova",
            "type": "compute",
            "description": "OpenStack Compute Service",
            "endpoints": {"internal": "http://10.77.0.11:8774/v2.1", "public": "http://10.77.0.11:8774/v2.1"},
        }
    ]
    assert [(u["user"], u["project"], u["role"]) for u in params["users"]] == [("nova", "service", "admin")]
    assert params["users"][0]["password"] == config["passwords"]["nova_keystone_password"]
    assert params["user_roles"] == [{"user": "nova", "project": "service", "role": "service"}]


# --- blast radius ---------------------------------------------------------------------------------


def _inputs(run: Run) -> tuple[dict[str, Any], dict[str, Any]]:
    containers = {n: r.inputs for n, r in run.containers().items()}
    jobs = {
        n: r.inputs
        for n, r in run.resources.items()
        if r.type == "command:remote:Command"
        and r.parent in {"nova", "nova-cell", "placement"}
        and not n.endswith(("-config", "-serving"))  # config delivery and gates follow their containers
    }
    return containers, jobs


def _diff(a: dict[str, Any], b: dict[str, Any]) -> tuple[set[str], set[str], set[str]]:
    return {n for n in a.keys() & b.keys() if a[n] != b[n]}, b.keys() - a.keys(), a.keys() - b.keys()


def test_virt_type_changes_exactly_nova_compute_on_each_compute_host(run, config):
    other = copy.deepcopy(config)
    other["globals"]["nova_compute_virt_type"] = "qemu"
    before, after = _inputs(run)[0], _inputs(run_program(other))[0]
    assert _diff(before, after) == ({"h3-nova_compute", "h4-nova_compute"}, set(), set())


def test_adding_a_compute_host_adds_its_containers_and_check_and_reruns_only_discovery(run, config):
    bigger = copy.deepcopy(config)
    bigger["inventory"]["hosts"]["h5"] = host("10.77.0.15")
    bigger["inventory"]["groups"]["compute"] = ["h3", "h4", "h5"]
    (containers_a, jobs_a), (containers_b, jobs_b) = _inputs(run), _inputs(run_program(bigger))
    added = {f"h5-{name}" for name in ("kolla_toolbox", "cron", "fluentd", *COMPUTE)}
    assert _diff(containers_a, containers_b) == (set(), added, set())
    assert {"h1-nova_cell_mappings", "h1-nova_cell_bootstrap", "h1-placement_database"} <= jobs_a.keys()
    assert _diff(jobs_a, jobs_b) == ({"h1-nova_discover_hosts"}, {"h5-nova_libvirt_virt_type"}, set())


# --- secrets --------------------------------------------------------------------------------------


def test_passwords_only_in_secret_inputs(run, config):
    pw = config["passwords"]
    keys = [
        "nova_database_password",
        "nova_api_database_password",
        "nova_keystone_password",
        "placement_keystone_password",
        "neutron_keystone_password",
        "metadata_secret",
        "libvirt_sasl_password",
        "rabbitmq_password",
    ]
    secrets = [pw[k] for k in keys] + [pw["nova_ssh_key"]["private_key"].splitlines()[1]]
    for resource in run.resources.values():
        for key, value in resource.inputs.items():
            if key in resource.secret_inputs:
                continue
            text = json.dumps(value, default=str)
            assert not any(s in text for s in secrets), f"{resource.name}.{key} carries a password in plain text"
    for name in ("h1-nova_cell_mappings", "h3-nova-libvirt-config", "h1-nova-api-config", "h3-nova-compute-config"):
        assert "stdin" in run.resources[name].secret_inputs, name
    assert not any("envs" in c.secret_inputs for n, c in run.containers().items() if "nova" in n)
