"""The real providers' rules that the program relies on, checked on a test-bed host.

Each test names the rule and where the program depends on it (components/service.py, components/host.py).
Programs are Automation API inline programs on the real engine with the real `pulumi-resource-docker`
5.2.0 and `pulumi-resource-command` 1.2.1, against h1's Docker engine and sshd.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi import automation as auto

from tests.e2e.secret_scan import SECRET_SIG_KEY

PROJECT = "provider-rules"
IMAGE_REPO = "provider-rules/busybox"

pytestmark = pytest.mark.e2e


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kwargs)


@dataclass
class Bed:
    """One test-bed host, its pinned ssh options, a pushed busybox image and a state dir."""

    host: Any
    ssh_opts: list[str]
    image: str
    state_dir: Path

    @property
    def docker_host(self) -> str:
        return f"ssh://{self.host.user}@{self.host.address}:{self.host.port}"

    def connection(self, **overrides: Any) -> Any:
        from pulumi_command import remote

        args = {
            "host": self.host.address,
            "port": self.host.port,
            "user": self.host.user,
            "private_key": self.host.private_key_path.read_text(),
            "host_key": self.host.host_key,
            **overrides,
        }
        return remote.ConnectionArgs(**args)

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


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Bed:
    from testbed import env, registry
    from testbed.hosts import hosts

    env.require(env.engine_built(), "the engine and the real plugins (python -m testbed.engine; -m testbed.plugins)")
    found = hosts()
    env.require(bool(found), "no test-bed hosts (python -m testbed.hosts up)")
    env.require(registry.responding(), f"no registry at {registry.URL} (python -m testbed.hosts up)")
    env.require(Path("/bin/busybox").exists(), "no /bin/busybox (apt-get install busybox-static)")
    host = found[0]
    env.require(_run(host.ssh_command("true")).returncode == 0, f"cannot ssh to {host.address}")
    state_dir = tmp_path_factory.mktemp("provider-rules")
    known_hosts = state_dir / "known_hosts"
    known_hosts.write_text(f"{host.address} {host.host_key}\n")
    ssh_opts = ["-i", str(host.private_key_path), "-o", "StrictHostKeyChecking=yes"]
    ssh_opts += ["-o", f"UserKnownHostsFile={known_hosts}"]
    image = f"{registry.ADDRESS}/{IMAGE_REPO}:1"
    if not _registry_has(IMAGE_REPO, "1"):
        imported = subprocess.run(
            host.ssh_command("docker", "import", "-", image), input=_busybox_rootfs(), capture_output=True, timeout=120
        )
        assert imported.returncode == 0, imported.stderr.decode()
        pushed = _run(host.ssh_command("docker", "push", image))
        assert pushed.returncode == 0, pushed.stderr
    return Bed(host=host, ssh_opts=ssh_opts, image=image, state_dir=state_dir)


Program = Callable[[], None]


class Stack:
    """An inline-program stack whose program can be swapped between operations."""

    def __init__(self, bed: Bed, program: Program) -> None:
        from testbed.env import pulumi_command, pulumi_env

        self.bed, self.program = bed, program
        opts = auto.LocalWorkspaceOptions(
            env_vars=pulumi_env(bed.state_dir),
            project_settings=auto.ProjectSettings(
                name=PROJECT, runtime="python", backend=auto.ProjectBackend(url=(bed.state_dir / "backend").as_uri())
            ),
            pulumi_command=pulumi_command(),
        )
        name = f"t{uuid.uuid4().hex[:8]}"
        self.stack = auto.create_stack(name, project_name=PROJECT, program=lambda: self.program(), opts=opts)

    def preview(self) -> dict[str, int]:
        return {str(k): v for k, v in self.stack.preview(on_output=lambda _: None).change_summary.items()}

    def up(self) -> auto.UpResult:
        return self.stack.up(on_output=lambda _: None)

    def refresh(self) -> None:
        self.stack.refresh(on_output=lambda _: None)

    def state_text(self) -> str:
        """The backend's own state file (export_stack would decrypt)."""
        (path,) = (self.bed.state_dir / "backend").rglob(f"{self.stack.name}.json")
        return path.read_text()

    def resource(self, type_suffix: str) -> dict[str, Any]:
        resources = self.stack.export_stack().deployment["resources"]
        return next(r for r in resources if r["type"].endswith(type_suffix))


