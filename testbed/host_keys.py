"""SSH keys of the test bed, generated once and kept in the user's cache.

Host keys survive `down`/`up` (and `--fresh`) so a known_hosts entry or a pinned `host_key` stays
valid; the one client key is authorised on every host.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

CACHE = Path.home() / ".cache" / "kolla-pulumi" / "testbed"
CLIENT_KEY = CACHE / "id_ed25519"
KNOWN_HOSTS = CACHE / "known_hosts"


def _generate(path: Path, comment: str) -> None:
    if path.exists() and path.with_suffix(".pub").exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
    )


def client_key() -> Path:
    """The private key authorised on every host (its public half beside it, `.pub`)."""
    _generate(CLIENT_KEY, "kolla-pulumi-testbed-client")
    return CLIENT_KEY


def host_key(name: str) -> Path:
    """The private ed25519 host key of host `name`."""
    path = CACHE / "host-keys" / name / "ssh_host_ed25519_key"
    _generate(path, f"root@{name}")
    return path


def public_line(private_key: Path) -> str:
    """ "ssh-ed25519 AAAA..." without the comment: the form known_hosts and host_key pins take."""
    kind, blob, *_ = private_key.with_suffix(".pub").read_text().split()
    return f"{kind} {blob}"


def write_known_hosts(entries: dict[str, str]) -> Path:
    """A known_hosts file for `ssh -o UserKnownHostsFile=...`: address -> public key line."""
    KNOWN_HOSTS.parent.mkdir(parents=True, exist_ok=True)
    KNOWN_HOSTS.write_text("".join(f"{addr} {key}\n" for addr, key in sorted(entries.items())))
    return KNOWN_HOSTS


def write_ssh_wrapper() -> Path:
    """`bin/ssh` in the cache: ssh with the client key and known_hosts, for tools that run plain `ssh`.

    `PATH=<cache>/bin:$PATH DOCKER_HOST=ssh://root@10.77.0.11 docker ps` then reaches h1's engine
    without touching ~/.ssh (the docker CLI has no option for an identity file).
    """
    config = CACHE / "ssh_config"
    config.write_text(
        "Host *\n"
        f"  IdentityFile {CLIENT_KEY}\n"
        "  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {KNOWN_HOSTS}\n"
        "  StrictHostKeyChecking yes\n"
        "  BatchMode yes\n"
    )
    wrapper = CACHE / "bin" / "ssh"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {config} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper
