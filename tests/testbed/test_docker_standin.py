"""The docker stand-in plugin (testbed/standins/docker_*.py).

Unit tests of its check/diff/argument logic run anywhere. The end-to-end tests drive it through the
real engine with Automation API inline programs against a test-bed host's dockerd over SSH; they
skip (or fail, with KOLLA_PULUMI_REQUIRE_TESTBED=1) when the engine, the hosts or busybox are missing.
"""

from __future__ import annotations

import base64
import io
import json
import shlex
import subprocess
import tarfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from testbed.standins.docker_cli import RegistryAuth, SshTarget, docker_config, ssh_wrapper
from testbed.standins.docker_container import upload_tar
from testbed.standins.docker_container_args import create_args, outputs, update_args
from testbed.standins.docker_objects import network_args, repo_digest
from testbed.standins.docker_schema import CONTAINER, NETWORK, REMOTE_IMAGE, VOLUME, check, diff
from testbed.standins.docker_values import UNKNOWN, plain_map, property_map

# --- check ---------------------------------------------------------------------------------------


def test_check_fills_the_upstream_defaults() -> None:
    inputs, failures = check(CONTAINER, {"image": "busybox", "name": "c"})
    assert failures == []
    assert inputs["mustRun"] is True
    assert inputs["restart"] == "no"
    assert inputs["networkMode"] == "bridge"
    assert inputs["start"] is True
    assert inputs["waitTimeout"] == 60


def test_check_keeps_what_the_program_set() -> None:
    inputs, _ = check(CONTAINER, {"image": "busybox", "networkMode": "host", "mustRun": False})
    assert inputs["networkMode"] == "host"
    assert inputs["mustRun"] is False


def test_check_fills_nested_defaults() -> None:
    inputs, failures = check(CONTAINER, {"image": "i", "healthcheck": {"tests": ["CMD-SHELL", "true"]}})
    assert failures == []
    assert inputs["healthcheck"]["interval"] == "0s"
    assert inputs["healthcheck"]["retries"] == 0


def test_check_refuses_an_unimplemented_input_by_name() -> None:
    _, failures = check(CONTAINER, {"image": "i", "gpus": "all"})
    assert [prop for prop, _ in failures] == ["gpus"]
    assert "not supported by the docker stand-in" in failures[0][1]


def test_check_refuses_an_unknown_input_and_nested_field() -> None:
    _, failures = check(CONTAINER, {"image": "i", "colour": "red", "labels": [{"label": "a", "valu": "b"}]})
    props = {prop for prop, _ in failures}
    assert props == {"colour", "labels[0].valu", "labels[0].value"}


def test_check_refuses_a_refused_nested_field() -> None:
    mount = {"target": "/x", "type": "volume", "volumeOptions": {"subpath": "a"}}
    _, failures = check(CONTAINER, {"image": "i", "mounts": [mount]})
    assert failures and failures[0][0] == "mounts[0].volumeOptions.subpath"


@pytest.mark.parametrize(
    ("inputs", "prop"),
    [
        ({"image": "i", "restart": "sometimes"}, "restart"),
        ({"image": "i", "command": ["sleep", ""]}, "command"),
        ({"image": "i", "uploads": [{"file": "/a"}]}, "uploads[0]"),
        ({"image": "i", "privileged": "yes"}, "privileged"),
        ({"image": "i", "memory": 1.5}, "memory"),
        ({"image": "i", "envs": "A=1"}, "envs"),
        ({"name": "no-image"}, "image"),
    ],
)
def test_check_refuses_bad_values(inputs: dict[str, Any], prop: str) -> None:
    _, failures = check(CONTAINER, inputs)
    assert prop in [p for p, _ in failures]


def test_check_lets_unknown_values_through() -> None:
    _, failures = check(CONTAINER, {"image": UNKNOWN, "envs": ["A=1", UNKNOWN]})
    assert failures == []


def test_check_other_resources() -> None:
    assert check(REMOTE_IMAGE, {"name": "r/i:1"})[1] == []
    assert [p for p, _ in check(REMOTE_IMAGE, {"name": "r", "build": {"context": "."}})[1]] == ["build"]
    assert check(VOLUME, {"name": "v", "labels": [{"label": "a", "value": "b"}]})[1] == []
    assert check(NETWORK, {"name": "n", "ipamConfigs": [{"subnet": "10.1.0.0/24"}]})[1] == []


# --- diff ----------------------------------------------------------------------------------------