@pytest.fixture
def make_stack(bed: Bed) -> Iterator[Callable[[Program], Stack]]:
    made: list[Stack] = []

    def make(program: Program) -> Stack:
        made.append(Stack(bed, program))
        return made[-1]

    yield make
    for s in made:
        try:
            s.stack.destroy(on_output=lambda _: None)
        finally:
            s.stack.workspace.remove_stack(s.stack.name, force=True)


@pytest.fixture
def names(bed: Bed) -> Iterator[Callable[[str], str]]:
    """Unique container names; whatever a test leaves behind on the host is removed."""
    made: list[str] = []
    prefix = f"rules-{uuid.uuid4().hex[:6]}"

    def name(suffix: str) -> str:
        made.append(f"{prefix}-{suffix}")
        return made[-1]

    yield name
    if made:
        bed.on_host("docker", "rm", "-f", *made)


def containers(bed: Bed, spec: dict[str, dict[str, Any]]) -> Program:
    """One busybox `sleep` container per entry (name -> extra inputs), created as the program does
    (components/service.py): host network, delete-before-replace, must_run."""

    def program() -> None:
        import pulumi_docker as docker

        provider = docker.Provider("h1", host=bed.docker_host, ssh_opts=bed.ssh_opts)
        for name, extra in spec.items():
            extra = {k: v() if callable(v) else v for k, v in extra.items()}  # Outputs made inside the run
            replace_on = extra.pop("replace_on_changes", None)
            args = {"image": bed.image, "command": ["sleep", "3600"], "network_mode": "host", "must_run": True, **extra}
            opts = pulumi.ResourceOptions(provider=provider, delete_before_replace=True, replace_on_changes=replace_on)
            docker.Container(name, name=name, opts=opts, **args)

    return program


def healthcheck(test: str) -> Any:
    import pulumi_docker as docker

    return docker.ContainerHealthcheckArgs(
        tests=["CMD-SHELL", test], interval="30s", timeout="30s", start_period="5s", retries=3
    )


# --- docker ----------------------------------------------------------------------------------------


