"""Running a script on an inventory host over the SSH the program's Docker provider uses: OpenSSH
`ssh` with the inventory's key and a known_hosts made from its pinned host key (never unchecked)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from components.config.inventory import Host


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


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


def run_script(host: Host, script: str, timeout: float = 120) -> Completed:
    """Run `script` with sh on `host`, the script on stdin (nothing of it on the command line)."""
    with pinned_ssh(host) as argv:
        try:
            done = subprocess.run([*argv, "sh", "-s"], input=script, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return Completed(SSH_UNREACHABLE, "", f"no answer within {timeout:.0f} s")
        except FileNotFoundError:
            return Completed(SSH_UNREACHABLE, "", "the OpenSSH client `ssh` is not installed on this machine")
    return Completed(done.returncode, done.stdout, done.stderr)