def _container(**extra: Any) -> dict[str, Any]:
    return check(CONTAINER, {"image": "busybox", "name": "c", "networkMode": "host", **extra})[0]


def test_no_change_is_no_diff() -> None:
    assert not diff(CONTAINER, _container(envs=["A=1"]), _container(envs=["A=1"])).changes


def test_envs_change_replaces() -> None:
    result = diff(CONTAINER, _container(envs=["A=1"]), _container(envs=["A=2"]))
    assert result.changed == ["envs"]
    assert result.replaces == ["envs"]


def test_restart_change_updates_in_place() -> None:
    result = diff(CONTAINER, _container(), _container(restart="unless-stopped"))
    assert result.changed == ["restart"]
    assert result.replaces == []


@pytest.mark.parametrize("key", ["healthcheck", "tmpfs", "init"])
def test_stored_only_inputs_update_without_replace(key: str) -> None:
    value = {"healthcheck": {"tests": ["CMD", "true"]}, "tmpfs": {"/run": ""}, "init": True}[key]
    result = diff(CONTAINER, _container(), check(CONTAINER, {**_container(), key: value})[0])
    assert result.changed == [key]
    assert result.replaces == []


def test_set_inputs_ignore_order_lists_do_not() -> None:
    assert not diff(CONTAINER, _container(envs=["A=1", "B=2"]), _container(envs=["B=2", "A=1"])).changes
    assert diff(CONTAINER, _container(command=["a", "b"]), _container(command=["b", "a"])).replaces == ["command"]


def test_dropping_a_computed_input_is_no_change_but_dropping_others_is() -> None:
    old = _container(envs=["A=1"], dns=["1.1.1.1"])
    new = dict(old)
    del new["envs"]
    assert not diff(CONTAINER, old, new).changes
    del new["dns"]
    assert diff(CONTAINER, old, new).replaces == ["dns"]


def test_empty_and_unset_are_the_same() -> None:
    assert not diff(CONTAINER, _container(), _container(dns=[])).changes


def test_unknown_force_new_input_replaces() -> None:
    assert diff(CONTAINER, _container(), {**_container(), "image": UNKNOWN}).replaces == ["image"]


def test_must_run_false_to_true_is_an_update() -> None:
    result = diff(CONTAINER, _container(mustRun=False), _container())
    assert result.changed == ["mustRun"]
    assert result.replaces == []


def test_remote_image_pull_triggers_replace_keep_locally_does_not() -> None:
    old = check(REMOTE_IMAGE, {"name": "r/i:1", "pullTriggers": ["a"]})[0]
    assert diff(REMOTE_IMAGE, old, {**old, "pullTriggers": ["b"]}).replaces == ["pullTriggers"]
    assert diff(REMOTE_IMAGE, old, {**old, "keepLocally": True}).replaces == []


def test_volume_and_network_changes_replace() -> None:
    vol = check(VOLUME, {"name": "v"})[0]
    assert diff(VOLUME, vol, {**vol, "driverOpts": {"a": "b"}}).replaces == ["driverOpts"]
    net = check(NETWORK, {"name": "n"})[0]
    assert diff(NETWORK, net, {**net, "internal": True}).replaces == ["internal"]


# --- arguments and outputs -----------------------------------------------------------------------


def _args(**extra: Any) -> list[str]:
    return create_args(_container(**extra), env_file="/tmp/env")


def test_create_args_basic_shape() -> None:
    args = _args(command=["sleep", "60"], restart="on-failure", maxRetryCount=3)
    assert args[-4:] == ["--", "busybox", "sleep", "60"]
    assert args[args.index("--name") : args.index("--name") + 2] == ["--name", "c"]
    assert "--network" in args and "host" in args
    assert "on-failure:3" in args
    assert "--env-file" in args


def test_create_args_envs_never_on_the_command_line() -> None:
    assert "A=secret" not in " ".join(_args(envs=["A=secret"]))


