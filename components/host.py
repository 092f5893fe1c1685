"""A target host: its Docker engine over SSH, and Kolla's bootstrap-servers as idempotent commands.

Use one `KollaHost` per inventory host. Its `provider` is the only way containers reach that host's
engine (an explicit `docker.Provider` on `ssh://`, host key pinned), and its `ready` resources are
what every container on it waits for.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pulumi
import pulumi_command as command
import pulumi_docker as docker

from components import config_drift, scripts
from components.config.inventory import Host

HOSTS_BEGIN = "# BEGIN KOLLA-PULUMI MANAGED HOSTS"
HOSTS_END = "# END KOLLA-PULUMI MANAGED HOSTS"


def kolla_daemon_json(registry: str | None, insecure: bool, custom: Mapping[str, Any]) -> str:
    """The daemon.json kolla-ansible's docker role writes: logs capped, no Docker networking on hosts."""
    config: dict[str, Any] = {
        "bridge": "none",
        "ip-forward": False,
        "iptables": False,
        "log-opts": {"max-file": "5", "max-size": "50m"},
    }
    if registry and insecure:
        config["insecure-registries"] = [registry]
    config.update(custom)
    return json.dumps(config, indent=4, sort_keys=True) + "\n"


def _ensure_docker() -> str:
    return """set -eu
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then echo unchanged; exit 0; fi
if ! command -v docker >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io >/dev/null && echo changed
fi
docker info >/dev/null 2>&1 || { echo "the Docker engine is not running on this host" >&2; exit 1; }
"""


def _daemon_json(content: str) -> str:
    # Restarting dockerd restarts every container (Kolla LP#2065168): only when the file changed.
    quoted = shlex.quote(content)
    return f"""set -eu
mkdir -p /etc/docker
if [ -f /etc/docker/daemon.json ] && [ "$(cat /etc/docker/daemon.json)" = "$(printf '%s' {quoted})" ]; then
  echo unchanged; exit 0
fi
printf '%s' {quoted} > /etc/docker/daemon.json.new && mv /etc/docker/daemon.json.new /etc/docker/daemon.json
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker; then systemctl restart docker; fi
echo changed
"""


def _kolla_directories() -> str:
    return """set -eu
install -d -m 0770 /etc/kolla
echo ok
"""


def _sysctls() -> str:
    # Kolla's baremetal role: non-local binds for VIPs (haproxy/keepalived) and a larger unix queue.
    settings = {
        "net.ipv4.ip_nonlocal_bind": "1",
        "net.ipv6.ip_nonlocal_bind": "1",
        "net.unix.max_dgram_qlen": "128",
    }
    body = "".join(f"{k} = {v}\n" for k, v in settings.items())
    lines = " ".join(shlex.quote(f"{k}={v}") for k, v in settings.items())
    return f"""set -eu
mkdir -p /etc/sysctl.d
printf '%s' {shlex.quote(body)} > /etc/sysctl.d/99-kolla.conf
for kv in {lines}; do sysctl -q -w "$kv" >/dev/null 2>&1 || echo "warning: could not set $kv" >&2; done
echo ok
"""


def _etc_hosts(entries: Sequence[tuple[str, str]], hostname: str) -> str:
    """Kolla's etc_hosts role: no 127.0.1.1 line for the host's name, a managed block of API addresses."""
    block = "\n".join([HOSTS_BEGIN, *(f"{ip} {name}" for ip, name in entries), HOSTS_END]) + "\n"
    return f"""set -eu
tmp=$(mktemp)
awk -v begin={shlex.quote(HOSTS_BEGIN)} -v end={shlex.quote(HOSTS_END)} -v name={shlex.quote(hostname)} '
  $0 == begin {{ skip = 1; next }}
  $0 == end {{ skip = 0; next }}
  skip {{ next }}
  $1 == "127.0.1.1" && ($2 == name || $3 == name) {{ next }}
  {{ print }}' /etc/hosts > "$tmp"
printf '%s' {shlex.quote(block)} >> "$tmp"
if cmp -s "$tmp" /etc/hosts; then rm -f "$tmp"; echo unchanged; exit 0; fi
cat "$tmp" > /etc/hosts; rm -f "$tmp"; echo changed
"""


TOOLS = Path(__file__).resolve().parent / "tools"


def tools_stdin() -> str:
    """kolla-pulumi's helpers (components/tools/), as the config writer reads them: the jobs and gates
    run them on the host (scripts.KP). Not secret: they are code."""
    return scripts.config_dir_stdin({p.name: p.read_text() for p in sorted(TOOLS.iterdir()) if p.is_file()}, "0750")


