"""Config directories changed or removed by hand: seen by every preview, restored by the next `up`.

A remote command has no read: Pulumi cannot see that someone edited /etc/kolla/nova_compute/nova.conf
after kolla-pulumi wrote it. So each write records what it wrote (scripts.write_config_dir: the
directory's fingerprint, in scripts.WRITTEN_DIR), and the program reads every host's records at the
start of each run (one `ssh` per host through the command provider's local `run`, over the same pinned
SSH as the Docker provider). A directory whose fingerprint differs from what was written has drifted:
its config command gets a new repair token, which makes the engine run it again (the files written
back) and replace the container that reads them (it may have been restarted on the edited files, as
kolla-ansible's handlers assume). The written record then carries that token, so the following runs
see no change.

A host that does not answer keeps the tokens its state has (`ignore_changes`), with a warning.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_command as command

from components import scripts
from components.config.inventory import Host
from components.operate.ssh import ssh_argv

# Where the repair token goes: the config command's script, and the container's environment.
TOKEN_ENV = "KOLLA_PULUMI_CONFIG_REPAIR"
# Hosts read at once (Ansible's default forks are 5; a read is one short ssh).
PARALLEL = 20


@dataclass(frozen=True)
class Written:
    fingerprint: str  # what kolla-pulumi wrote last
    actual: str  # what the directory holds now ("absent" when gone)
    token: str  # the repair token that write carried ("" for none)

    @property
    def changed(self) -> bool:
        return self.actual != self.fingerprint


# What a config directory is, as `kolla-pulumi check` names it.
AS_WRITTEN, CHANGED, UNRECORDED = "as-written", "changed-by-hand", "unrecorded"


@dataclass(frozen=True)
class HostRecords:
    reachable: bool
    why: str = ""
    written: Mapping[str, Written] = field(default_factory=dict)

    def repair_token(self, key: str) -> str | None:
        """The token for /etc/kolla/<key>: the one last written while it is as written, a new one when
        it drifted, "" when never recorded (a fresh host, or written before records existed); None when
        the host did not answer (keep the state's)."""
        if not self.reachable:
            return None
        written = self.written.get(key)
        if written is None:
            return ""
        if not written.changed:
            return written.token
        return "repair-" + hashlib.sha256(f"{written.token} {written.actual}".encode()).hexdigest()[:12]

    def state(self, key: str) -> str:
        written = self.written.get(key)
        return UNRECORDED if written is None else CHANGED if written.changed else AS_WRITTEN

    def drifted(self) -> list[str]:
        return sorted(k for k, w in self.written.items() if w.changed)


def parse_host(lines: list[str]) -> HostRecords:
    """One host's answer to scripts.read_written: `ok`, then `<key> <written> <actual> <token>` lines;
    or `unreachable <why>`. Other lines (a health script's before it, say) are not records."""
    fields = [line.split(" ") for line in lines]
    if ["ok"] not in fields:
        why = next((line.removeprefix("unreachable").strip() for line in lines if line.startswith("unreachable")), "")
        return HostRecords(False, why or "no answer")
    written = {f[0]: Written(f[1], f[2], "" if f[3] == "-" else f[3]) for f in fields if len(f) == 4}
    return HostRecords(True, written=written)


def parse(stdout: str, names: list[str]) -> dict[str, HostRecords]:
    """read_command's output: each host's lines (parse_host) prefixed by `<host> `. A host with no line
    did not answer."""
    lines: dict[str, list[str]] = {name: [] for name in names}
    for line in stdout.splitlines():
        name, _, rest = line.partition(" ")
        if name in lines:
            lines[name].append(rest)
    return {name: parse_host(lines[name]) for name in names}


def read_command(hosts: Mapping[str, Host], ssh_files: Mapping[str, tuple[str, str]]) -> str:
    """One local shell command reading every host's records in parallel, each line prefixed by the host."""
    script = shlex.quote(scripts.read_written())
    parts = [
        "set -u",
        "out=$(mktemp -d); trap 'rm -rf \"$out\"' EXIT",
        f"script={script}",
    ]
    for index, (name, host) in enumerate(hosts.items()):
        if index and index % PARALLEL == 0:
            parts.append("wait")  # at most PARALLEL ssh at once: inventories have hundreds of hosts
        ssh = " ".join(shlex.quote(a) for a in (*ssh_argv(host, *ssh_files[name]), "sh -s"))
        # Inventory names are [A-Za-z0-9_.-] (components/config/inventory.py): plain in sh and sed.
        # stdout is the records; stderr is kept apart and only its last line said when ssh fails.
        parts.append(
            f"# host {name}\n"
            f'(if said=$(printf \'%s\' "$script" | {ssh} 2>"$out"/{name}.err); then printf \'%s\\n\' "$said";'
            f' else echo "unreachable $(tail -n 1 "$out"/{name}.err)"; fi) | sed "s/^/{name} /" > "$out"/{name}.out &'
        )
    parts += ["wait", 'cat "$out"/*.out']
    return "\n".join(parts) + "\n"


def observe(hosts: Mapping[str, Host], ssh_files: Mapping[str, tuple[str, str]]) -> dict[str, HostRecords]:
    """Every host's records, read now (at each preview and each up), before any resource is declared."""
    if not hosts:
        return {}
    result = command.local.run(command=read_command(hosts, ssh_files), logging=command.local.Logging.NONE)
    records = parse(result.stdout or "", list(hosts))
    for name, found in records.items():
        if not found.reachable:
            pulumi.log.warn(
                f"{name}: not reachable over SSH ({found.why}); its config directories under"
                f" {scripts.KOLLA_ETC} are not checked for changes made by hand this run"
            )
        for key in found.drifted():
            pulumi.log.warn(
                f"{name}: {scripts.KOLLA_ETC}/{key} differs from what kolla-pulumi wrote (changed or removed"
                " by hand): `up` writes it again and restarts its container"
            )
    return records