def test_create_args_volumes_mounts_caps_ulimits() -> None:
    args = _args(
        volumes=[
            {"hostPath": "/etc/kolla/x", "containerPath": "/etc/x", "readOnly": True},
            {"volumeName": "kolla_logs", "containerPath": "/var/log/kolla"},
            {"fromContainer": "other"},
        ],
        mounts=[{"type": "bind", "source": "/run", "target": "/run", "bindOptions": {"propagation": "shared"}}],
        capabilities={"adds": ["NET_ADMIN"], "drops": ["ALL"]},
        ulimits=[{"name": "nofile", "soft": 1024, "hard": 2048}],
        labels=[{"label": "kolla", "value": "yes"}],
        securityOpts=["label=disable"],
        pidMode="host",
        privileged=True,
    )
    text = shlex.join(args)
    assert "--volume /etc/kolla/x:/etc/x:ro" in text
    assert "--volume kolla_logs:/var/log/kolla" in text
    assert "--volumes-from other" in text
    assert "--mount type=bind,target=/run,source=/run,bind-propagation=shared" in text
    assert "--cap-add NET_ADMIN --cap-drop ALL" in text
    assert "--ulimit nofile=1024:2048" in text
    assert "--label kolla=yes" in text
    assert "--pid host" in text and "--privileged" in text


def test_create_args_healthcheck_and_entrypoint() -> None:
    args = _args(
        healthcheck={"tests": ["CMD-SHELL", "curl -f localhost"], "interval": "30s", "retries": 3},
        entrypoints=["/bin/sh", "-c"],
        command=["echo hi"],
    )
    text = shlex.join(args)
    assert "--health-cmd 'curl -f localhost' --health-interval 30s --health-retries 3" in text
    assert args[-4:] == ["--", "busybox", "-c", "echo hi"]  # the entrypoint's tail leads the command
    assert "--entrypoint /bin/sh" in text


def test_update_args() -> None:
    assert update_args(_container(restart="always", cpuShares=512)) == ["--restart", "always", "--cpu-shares", "512"]


def test_outputs_fill_computed_and_echo_inputs() -> None:
    inspect = {
        "Id": "abc",
        "Name": "/c",
        "Config": {"Hostname": "h1", "Cmd": ["sleep"], "Entrypoint": None},
        "HostConfig": {"NetworkMode": "host", "RestartPolicy": {"Name": "no"}, "LogConfig": {"Type": "json-file"}},
        "State": {"Running": False, "ExitCode": 3},
        "NetworkSettings": {"Networks": {"host": {"IPAddress": ""}}},
    }
    out = outputs(_container(envs=["A=1"]), inspect)
    assert out["hostname"] == "h1"
    assert out["logDriver"] == "json-file"
    assert out["envs"] == ["A=1"]
    assert out["exitCode"] == 3
    assert out["networkDatas"][0]["networkName"] == "host"


def test_upload_tar_modes() -> None:
    tar = upload_tar(
        [
            {"file": "/etc/a", "content": "x", "executable": False},
            {"file": "/bin/b", "contentBase64": base64.b64encode(b"yy").decode(), "executable": True},
        ]
    )
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        members = {m.name: m for m in archive.getmembers()}
    assert members["etc/a"].mode == 0o644 and members["etc/a"].size == 1
    assert members["bin/b"].mode == 0o744 and members["bin/b"].size == 2


def test_network_args() -> None:
    inputs = check(NETWORK, {"name": "n", "internal": True, "ipamConfigs": [{"subnet": "10.9.0.0/24"}]})[0]
    assert network_args(inputs) == ["--internal", "--subnet", "10.9.0.0/24"]


def test_repo_digest_picks_the_repository() -> None:
    image = {"RepoDigests": ["other/x@sha256:1", "10.77.0.1:5000/a/b@sha256:2"]}
    assert repo_digest("10.77.0.1:5000/a/b:tag", image) == "10.77.0.1:5000/a/b@sha256:2"


def test_ssh_wrapper_puts_provider_options_first() -> None:
    script = ssh_wrapper("/usr/bin/ssh", ["-i", "/k ey", "-o", "StrictHostKeyChecking=yes"], Path("/tmp/d"))
    line = script.splitlines()[1]
    assert line.startswith("exec /usr/bin/ssh -i '/k ey' -o StrictHostKeyChecking=yes -o ControlMaster=auto")
    assert line.endswith('"$@"')
    assert SshTarget.parse("ssh://root@10.77.0.11:22").args() == ["-l", "root", "-p", "22", "--", "10.77.0.11"]


def test_registry_auth_config() -> None:
    auths = [RegistryAuth.from_input({"address": "r:5000", "username": "u", "password": "p"})]
    assert docker_config(auths) == {"auths": {"r:5000": {"auth": base64.b64encode(b"u:p").decode()}}}


def test_values_round_trip_keeps_secrets_top_level() -> None:
    props = property_map({"envs": ["A=1"], "memory": 64, "name": "c"}, {"envs"})
    assert props["envs"].is_secret and not props["name"].is_secret
    assert plain_map(props) == {"envs": ["A=1"], "memory": 64, "name": "c"}


