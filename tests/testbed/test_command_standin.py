"""The pulumi-command stand-in, driven by the real engine (Automation API) against a throwaway sshd.

Commands run on 127.0.0.1 through the sshd, so their effects are checked on the local file system:
each command appends a line to a log file.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pytest
from pulumi import automation as auto
from pulumi_command import remote

from testbed.env import engine_built, pulumi_command, pulumi_env, require

SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class Sshd:
    port: int
    private_key: str
    host_key: str  # "ssh-ed25519 AAAA..." as connection.hostKey wants it
    other_host_key: str  # a key the server does not have

    def connection(self, **overrides: object) -> remote.ConnectionArgs:
        args: dict = dict(
            host="127.0.0.1", port=self.port, user="root", private_key=self.private_key, host_key=self.host_key
        )
        args.update(overrides)
        return remote.ConnectionArgs(**args)


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    require(Path(SSHD).exists() and shutil.which("ssh") is not None, "no OpenSSH (apt-get install openssh-server)")
    d = tmp_path_factory.mktemp("sshd")
    host_key = _keygen(d / "host_ed25519")
    other = _keygen(d / "other_ed25519")
    _keygen(d / "client")
    (d / "authorized_keys").write_text((d / "client.pub").read_text())
    port = _free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_ed25519'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPidFile {d / 'sshd.pid'}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nStrictModes no\nAcceptEnv KP_* PULUMI_COMMAND_*\n"
        "Subsystem sftp internal-sftp\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"sshd did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.05)
    try:
        yield Sshd(port, (d / "client").read_text(), host_key, other)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(engine_built(), "the Pulumi engine is not built (python -m testbed.engine)")
    return tmp_path_factory.mktemp("pulumi-state")


Program = Callable[[], None]


class Stack:
    """One inline-program stack whose program can be swapped between operations."""

    def __init__(self, state_dir: Path, program: Program) -> None:
        self.program = program
        opts = auto.LocalWorkspaceOptions(
            pulumi_home=str(state_dir / "home"),
            env_vars=pulumi_env(state_dir),
            project_settings=auto.ProjectSettings(
                name="command-standin",
                runtime="python",
                backend=auto.ProjectBackend(url=(state_dir / "backend").as_uri()),
            ),
            pulumi_command=pulumi_command(),
        )
        name = f"t{uuid.uuid4().hex[:8]}"
        self.stack = auto.create_stack(name, project_name="command-standin", program=lambda: self.program(), opts=opts)

    def preview(self) -> dict[str, int]:
        return {str(k): v for k, v in self.stack.preview().change_summary.items()}

    def up(self) -> auto.UpResult:
        return self.stack.up()


@pytest.fixture
def make_stack(state_dir: Path) -> Iterator[Callable[[Program], Stack]]:
    made: list[Stack] = []

    def make(program: Program) -> Stack:
        made.append(Stack(state_dir, program))
        return made[-1]

    yield make
    for s in made:
        s.stack.workspace.remove_stack(s.stack.name, force=True)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_create_update_in_place_and_delete(sshd: Sshd, make_stack, tmp_path: Path) -> None:
    log = tmp_path / "log"

    def program(env: str) -> Program:
        def run() -> None:
            cmd = remote.Command(
                "c",
                connection=sshd.connection(),
                create=f"echo create >> {log}; echo out-1",
                update=f'echo "update $KP_X prev=$PULUMI_COMMAND_STDOUT" >> {log}; echo out-2',
                delete=f'echo "delete prev=$PULUMI_COMMAND_STDOUT" >> {log}',
                environment={"KP_X": env},
            )
            pulumi.export("stdout", cmd.stdout)

        return run

    s = make_stack(program("1"))
    assert s.preview() == {"create": 2}  # the stack and the command
    assert not log.exists(), "nothing runs at preview"
    result = s.up()
    assert result.outputs["stdout"].value == "out-1"
    assert "out-1" in result.stdout  # logged (logging defaults to stdoutAndStderr)
    assert lines(log) == ["create"]
    assert s.preview() == {"same": 2}

    s.program = program("2")
    assert s.preview() == {"same": 1, "update": 1}
    assert lines(log) == ["create"]
    result = s.up()
    assert result.summary.resource_changes == {"same": 1, "update": 1}
    assert result.outputs["stdout"].value == "out-2"
    assert lines(log) == ["create", "update 2 prev=out-1"]

    s.stack.destroy()
    assert lines(log) == ["create", "update 2 prev=out-1", "delete prev=out-2"]


def test_update_without_update_command_runs_create(sshd: Sshd, make_stack, tmp_path: Path) -> None:
    log = tmp_path / "log"

    def program(n: int) -> Program:
        return lambda: remote.Command("c", connection=sshd.connection(), create=f"echo run-{n} >> {log}")

    s = make_stack(program(1))
    s.up()
    s.program = program(2)
    assert s.up().summary.resource_changes == {"same": 1, "update": 1}
    assert lines(log) == ["run-1", "run-2"]


def test_triggers_replace(sshd: Sshd, make_stack, tmp_path: Path) -> None:
    log = tmp_path / "log"

    def program(trigger: str) -> Program:
        def run() -> None:
            remote.Command(
                "c",
                connection=sshd.connection(),
                create=f"echo create >> {log}",
                update=f"echo update >> {log}",
                delete=f"echo delete >> {log}",
                triggers=[trigger],
            )

        return run

    s = make_stack(program("a"))
    s.up()
    s.program = program("b")
    assert s.preview() == {"same": 1, "replace": 1}
    assert s.up().summary.resource_changes == {"same": 1, "replace": 1}
    assert lines(log) == ["create", "create", "delete"]  # create-before-delete, never the update


def test_non_zero_exit_fails_with_output(sshd: Sshd, make_stack) -> None:
    s = make_stack(
        lambda: remote.Command("c", connection=sshd.connection(), create="echo out-text; echo err-text >&2; exit 3")
    )
    with pytest.raises(auto.CommandError) as failed:
        s.up()
    message = str(failed.value)
    assert "Process exited with status 3" in message
    assert "out-text" in message and "err-text" in message
    assert "Traceback" not in message


def test_host_key_mismatch_is_refused(sshd: Sshd, make_stack, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    s = make_stack(
        lambda: remote.Command("c", connection=sshd.connection(host_key=sshd.other_host_key), create=f"touch {marker}")
    )
    with pytest.raises(auto.CommandError, match="host key does not match"):
        s.up()
    assert not marker.exists()


def test_no_host_key_means_no_check(sshd: Sshd, make_stack, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    conn = sshd.connection()
    conn.host_key = None
    s = make_stack(lambda: remote.Command("c", connection=conn, create=f"touch {marker}"))
    s.up()
    assert marker.exists()


def test_unimplemented_inputs_are_refused(sshd: Sshd, make_stack) -> None:
    conn = {"host": "127.0.0.1", "port": sshd.port, "privateKey": sshd.private_key, "bogusOption": "x"}

    def program() -> None:
        # A raw resource: the SDK's typed args cannot carry an input the schema lacks.
        pulumi.CustomResource("command:remote:Command", "c", {"connection": conn, "shell": "bash"})

    s = make_stack(program)
    with pytest.raises(auto.CommandError) as failed:
        s.preview()
    message = str(failed.value)
    assert "does not implement input 'shell'" in message
    assert "does not implement connection input 'connection.bogusOption'" in message


def test_secret_command_output_stays_secret(sshd: Sshd, make_stack, state_dir: Path) -> None:
    def program() -> None:
        cmd = remote.Command("c", connection=sshd.connection(), create=pulumi.Output.secret("echo hush-hush-value"))
        pulumi.export("stdout", cmd.stdout)

    s = make_stack(program)
    result = s.up()
    assert result.outputs["stdout"].secret
    assert result.outputs["stdout"].value == "hush-hush-value"
    assert "hush-hush-value" not in result.stdout  # secret output is not logged
    # Marked secret in the state (export_stack shows plaintext) and stored encrypted on disk.
    deployment = json.dumps(s.stack.export_stack().deployment)
    assert '"stdout": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"' in deployment
    (state_file,) = (state_dir / "backend").rglob(f"{s.stack.name}.json")
    assert "hush-hush-value" not in state_file.read_text()


def test_copy_to_remote(sshd: Sshd, make_stack, tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    (src / "tree" / "sub").mkdir(parents=True)
    (src / "tree" / "sub" / "a.txt").write_text("A")
    (src / "file.txt").write_text("one")

    def program() -> None:
        conn = sshd.connection()
        remote.CopyToRemote(
            "f",
            connection=conn,
            source=pulumi.FileAsset(str(src / "file.txt")),
            remote_path=str(dest / "deep" / "file.txt"),
        )
        remote.CopyToRemote(
            "d", connection=conn, source=pulumi.FileArchive(str(src / "tree")), remote_path=str(dest / "dir")
        )
        remote.CopyToRemote(
            "t", connection=conn, source=pulumi.StringAsset("text!"), remote_path=str(dest / "text.txt")
        )

    s = make_stack(program)
    s.up()
    assert (dest / "deep" / "file.txt").read_text() == "one"
    assert (dest / "dir" / "tree" / "sub" / "a.txt").read_text() == "A"
    assert (dest / "text.txt").read_text() == "text!"
    assert s.preview() == {"same": 4}
    s.stack.refresh()
    assert s.preview() == {"same": 4}

    (src / "file.txt").write_text("two")  # same path, new content: copied again
    (dest / "dir" / "tree" / "sub" / "a.txt").write_text("changed remotely")
    assert s.preview() == {"same": 3, "update": 1}
    s.up()
    assert (dest / "deep" / "file.txt").read_text() == "two"
    assert (dest / "dir" / "tree" / "sub" / "a.txt").read_text() == "changed remotely"  # not re-copied

    s.stack.destroy()
    assert (dest / "deep" / "file.txt").exists(), "CopyToRemote never deletes"


def test_logging_none_and_proxy(sshd: Sshd, make_stack, tmp_path: Path) -> None:
    jump = remote.ProxyConnectionArgs(
        host="127.0.0.1", port=sshd.port, user="root", private_key=sshd.private_key, host_key=sshd.host_key
    )
    s = make_stack(
        lambda: remote.Command("c", connection=sshd.connection(proxy=jump), create="echo quiet-output", logging="none")
    )
    result = s.up()
    assert result.summary.resource_changes == {"create": 2}
    assert "quiet-output" not in result.stdout
