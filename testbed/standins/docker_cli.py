"""The docker CLI, bound to one provider instance's engine (`host`, `sshOpts`, `registryAuth`).

Why the CLI and not the docker Python SDK: the CLI is on the machine, speaks `ssh://` itself (it runs
the system `ssh` with `docker system dial-stdio` on the far side, as the real provider does) and is
not a project dependency. The CLI has no switch for extra ssh flags, so each provider instance gets
a private directory holding an `ssh` wrapper (put first on PATH) that adds `sshOpts`; the wrapper
also multiplexes the connections of one provider over a single ssh master, since every CLI call
opens a new ssh connection. Registry credentials go to a private DOCKER_CONFIG.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


class DockerError(Exception):
    """A docker CLI call failed; the message carries its stderr."""


def _not_found(stderr: str) -> bool:
    return "No such" in stderr or "not found" in stderr.lower()


@dataclass
class RegistryAuth:
    address: str
    username: str = ""
    password: str = ""
    config_file: str = ""
    config_file_content: str = ""
    auth_disabled: bool = False

    @classmethod
    def from_input(cls, raw: dict[str, Any]) -> RegistryAuth:
        return cls(
            address=raw["address"],
            username=raw.get("username", ""),
            password=raw.get("password", ""),
            config_file=raw.get("configFile", ""),
            config_file_content=raw.get("configFileContent", ""),
            auth_disabled=bool(raw.get("authDisabled", False)),
        )


def docker_config(auths: list[RegistryAuth]) -> dict[str, Any]:
    """The CLI's config.json for these credentials (explicit username/password win over files)."""
    entries: dict[str, Any] = {}
    for auth in auths:
        if auth.auth_disabled:
            continue
        if auth.username:
            token = base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()
            entries[auth.address] = {"auth": token}
            continue
        content = auth.config_file_content
        if not content and auth.config_file:
            content = Path(auth.config_file).expanduser().read_text()
        if content:
            found = json.loads(content).get("auths", {})
            if auth.address in found:
                entries[auth.address] = found[auth.address]
    return {"auths": entries}


@dataclass
class SshTarget:
    user: str | None
    host: str
    port: int | None

    @classmethod
    def parse(cls, url: str) -> SshTarget:
        parsed = urlparse(url)
        return cls(user=parsed.username, host=parsed.hostname or "", port=parsed.port)

    def args(self) -> list[str]:
        out = ["-l", self.user] if self.user else []
        if self.port:
            out += ["-p", str(self.port)]
        return [*out, "--", self.host]


def ssh_wrapper(real_ssh: str, ssh_opts: list[str], control_dir: Path) -> str:
    """A shell script standing in for `ssh`: the provider's options first, since ssh keeps the
    first value it is given for an option, then connection sharing, then what the CLI passes."""
    mux = [
        "-o",
        "ControlMaster=auto",
        "-o",
        f"ControlPath={control_dir}/cm-%C",
        "-o",
        "ControlPersist=30",
    ]
    words = " ".join(shlex.quote(w) for w in [real_ssh, *ssh_opts, *mux])
    return f'#!/bin/sh\nexec {words} "$@"\n'


@dataclass
class DockerCli:
    host: str = ""
    ssh_opts: list[str] = field(default_factory=list)
    auths: list[RegistryAuth] = field(default_factory=list)
    _dir: Path | None = None
    _env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        env = dict(os.environ)
        if self.host:
            env["DOCKER_HOST"] = self.host
        needs_dir = self.host.startswith("ssh://") or self.auths
        if needs_dir:
            self._dir = Path(tempfile.mkdtemp(prefix="docker-standin-"))
        if self.host.startswith("ssh://") and self._dir:
            real_ssh = shutil.which("ssh") or "/usr/bin/ssh"
            wrapper = self._dir / "bin" / "ssh"
            wrapper.parent.mkdir()
            wrapper.write_text(ssh_wrapper(real_ssh, self.ssh_opts, self._dir))
            wrapper.chmod(0o700)
            env["PATH"] = f"{wrapper.parent}{os.pathsep}{env.get('PATH', '')}"
        if self.auths and self._dir:
            config = self._dir / "config"
            config.mkdir()
            (config / "config.json").write_text(json.dumps(docker_config(self.auths)))
            (config / "config.json").chmod(0o600)
            env["DOCKER_CONFIG"] = str(config)
        self._env = env

    async def run(self, *args: str, stdin: bytes | None = None, check: bool = True) -> str:
        proc = await asyncio.create_subprocess_exec(
            DOCKER,
            *args,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self._env,
        )
        out, err = await proc.communicate(stdin)
        if check and proc.returncode != 0:
            # Only the command verb and object go into the message: arguments may hold secrets.
            what = " ".join(a for a in args[:2] if not a.startswith("-"))
            raise DockerError(f"docker {what} failed (exit {proc.returncode}): {err.decode().strip()}")
        return out.decode()

    async def inspect(self, kind: str, ref: str) -> dict[str, Any] | None:
        """`docker <kind> inspect`, or None when the object does not exist."""
        proc = await asyncio.create_subprocess_exec(
            DOCKER,
            kind,
            "inspect",
            ref,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self._env,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            if _not_found(err.decode()):
                return None
            raise DockerError(f"docker {kind} inspect failed: {err.decode().strip()}")
        found = json.loads(out)
        return found[0] if found else None

    def close(self) -> None:
        """Stop the shared ssh master and remove the private directory."""
        if self._dir is None:
            return
        if self.host.startswith("ssh://") and any(self._dir.glob("cm-*")):
            target = SshTarget.parse(self.host)
            subprocess.run(
                [str(self._dir / "bin" / "ssh"), "-O", "exit", *target.args()],
                capture_output=True,
                timeout=10,
                check=False,
            )
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None