def test_container_lifecycle_envs_replace_restart_updates(bed: Bed, make_stack, names) -> None:
    """The blast-radius rule: an `envs` change (KOLLA_CONFIG_HASH) replaces; `restart` updates in place."""
    a, b = names("a"), names("b")
    spec: dict[str, dict[str, Any]] = {a: {"envs": ["KOLLA_CONFIG_HASH=1"], "restart": "no"}, b: {}}
    stack = make_stack(containers(bed, spec))
    assert stack.up().summary.resource_changes == {"create": 4}  # stack, provider, 2 containers
    first = bed.inspect(a)
    assert first is not None and first["State"]["Running"]
    assert stack.preview() == {"same": 4}

    spec[a]["envs"] = ["KOLLA_CONFIG_HASH=2"]
    assert stack.preview() == {"same": 3, "replace": 1}
    stack.up()
    second = bed.inspect(a)
    assert second is not None and second["Id"] != first["Id"]
    assert "KOLLA_CONFIG_HASH=2" in second["Config"]["Env"]

    spec[a]["restart"] = "unless-stopped"
    assert stack.preview() == {"same": 3, "update": 1}
    stack.up()
    third = bed.inspect(a)
    assert third is not None and third["Id"] == second["Id"]
    assert third["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"


def test_a_healthcheck_change_needs_replace_on_changes(bed: Bed, make_stack, names) -> None:
    """5.2.0's upstream marks the healthcheck block ForceNew but not its fields (#989): a changed test
    command diffs as an in-place update that is stored and never applied to the container. The program
    says replace_on_changes=["healthcheck"] (service.REPLACE_ON), which makes it a replacement."""
    a = names("health")
    spec: dict[str, dict[str, Any]] = {a: {"healthcheck": lambda: healthcheck("true")}}
    stack = make_stack(containers(bed, spec))
    stack.up()
    first = bed.inspect(a)
    assert first is not None

    spec[a]["healthcheck"] = lambda: healthcheck("true || true")
    assert stack.preview() == {"same": 2, "update": 1}
    stack.up()
    stored_only = bed.inspect(a)
    assert stored_only is not None and stored_only["Id"] == first["Id"]
    assert stored_only["Config"]["Healthcheck"]["Test"] == ["CMD-SHELL", "true"]  # not applied

    spec[a]["healthcheck"] = lambda: healthcheck("true && true")
    spec[a]["replace_on_changes"] = ["healthcheck"]
    assert stack.preview() == {"same": 2, "replace": 1}
    stack.up()
    replaced = bed.inspect(a)
    assert replaced is not None and replaced["Id"] != first["Id"]
    assert replaced["Config"]["Healthcheck"]["Test"] == ["CMD-SHELL", "true && true"]


def test_no_permanent_diff_after_refresh(bed: Bed, make_stack, names) -> None:
    """What the provider reads back (network_mode, envs with the image's own, labels, mounts,
    capabilities, healthcheck, volumes) equals what the program writes: a refresh then preview is clean.
    Docker reports capabilities as CAP_<name>: written as Kolla names them (NET_ADMIN), the read-back
    differs and the container is replaced (service.capability_names)."""
    import pulumi_docker as docker

    from components.service import capability_names

    a, b = names("readback"), names("privileged")
    spec: dict[str, dict[str, Any]] = {
        b: {
            "privileged": True,
            "pid_mode": "host",
            "ipc_mode": "host",
            "cgroupns_mode": "host",
            "volumes": [docker.ContainerVolumeArgs(volume_name="rules_data", container_path="/data")],
        },
        a: {
            "envs": ["KOLLA_CONFIG_HASH=abc", "KOLLA_SERVICE_NAME=readback"],
            "restart": "unless-stopped",
            "labels": [docker.ContainerLabelArgs(label="kolla_managed", value="true")],
            "healthcheck": lambda: healthcheck("true"),
            "capabilities": docker.ContainerCapabilitiesArgs(adds=capability_names(["NET_ADMIN"])),
            "volumes": [docker.ContainerVolumeArgs(host_path="/etc/hostname", container_path="/h", read_only=True)],
            "mounts": [
                docker.ContainerMountArgs(
                    type="bind",
                    source="/run",
                    target="/run",
                    bind_options=docker.ContainerMountBindOptionsArgs(propagation="shared"),
                )
            ],
            "destroy_grace_seconds": 60,
        },
    }
    stack = make_stack(containers(bed, spec))
    stack.up()
    stack.refresh()
    assert stack.preview() == {"same": 4}
    bed.on_host("docker", "rm", "-f", b)
    bed.on_host("docker", "volume", "rm", "rules_data")


def test_a_container_removed_by_hand_is_recreated(bed: Bed, make_stack, names) -> None:
    """`refresh` sees a container gone (kolla-pulumi deploy --refresh, drift), `up` recreates it."""
    a = names("gone")
    stack = make_stack(containers(bed, {a: {}}))
    stack.up()
    assert bed.on_host("docker", "rm", "-f", a).returncode == 0
    stack.refresh()
    assert stack.preview().get("create") == 1
    stack.up()
    found = bed.inspect(a)
    assert found is not None and found["State"]["Running"]


def test_a_stopped_container_is_started_again(bed: Bed, make_stack, names) -> None:
    """must_run: a container stopped by hand is seen by refresh and started by up (same container)."""
    a = names("stopped")
    stack = make_stack(containers(bed, {a: {}}))
    stack.up()
    before = bed.inspect(a)
    assert before is not None
    assert bed.on_host("docker", "stop", "-t", "0", a).returncode == 0
    stack.refresh()
    changes = stack.preview()
    assert changes.get("update", 0) + changes.get("replace", 0) == 1
    stack.up()
    after = bed.inspect(a)
    assert after is not None and after["State"]["Running"]


def test_wait_holds_the_up_until_the_container_is_healthy(bed: Bed, make_stack, names) -> None:
    """`wait`: the create returns once the container's healthcheck passes (rolling replacement waits on
    it before the next host), and fails the up, naming the container, when it never does."""
    import time

    healthy, sick = names("healthy"), names("sick")

    def check(test: str) -> Any:
        import pulumi_docker as docker

        return docker.ContainerHealthcheckArgs(tests=["CMD-SHELL", test], interval="1s", timeout="5s", retries=3)

    # Healthy after about three seconds: the create must not return before.
    spec: dict[str, dict[str, Any]] = {
        healthy: {
            "entrypoints": ["sh", "-c"],
            "command": ["sleep 3; echo > /ok; sleep 3600"],  # the image has no /tmp
            "healthcheck": lambda: check("test -e /ok"),
            "wait": True,
            "wait_timeout": 60,
        }
    }
    stack = make_stack(containers(bed, spec))
    started = time.monotonic()
    stack.up()
    found = bed.inspect(healthy)
    assert found is not None and found["State"]["Health"]["Status"] == "healthy"
    assert time.monotonic() - started >= 3

    spec[sick] = {"healthcheck": lambda: check("false"), "wait": True, "wait_timeout": 8}
    with pytest.raises(auto.CommandError) as failed:
        stack.up()
    assert sick in str(failed.value) and "healthy" in str(failed.value)


def test_remote_image_feeds_the_container_and_is_kept(bed: Bed, make_stack, names) -> None:
    """host.image(): RemoteImage pulls when absent; its image_id replaces the container when the image
    changes; keep_locally leaves it on the host after destroy."""
    a = names("pulled")
    tag = f"{bed.image.rsplit(':', 1)[0]}:pull-{uuid.uuid4().hex[:6]}"
    for step in (["tag", bed.image, tag], ["push", tag], ["rmi", tag]):
        assert bed.on_host("docker", *step).returncode == 0

    def program() -> None:
        import pulumi_docker as docker

        provider = docker.Provider("h1", host=bed.docker_host, ssh_opts=bed.ssh_opts)
        image = docker.RemoteImage("img", name=tag, keep_locally=True, opts=pulumi.ResourceOptions(provider=provider))
        docker.Container(
            a,
            name=a,
            image=image.image_id,
            command=["sleep", "3600"],
            network_mode="host",
            opts=pulumi.ResourceOptions(provider=provider, delete_before_replace=True),
        )
        pulumi.export("image_id", image.image_id)

    stack = make_stack(program)
    up = stack.up()
    pulled = json.loads(bed.on_host("docker", "image", "inspect", tag).stdout)[0]
    assert up.outputs["image_id"].value == pulled["Id"]
    found = bed.inspect(a)
    assert found is not None and found["Image"] == pulled["Id"]
    assert stack.preview() == {"same": 4}
    stack.stack.destroy(on_output=lambda _: None)
    assert bed.on_host("docker", "image", "inspect", tag).returncode == 0  # keep_locally
    bed.on_host("docker", "rmi", tag)


def test_secret_envs_stay_secret_in_state(bed: Bed, make_stack, names) -> None:
    """service.container_args: a container with a secret in its environment gets `envs` as a secret."""
    a = names("secret")
    program = containers(bed, {a: {"envs": lambda: pulumi.Output.secret(["TOKEN=s3cr3t-value-42"])}})
    stack = make_stack(program)
    stack.up()
    found = bed.inspect(a)
    assert found is not None and "TOKEN=s3cr3t-value-42" in found["Config"]["Env"]
    text = stack.state_text()
    assert "s3cr3t-value-42" not in text and "ciphertext" in text
    assert stack.preview() == {"same": 3}


# --- command ---------------------------------------------------------------------------------------


def test_command_update_reruns_create_and_triggers_replace(bed: Bed, make_stack) -> None:
    """Jobs (service.job_resource): a changed script is an update that runs `create` again."""
    from pulumi_command import remote

    log = f"/tmp/rules-{uuid.uuid4().hex[:6]}.log"

    def program(n: int, trigger: str = "a") -> Program:
        def run() -> None:
            remote.Command(
                "c",
                connection=bed.connection(),
                create=f"echo run-{n} >> {log}",
                delete=f"echo delete >> {log}",
                triggers=[trigger],
            )

        return run

    stack = make_stack(program(1))
    stack.up()
    stack.program = program(2)
    assert stack.preview() == {"same": 1, "update": 1}
    stack.up()
    stack.program = program(2, trigger="b")
    assert stack.preview() == {"same": 1, "replace": 1}
    stack.up()
    assert bed.on_host("cat", log).stdout.split() == ["run-1", "run-2", "run-2", "delete"]
    bed.on_host("rm", "-f", log)


def test_each_replaced_container_waits_for_its_own_drain_not_for_a_shared_one(bed: Bed, make_stack, names) -> None:
    """Drains (serving.py, service._drain): when two containers of a host are replaced in one run, a
    delete-before-replace dependent shared by both (the gate, triggered by both ids) is deleted once, in
    one container's replace chain only, so it cannot guard the other; a dependent of one container
    each (its id the only trigger) is deleted right before that container stops, for both."""
    import pulumi_docker as docker
    from pulumi_command import remote

    a, b = names("a"), names("b")
    log = f"/tmp/rules-{uuid.uuid4().hex[:6]}.log"
    running = "docker inspect -f '{{{{.State.Running}}}}' {name}"

    def program(generation: int) -> Program:
        def run() -> None:
            provider = docker.Provider("h1", host=bed.docker_host, ssh_opts=bed.ssh_opts)
            made = []
            for name in (a, b):
                container = docker.Container(
                    name,
                    name=name,
                    image=bed.image,
                    command=["sleep", "3600"],
                    network_mode="host",
                    envs=[f"KOLLA_CONFIG_HASH={generation}"],
                    opts=pulumi.ResourceOptions(provider=provider, delete_before_replace=True),
                )
                remote.Command(
                    f"{name}-drain",
                    connection=bed.connection(),
                    delete=f"echo drain {name} $({running.format(name=name)}) >> {log}",
                    triggers=[container.id],
                    opts=pulumi.ResourceOptions(depends_on=[container], delete_before_replace=True),
                )
                made.append(container)
            remote.Command(
                "shared",
                connection=bed.connection(),
                create=f"echo serve >> {log}",
                delete=f"echo shared >> {log}",
                triggers=[c.id for c in made],
                opts=pulumi.ResourceOptions(depends_on=made, delete_before_replace=True),
            )

        return run

    stack = make_stack(program(1))
    stack.up()
    bed.on_host("rm", "-f", log)
    stack.program = program(2)
    stack.up()
    lines = bed.on_host("cat", log).stdout.splitlines()
    bed.on_host("rm", "-f", log)
    # Each container was still running when its own drain ran, and was replaced after.
    assert sorted(line for line in lines if line.startswith("drain")) == [f"drain {a} true", f"drain {b} true"]
    assert all("KOLLA_CONFIG_HASH=2" in bed.inspect(n)["Config"]["Env"] for n in (a, b))  # type: ignore[index]
    # The shared one went once, for both replacements, and was created again after them.
    assert lines.count("shared") == 1 and lines[-1] == "serve", lines


@pytest.mark.parametrize("secret_stdin", [False, True])
def test_a_failing_command_reports_its_output(bed: Bed, make_stack, secret_stdin: bool) -> None:
    """A failing job's reason reaches the operator: exit status, stdout and stderr in the error, also
    when its stdin is secret (jobs with secrets rely on it; their output is masked on the host)."""
    from pulumi_command import remote

    def program() -> None:
        stdin = pulumi.Output.secret("input\n") if secret_stdin else None
        opts = pulumi.ResourceOptions(additional_secret_outputs=["stdout", "stderr"] if secret_stdin else None)
        script = "cat >/dev/null; echo out-text; echo err-text >&2; exit 3"
        remote.Command("c", connection=bed.connection(), create=script, stdin=stdin, opts=opts)

    stack = make_stack(program)
    with pytest.raises(auto.CommandError) as failed:
        stack.up()
    message = str(failed.value)
    assert "exited with status 3" in message and "out-text" in message and "err-text" in message


def test_a_wrong_host_key_is_refused_before_anything_runs(bed: Bed, make_stack, tmp_path: Path) -> None:
    """host.connection pins the host key: a different key is refused."""
    from pulumi_command import remote

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    other = " ".join((tmp_path / "k.pub").read_text().split()[:2])
    marker = f"/tmp/rules-{uuid.uuid4().hex[:6]}"
    stack = make_stack(lambda: remote.Command("c", connection=bed.connection(host_key=other), create=f"touch {marker}"))
    with pytest.raises(auto.CommandError, match=r"(?i)host key"):
        stack.up()
    assert bed.on_host("test", "-e", marker).returncode != 0


def test_command_outputs_are_plain_unless_marked_secret(bed: Bed, make_stack) -> None:
    """The real provider keeps stdout/stderr plain even when stdin is secret (the leak of issue 13):
    the program marks them with additional_secret_outputs, which the engine honours in the state."""
    from pulumi_command import remote

    def program(mark: bool) -> Program:
        def run() -> None:
            opts = pulumi.ResourceOptions(additional_secret_outputs=["stdout", "stderr"] if mark else None)
            remote.Command(
                "c",
                connection=bed.connection(),
                create="cat; cat >&2 </dev/null; echo err-side >&2",
                stdin=pulumi.Output.secret("stdin-echo-value\n"),
                opts=opts,
            )

        return run

    stack = make_stack(program(mark=False))
    stack.up()
    state = stack.resource("remote:Command")
    assert state["outputs"]["stdout"] == "stdin-echo-value"  # plain: what the program must not rely on
    stack.stack.destroy(on_output=lambda _: None)

    stack.program = program(mark=True)
    stack.up()
    outputs = stack.resource("remote:Command")["outputs"]
    assert SECRET_SIG_KEY in json.dumps(outputs["stdout"]) and SECRET_SIG_KEY in json.dumps(outputs["stderr"])
    assert "stdin-echo-value" not in stack.state_text()
