"""Processes the test bed starts: spawn detached, check, and stop them by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def alive(pid: int) -> bool:
    """True for a live process; a zombie (exited, not yet reaped) counts as dead."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    if state == "Z":
        _reap(pid)
        return False
    return True


def _reap(pid: int) -> None:
    # Only our own children can be reaped; others are reaped by whoever adopted them.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM, wait up to `timeout`, then SIGKILL; returns once the process is gone."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if not alive(pid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    if alive(pid):
        raise RuntimeError(f"process {pid} survived SIGKILL")


def kill(pid: int) -> None:
    """SIGKILL at once (a power cut, not a shutdown)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def namespace_id(pid: int, kind: str) -> str | None:
    """E.g. "mnt:[4026532301]" for kind "mnt"; None when the process is gone."""
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def pids_in_namespace(kind: str, ns_id: str) -> list[int]:
    """Every process whose `kind` namespace is `ns_id` (e.g. what is left inside a host)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and namespace_id(int(entry.name), kind) == ns_id:
            found.append(int(entry.name))
    return found