# --- end to end ----------------------------------------------------------------------------------

PROJECT = "standin-docker"
IMAGE_REPO = "standin-test/busybox"


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kwargs)


@dataclass
class Bed:
    """One test-bed host, its pinned ssh options, and a pushed busybox image."""

    host: Any
    ssh_opts: list[str]
    image: str
    state_dir: Path
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def docker_host(self) -> str:
        return f"ssh://{self.host.user}@{self.host.address}:{self.host.port}"

    def on_host(self, *command: str) -> subprocess.CompletedProcess[str]:
        return _run(self.host.ssh_command(*command))

    def inspect(self, name: str) -> dict[str, Any] | None:
        done = self.on_host("docker", "inspect", name)
        return json.loads(done.stdout)[0] if done.returncode == 0 else None


def _registry_has(repo: str, tag: str) -> bool:
    from testbed import registry

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{registry.URL}/v2/{repo}/tags/list", timeout=5) as resp:
            return tag in (json.load(resp).get("tags") or [])
    except OSError:
        return False


def _busybox_rootfs() -> bytes:
    """A tar of a busybox-static root file system: the smallest image that runs `sleep`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add("/bin/busybox", "bin/busybox")
        for applet in ("sh", "sleep", "true", "false", "echo", "cat", "env"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return buf.getvalue()


def _push_busybox(host: Any, image: str) -> None:
    """Import the rootfs into the host's engine and push it to the test-bed registry."""
    cmd = host.ssh_command("docker", "import", "-", image)
    imported = subprocess.run(cmd, input=_busybox_rootfs(), capture_output=True, timeout=120)
    assert imported.returncode == 0, imported.stderr.decode()
    done = _run(host.ssh_command("docker", "push", image))
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Bed:
    from testbed import env, registry
    from testbed.hosts import hosts

    env.require(env.engine_built(), "the Pulumi engine is not built (python -m testbed.engine)")
    found = hosts()
    env.require(bool(found), "no test-bed hosts (python -m testbed.hosts up)")
    env.require(registry.responding(), f"no registry at {registry.URL} (python -m testbed.hosts up)")
    env.require(Path("/bin/busybox").exists(), "no /bin/busybox (apt-get install busybox-static)")
    host = found[0]
    env.require(_run(host.ssh_command("true")).returncode == 0, f"cannot ssh to {host.address}")
    state_dir = tmp_path_factory.mktemp("docker-standin")
    known_hosts = state_dir / "known_hosts"
    known_hosts.write_text(f"{host.address} {host.host_key}\n")
    ssh_opts = ["-i", str(host.private_key_path), "-o", "StrictHostKeyChecking=yes"]
    ssh_opts += ["-o", f"UserKnownHostsFile={known_hosts}"]
    image = f"{registry.ADDRESS}/{IMAGE_REPO}:1"
    if not _registry_has(IMAGE_REPO, "1"):
        _push_busybox(host, image)
    return Bed(host=host, ssh_opts=ssh_opts, image=image, state_dir=state_dir)


class Stack:
    """An Automation API stack whose inline program builds what `spec` says, on one provider."""

    def __init__(self, bed: Bed, name: str, program: Callable[[Any], None]) -> None:
        from pulumi import automation as auto

        from testbed.env import pulumi_command, pulumi_env

        self.bed, self.program = bed, program
        opts = auto.LocalWorkspaceOptions(
            pulumi_home=str(bed.state_dir / "home"),
            env_vars=pulumi_env(bed.state_dir),
            project_settings=auto.ProjectSettings(
                name=PROJECT,
                runtime="python",
                backend=auto.ProjectBackend(url=(bed.state_dir / "backend").as_uri()),
            ),
            pulumi_command=pulumi_command(bed.state_dir),
        )
        self.stack = auto.create_or_select_stack(name, PROJECT, self._program, opts=opts)

    def _program(self) -> None:
        import pulumi_docker as docker

        provider = docker.Provider("h1", host=self.bed.docker_host, ssh_opts=self.bed.ssh_opts)
        self.program(provider)

    def timed(self, what: str, action: Callable[[], Any]) -> Any:
        start = time.monotonic()
        result = action()
        self.bed.timings[what] = round(time.monotonic() - start, 2)
        return result

    def up(self) -> Any:
        return self.stack.up(on_output=lambda _: None)

    def preview(self) -> Any:
        return self.stack.preview(on_output=lambda _: None)

    def close(self) -> None:
        self.stack.destroy(on_output=lambda _: None)
        self.stack.workspace.remove_stack(self.stack.name)


