"""Running a script on an inventory host over the SSH the program's Docker provider uses: OpenSSH
`ssh` with the inventory's key and a known_hosts made from its pinned host key (never unchecked)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from components.config.inventory import Host


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str

    @property
    def why(self) -> str:
        """A failure in one line: the last line it printed (stderr first), else its exit status."""
        said = [line for line in (self.stderr.strip() or self.stdout.strip()).splitlines() if line.strip()]
        return said[-1].strip() if said else f"exit status {self.returncode}"


# (host, script) -> result; tests pass fakes.
Runner = Callable[[Host, str], Completed]

SSH_UNREACHABLE = 255  # OpenSSH's exit status for its own failures (connection, host key, auth)


def _write_private(path: Path, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)


def known_hosts_line(host: Host) -> str:
    target = host.address if host.port == 22 else f"[{host.address}]:{host.port}"
    return f"{target} {host.host_key}\n"


def ssh_argv(host: Host, key_file: str, known_hosts: str) -> list[str]:
    """The same options the program gives the Docker provider (components/host.py), plus a timeout."""
    return [
        "ssh",
        *("-i", key_file, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"),
        *("-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}"),
        *("-o", "ConnectTimeout=10", "-p", str(host.port), f"{host.user}@{host.address}"),
    ]


@contextmanager
def pinned_ssh(host: Host) -> Iterator[list[str]]:
    """The ssh command line for `host`; its key and known_hosts live in a private (0700) temporary
    directory, files 0600, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="kolla-pulumi-ssh-") as directory:
        key, known = Path(directory) / "id", Path(directory) / "known_hosts"
        _write_private(key, host.private_key if host.private_key.endswith("\n") else host.private_key + "\n")
        _write_private(known, known_hosts_line(host))
        yield ssh_argv(host, str(key), str(known))


# (host, command, stdin chunks) -> result; tests pass fakes.
StreamRunner = Callable[[Host, str, Iterable[bytes]], Completed]


def run_streamed(host: Host, command: str, chunks: Iterable[bytes], timeout: float = 1800) -> Completed:
    """Run `command` (a shell command line, no secret in it) on `host`, its stdin the bytes of `chunks`
    written as they come (an image file is not held in memory). The command may exit before reading
    them all: what it answered counts."""
    with pinned_ssh(host) as argv:
        try:
            process = subprocess.Popen(
                [*argv, command], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except FileNotFoundError:
            return Completed(SSH_UNREACHABLE, "", "the OpenSSH client `ssh` is not installed on this machine")
        # stdout and stderr are read while stdin is written: a command answering early cannot block us.
        with ThreadPoolExecutor(max_workers=2) as readers:
            assert process.stdout is not None and process.stderr is not None and process.stdin is not None
            out, err = readers.submit(process.stdout.read), readers.submit(process.stderr.read)
            try:
                for chunk in chunks:
                    process.stdin.write(chunk)
                process.stdin.close()
            except BrokenPipeError:
                pass
            try:
                returncode = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                return Completed(SSH_UNREACHABLE, "", f"no answer within {timeout:.0f} s")
            stdout, stderr = out.result(), err.result()
    return Completed(returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace"))


def run_script(host: Host, script: str, timeout: float = 120) -> Completed:
    """Run `script` with sh on `host`, the script on stdin (nothing of it on the command line)."""
    return run_streamed(host, "sh -s", [script.encode()], timeout)