def _ssh_files(host: Host) -> tuple[str, str]:
    """The private key and a known_hosts pinning the host key, as files for the docker CLI's ssh.

    Paths are derived from the content, so the provider's `ssh_opts` stay the same from run to run
    (a changed provider config would replace every container on the host). They live only on the
    machine running Pulumi, mode 0600 in a 0700 directory."""
    target = host.address if host.port == 22 else f"[{host.address}]:{host.port}"
    known_hosts = f"{target} {host.host_key}\n"
    key = host.private_key if host.private_key.endswith("\n") else host.private_key + "\n"
    digest = hashlib.sha256((known_hosts + key).encode()).hexdigest()[:16]
    directory = Path(tempfile.gettempdir()) / f"kolla-pulumi-ssh-{os.getuid()}" / digest
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory.parent, 0o700)
    for name, content in (("id", key), ("known_hosts", known_hosts)):
        path = directory / name
        if not path.exists() or path.read_text() != content:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(content)
    return str(directory / "id"), str(directory / "known_hosts")


class KollaHost(pulumi.ComponentResource):
    """One inventory host: `provider` reaches its Docker engine; `ready` is its bootstrap."""

    provider: docker.Provider
    connection: command.remote.ConnectionArgs
    ready: list[pulumi.Resource]

    def __init__(
        self,
        host: Host,
        *,
        daemon_json: str,
        etc_hosts: Sequence[tuple[str, str]],
        ssh_opts: Sequence[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("kolla:infra:Host", host.name, None, opts)
        self.host = host
        self.connection = command.remote.ConnectionArgs(
            host=host.address,
            port=host.port,
            user=host.user,
            private_key=pulumi.Output.secret(host.private_key),
            host_key=host.host_key,
        )
        # The docker CLI's ssh needs files for the key and the pinned host key; they live only on the
        # machine running Pulumi, in its temp directory.
        key_file, known_hosts = _ssh_files(host)
        self.ssh_files = (key_file, known_hosts)
        # What its config directories hold against what was written there (components/config_drift.py);
        # the deployment reads it before declaring the services. Unread: nothing recorded, no repair.
        self.config_records = config_drift.HostRecords(reachable=True)
        options = [
            *(ssh_opts or []),
            *("-i", key_file, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"),
            *("-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}"),
        ]
        self.provider = docker.Provider(
            f"{host.name}-docker",
            host=f"ssh://{host.user}@{host.address}:{host.port}",
            ssh_opts=options,
            opts=pulumi.ResourceOptions(parent=self),
        )
        steps = {
            "docker": (_ensure_docker(), None),
            "daemon-json": (_daemon_json(daemon_json), None),
            "kolla-directories": (_kolla_directories(), None),
            "sysctls": (_sysctls(), None),
            "etc-hosts": (_etc_hosts(etc_hosts, host.hostname), None),
            "tools": (scripts.write_config_dir(scripts.TOOLS_DIR), tools_stdin()),
        }
        self.ready = []
        previous: list[pulumi.Resource] = []
        for step, (script, stdin) in steps.items():
            resource = command.remote.Command(
                f"{host.name}-bootstrap-{step}",
                connection=self.connection,
                create=script,
                stdin=stdin,
                opts=pulumi.ResourceOptions(parent=self, depends_on=previous),
            )
            self.ready.append(resource)
            previous = [resource]
        self._images: dict[str, docker.RemoteImage] = {}
        self._volumes: dict[str, docker.Volume] = {}
        self.register_outputs({"address": host.address})

    def image(self, ref: str) -> docker.RemoteImage:
        """The image pulled on this host (once per reference, shared by the containers that use it)."""
        if ref not in self._images:
            self._images[ref] = docker.RemoteImage(
                f"{self.host.name}-{ref.rsplit('/', 1)[-1]}",
                name=ref,
                keep_locally=True,
                opts=pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=self.ready),
            )
        return self._images[ref]

    def volume(self, name: str) -> docker.Volume:
        """A named volume on this host. Data volumes outlive `destroy`, as with kolla-ansible's destroy
        without --include-volumes; `retain_on_delete` keeps them."""
        if name not in self._volumes:
            self._volumes[name] = docker.Volume(
                f"{self.host.name}-volume-{name}",
                name=name,
                labels=[docker.VolumeLabelArgs(label="kolla_managed", value="true")],
                opts=pulumi.ResourceOptions(
                    parent=self, provider=self.provider, depends_on=self.ready, retain_on_delete=True
                ),
            )
        return self._volumes[name]