@pytest.fixture
def names(bed: Bed) -> Iterator[Callable[[str], str]]:
    """Unique container names; whatever the test leaves behind on the host is removed."""
    made: list[str] = []
    prefix = f"standin-test-{uuid.uuid4().hex[:6]}"

    def name(suffix: str) -> str:
        made.append(f"{prefix}-{suffix}")
        return made[-1]

    yield name
    if made:
        bed.on_host("docker", "rm", "-f", *made)


def _containers(bed: Bed, spec: dict[str, dict[str, Any]]) -> Callable[[Any], None]:
    """A program with one busybox `sleep` container per entry of spec (name -> extra inputs)."""

    def program(provider: Any) -> None:
        import pulumi
        import pulumi_docker as docker

        for name, extra in spec.items():
            # A callable value is made inside the program run (Outputs belong to its event loop).
            extra = {k: v() if callable(v) else v for k, v in extra.items()}
            args = {"image": bed.image, "command": ["sleep", "3600"], "network_mode": "host", **extra}
            opts = pulumi.ResourceOptions(provider=provider, delete_before_replace=True)
            docker.Container(name, name=name, opts=opts, **args)

    return program


@pytest.mark.e2e
def test_container_create_no_change_replace_update_delete(bed: Bed, names: Callable[[str], str]) -> None:
    a, b = names("a"), names("b")
    spec: dict[str, dict[str, Any]] = {a: {"envs": ["GREETING=hello"]}, b: {}}
    stack = Stack(bed, f"lifecycle-{uuid.uuid4().hex[:6]}", _containers(bed, spec))
    try:
        stack.timed("preview (create 2)", stack.preview)
        up = stack.timed("up (create 2)", stack.up)
        assert up.summary.resource_changes == {"create": 4}  # stack, provider, 2 containers
        first = bed.inspect(a)
        assert first is not None and first["State"]["Running"]
        assert "GREETING=hello" in first["Config"]["Env"]

        again = stack.timed("preview (no change)", stack.preview)
        assert set(again.change_summary) == {"same"}

        spec[a]["envs"] = ["GREETING=bonjour"]
        changes = stack.timed("preview (1 replace)", stack.preview).change_summary
        assert changes.get("replace") == 1 and "update" not in changes
        stack.timed("up (1 replace)", stack.up)
        second = bed.inspect(a)
        assert second is not None and second["Id"] != first["Id"]
        assert "GREETING=bonjour" in second["Config"]["Env"]

        spec[a]["restart"] = "unless-stopped"
        changes = stack.preview().change_summary
        assert changes.get("update") == 1 and "replace" not in changes
        stack.timed("up (1 update)", stack.up)
        third = bed.inspect(a)
        assert third is not None and third["Id"] == second["Id"]
        assert third["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
        assert set(stack.preview().change_summary) == {"same"}
    finally:
        stack.timed("destroy (2)", stack.close)
    assert bed.inspect(a) is None and bed.inspect(b) is None
    print("timings:", bed.timings)


@pytest.mark.e2e
def test_refresh_after_manual_removal_recreates(bed: Bed, names: Callable[[str], str]) -> None:
    a = names("gone")
    stack = Stack(bed, f"vanished-{uuid.uuid4().hex[:6]}", _containers(bed, {a: {}}))
    try:
        stack.up()
        assert bed.on_host("docker", "rm", "-f", a).returncode == 0
        stack.stack.refresh(on_output=lambda _: None)
        assert stack.preview().change_summary.get("create") == 1
        stack.up()
        found = bed.inspect(a)
        assert found is not None and found["State"]["Running"]
    finally:
        stack.close()


@pytest.mark.e2e
def test_stopped_container_is_started_again(bed: Bed, names: Callable[[str], str]) -> None:
    a = names("stopped")
    stack = Stack(bed, f"stopped-{uuid.uuid4().hex[:6]}", _containers(bed, {a: {}}))
    try:
        stack.up()
        before = bed.inspect(a)
        assert before is not None
        assert bed.on_host("docker", "stop", "-t", "0", a).returncode == 0
        stack.stack.refresh(on_output=lambda _: None)
        changes = stack.preview().change_summary
        assert changes.get("update") == 1 and "replace" not in changes
        stack.up()
        after = bed.inspect(a)
        assert after is not None and after["State"]["Running"] and after["Id"] == before["Id"]
    finally:
        stack.close()


@pytest.mark.e2e
def test_unimplemented_and_bad_inputs_are_refused(bed: Bed, names: Callable[[str], str]) -> None:
    from pulumi import automation as auto

    a = names("refused")
    spec: dict[str, dict[str, Any]] = {a: {"gpus": "all"}}
    stack = Stack(bed, f"refused-{uuid.uuid4().hex[:6]}", _containers(bed, spec))
    try:
        with pytest.raises(auto.CommandError) as err:
            stack.preview()
        assert "gpus" in str(err.value) and "not supported by the docker stand-in" in str(err.value)
        spec[a] = {"restart": "sometimes"}
        with pytest.raises(auto.CommandError) as err:
            stack.up()
        assert "restart" in str(err.value) and "must be one of" in str(err.value)
        assert bed.inspect(a) is None
    finally:
        stack.close()


@pytest.mark.e2e
def test_container_exiting_at_once_fails_with_its_logs(bed: Bed, names: Callable[[str], str]) -> None:
    from pulumi import automation as auto

    a = names("exits")
    program = _containers(bed, {a: {"entrypoints": ["sh", "-c"], "command": ["echo going away; exit 3"]}})
    stack = Stack(bed, f"exits-{uuid.uuid4().hex[:6]}", program)
    try:
        with pytest.raises(auto.CommandError) as err:
            stack.up()
        assert "exited right away" in str(err.value) and "going away" in str(err.value)
        assert bed.inspect(a) is None  # removed, so a fixed program can be applied
    finally:
        stack.close()


@pytest.mark.e2e
def test_remote_image_pull_feeds_the_container(bed: Bed, names: Callable[[str], str]) -> None:
    import pulumi

    a = names("pulled")
    # A tag of its own, absent from the host, so that the RemoteImage really pulls it.
    tag = f"{bed.image.rsplit(':', 1)[0]}:pull-{uuid.uuid4().hex[:6]}"
    assert bed.on_host("docker", "tag", bed.image, tag).returncode == 0
    assert bed.on_host("docker", "push", tag).returncode == 0
    assert bed.on_host("docker", "rmi", tag).returncode == 0

    def program(provider: Any) -> None:
        import pulumi_docker as docker

        image = docker.RemoteImage("img", name=tag, opts=pulumi.ResourceOptions(provider=provider))
        docker.Container(
            a,
            name=a,
            image=image.image_id,
            command=["sleep", "3600"],
            network_mode="host",
            opts=pulumi.ResourceOptions(provider=provider, delete_before_replace=True),
        )
        pulumi.export("image_id", image.image_id)
        pulumi.export("repo_digest", image.repo_digest)

    stack = Stack(bed, f"image-{uuid.uuid4().hex[:6]}", program)
    try:
        up = stack.up()
        pulled = json.loads(bed.on_host("docker", "image", "inspect", tag).stdout)[0]
        assert up.outputs["image_id"].value == pulled["Id"]
        assert up.outputs["repo_digest"].value in pulled["RepoDigests"]
        found = bed.inspect(a)
        assert found is not None and found["Image"] == pulled["Id"]
        assert set(stack.preview().change_summary) == {"same"}
    finally:
        stack.close()
    assert bed.on_host("docker", "image", "inspect", tag).returncode != 0  # keepLocally is false


@pytest.mark.e2e
def test_secret_inputs_stay_secret_in_state(bed: Bed, names: Callable[[str], str]) -> None:
    import pulumi

    a = names("secret")
    program = _containers(bed, {a: {"envs": lambda: pulumi.Output.secret(["TOKEN=s3cr3t-value"])}})
    stack = Stack(bed, f"secret-{uuid.uuid4().hex[:6]}", program)
    try:
        stack.up()
        found = bed.inspect(a)
        assert found is not None and "TOKEN=s3cr3t-value" in found["Config"]["Env"]
        # The backend's own file, not export_stack (which runs `stack export --show-secrets`).
        files = list((bed.state_dir / "backend").rglob(f"{stack.stack.name}.json"))
        assert files and "s3cr3t-value" not in files[0].read_text()
        assert '"envs"' in files[0].read_text() and "ciphertext" in files[0].read_text()
        assert set(stack.preview().change_summary) == {"same"}
    finally:
        stack.close()
