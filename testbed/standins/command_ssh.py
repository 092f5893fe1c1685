"""SSH for the command stand-in, through the system OpenSSH client (no new Python dependency).

The real provider speaks SSH in Go: it ignores ~/.ssh/config, checks the host key only when
`connection.hostKey` is given, and retries dialling. The options below reproduce that with `ssh`
and `scp` (SFTP mode): `-F /dev/null`, a throwaway known_hosts holding only `hostKey` with
StrictHostKeyChecking=yes, ConnectionAttempts/ConnectTimeout for the dial limits, and an askpass
script for passwords. Key, password and known_hosts files live in a 0700 temporary directory that is
removed after each call.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# connection input name -> Python type the schema gives it (numbers arrive as floats).
CONNECTION_FIELDS: dict[str, type] = {
    "host": str,
    "port": float,
    "user": str,
    "privateKey": str,
    "privateKeyPassword": str,
    "password": str,
    "hostKey": str,
    "agentSocketPath": str,
    "dialErrorLimit": float,
    "perDialTimeout": float,
    "proxy": dict,
}
PROXY_FIELDS = {k: v for k, v in CONNECTION_FIELDS.items() if k != "proxy"}
HOST_ALIAS = "kolla-pulumi-target"  # known_hosts entry name, whatever the host and port


class SSHError(Exception):
    """SSH itself failed (not the remote command)."""


class HostKeyMismatch(SSHError):
    pass


@dataclass(frozen=True)
class Connection:
    host: str
    port: int = 22
    user: str = "root"
    private_key: str | None = None
    private_key_password: str | None = None
    password: str | None = None
    host_key: str | None = None
    agent_socket_path: str | None = None
    dial_error_limit: int = 10
    per_dial_timeout: int = 15
    proxy: Connection | None = None

    @classmethod
    def from_inputs(cls, raw: Mapping[str, Any]) -> Connection:
        """Build from the plain `connection` input, with the real provider's defaults."""
        proxy = raw.get("proxy")
        return cls(
            host=raw["host"],
            port=int(raw.get("port", 22)),
            user=raw.get("user", "root"),
            private_key=raw.get("privateKey"),
            private_key_password=raw.get("privateKeyPassword"),
            password=raw.get("password"),
            host_key=raw.get("hostKey"),
            agent_socket_path=raw.get("agentSocketPath"),
            dial_error_limit=int(raw.get("dialErrorLimit", 10)),
            per_dial_timeout=int(raw.get("perDialTimeout", 15)),
            proxy=cls.from_inputs(proxy) if proxy else None,
        )

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


@dataclass(frozen=True)
class Client:
    """Options for one connection; files under `workdir` exist while the `client` context is open."""

    argv_options: list[str]
    env: dict[str, str]
    conn: Connection

    def remote(self, path: str) -> str:
        host = f"[{self.conn.host}]" if ":" in self.conn.host else self.conn.host
        return f"{host}:{path}"


def _write_private(path: Path, text: str, *, final_newline: bool = True) -> Path:
    """Write a 0600 file; OpenSSH refuses a key file without its final newline."""
    if final_newline and not text.endswith("\n"):
        text += "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def _options(conn: Connection, workdir: Path, tag: str) -> tuple[list[str], dict[str, str]]:
    attempts = conn.dial_error_limit if conn.dial_error_limit > 0 else 1_000_000  # -1: unlimited
    opts = ["-F", "/dev/null", "-o", f"Port={conn.port}", "-o", f"User={conn.user}"]
    opts += ["-o", f"ConnectionAttempts={attempts}", "-o", "LogLevel=ERROR"]
    if conn.per_dial_timeout > 0:
        opts += ["-o", f"ConnectTimeout={conn.per_dial_timeout}"]
    if conn.host_key:
        known = workdir / f"{tag}.known_hosts"
        known.write_text(f"{HOST_ALIAS} {conn.host_key.strip()}\n")
        opts += ["-o", f"HostKeyAlias={HOST_ALIAS}", "-o", "StrictHostKeyChecking=yes"]
        opts += ["-o", f"UserKnownHostsFile={known}"]
    else:  # like the real provider: no hostKey, no check
        opts += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
    opts += ["-o", "GlobalKnownHostsFile=/dev/null"]
    if conn.private_key:
        opts += ["-o", f"IdentityFile={_write_private(workdir / f'{tag}.key', conn.private_key)}"]
    if conn.agent_socket_path:
        opts += ["-o", f"IdentityAgent={conn.agent_socket_path}"]
    env: dict[str, str] = {}
    if conn.password or conn.private_key_password:
        # OpenSSH reads secrets only from a terminal or an askpass program: give it a script that
        # prints files, so the secrets never sit on a command line.
        askpass = workdir / f"{tag}.askpass"
        lines = ["#!/bin/sh", 'case "$1" in']
        if conn.private_key_password:
            keypass = _write_private(workdir / f"{tag}.keypass", conn.private_key_password)
            lines.append(f"  *assphrase*) cat {shlex.quote(str(keypass))} ;;")
        if conn.password:
            password = _write_private(workdir / f"{tag}.password", conn.password)
            lines.append(f"  *) cat {shlex.quote(str(password))} ;;")
        lines += ["esac", ""]
        askpass.write_text("\n".join(lines))
        askpass.chmod(0o700)
        env = {"SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force"}
        opts += ["-o", "BatchMode=no", "-o", "NumberOfPasswordPrompts=1"]
    else:
        opts += ["-o", "BatchMode=yes"]
    return opts, env


@asynccontextmanager
async def client(conn: Connection) -> AsyncIterator[Client]:
    with tempfile.TemporaryDirectory(prefix="kp-command-ssh-") as tmp:  # mkdtemp: mode 0700
        workdir = Path(tmp)
        opts, env = _options(conn, workdir, "target")
        if conn.proxy:
            proxy_opts, proxy_env = _options(conn.proxy, workdir, "proxy")
            jump = ["env", *(f"{k}={v}" for k, v in proxy_env.items()), "ssh", *proxy_opts]
            jump += ["-W", "%h:%p", conn.proxy.host]
            opts += ["-o", f"ProxyCommand={shlex.join(jump)}"]
        yield Client(opts, env, conn)


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


async def _exec(argv: list[str], env: dict[str, str], stdin: str | None, timeout: float | None) -> Result:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
        start_new_session=True,  # no controlling terminal: askpass, never a prompt
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return Result(proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace"))


# What ssh prints when it, not the remote command, fails (it then exits with 255).
_SSH_FAILURES = re.compile(
    r"^(ssh: |kex_exchange|Permission denied|Connection (refused|closed|timed out)|Received disconnect)",
    re.MULTILINE,
)


def _check_ssh(result: Result, conn: Connection) -> None:
    """Tell ssh's own failures apart from the command's, which the caller reports."""
    if result.returncode != 255:
        return
    if "Host key verification failed" in result.stderr:
        raise HostKeyMismatch(f"ssh {conn.address}: the server's host key does not match connection.hostKey; refused")
    if _SSH_FAILURES.search(result.stderr):
        raise SSHError(f"ssh {conn.address}: {result.stderr.strip()}")


async def run(
    conn: Connection,
    command: str,
    *,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float | None = None,
) -> Result:
    """Run `command` through the remote user's shell, as the real provider's session.Run does."""
    env = dict(env or {})
    async with client(conn) as c:
        # SendEnv passes values verbatim (newlines included); the server keeps only AcceptEnv ones.
        send = [arg for name in env for arg in ("-o", f"SendEnv={name}")]
        argv = ["ssh", *c.argv_options, *send, conn.host, "--", command]
        result = await _exec(argv, {**c.env, **env}, stdin, timeout)
    _check_ssh(result, conn)
    return result


# Resolves where the copy goes and creates the directories it needs; prints the target.
_PREPARE = r"""
mode=$1 dest=$2 base=$3
if [ -d "$dest" ]; then kind=dir; elif [ -e "$dest" ]; then kind=file; else kind=none; fi
case $mode in
  text)
    if [ $kind = dir ]; then
      echo "remote path $dest is a directory; when using a text asset, remotePath must be a file path" >&2
      exit 3
    fi
    target=$dest; mkdir -p -- "$(dirname -- "$dest")" ;;
  file)
    if [ $kind = dir ]; then target=$dest/$base; else target=$dest; mkdir -p -- "$(dirname -- "$dest")"; fi ;;
  dir|dircontents)
    if [ $kind = file ]; then echo "remote path $dest exists but is not a directory" >&2; exit 3; fi
    if [ $mode = dir ]; then target=$dest/$base; else target=$dest; fi
    if [ -e "$target" ] && [ ! -d "$target" ]; then
      echo "remote path $target exists but is not a directory" >&2; exit 3
    fi
    mkdir -p -- "$target" ;;
esac
printf '%s\n' "$target"
"""


async def copy(conn: Connection, *, remote_path: str, local_path: str | None = None, text: str | None = None) -> None:
    """Copy a local file or directory, or `text`, to `remote_path` with the real provider's rules.

    A file goes into `remote_path` when that is a directory, else to `remote_path`; a directory
    `d` goes to `remote_path/d`, or its contents into `remote_path` when written `d/`. Missing
    parent directories are created; nothing is ever deleted.
    """
    with tempfile.TemporaryDirectory(prefix="kp-command-copy-") as tmp:
        if text is not None:
            source, mode = _write_private(Path(tmp) / "text", text, final_newline=False), "text"
        else:
            assert local_path is not None
            source = Path(local_path)
            if source.is_dir():
                mode = "dircontents" if local_path.endswith("/") else "dir"
            elif source.is_file():
                mode = "file"
            else:
                raise FileNotFoundError(f"copy source {local_path} does not exist")
        base = Path(local_path.rstrip("/")).name if local_path else ""
        prepare = shlex.join(["sh", "-c", _PREPARE, "sh", mode, remote_path, base])
        probe = await run(conn, prepare)
        if probe.returncode != 0:
            raise SSHError(f"copy to {conn.address}:{remote_path}: {probe.stderr.strip()}")
        target = probe.stdout.strip()
        async with client(conn) as c:
            if mode in ("dir", "dircontents"):
                entries = sorted(str(p) for p in source.iterdir())
                if not entries:
                    return
                argv = ["scp", "-r", "-q", *c.argv_options, *entries, c.remote(target + "/")]
            else:
                argv = ["scp", "-q", *c.argv_options, str(source), c.remote(target)]
            result = await _exec(argv, c.env, None, None)
        if result.returncode != 0:
            _check_ssh(result, conn)
            raise SSHError(f"scp to {conn.address}:{target} failed: {result.stderr.strip()}")
