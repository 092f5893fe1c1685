"""Import a kolla-ansible deployment's files into this program's stack config.

    import_kolla("/etc/kolla/globals.yml", "multinode", "/etc/kolla/passwords.yml") -> KollaImport

`KollaImport.config` has the stack config's three sections ("globals", "inventory", "passwords") in the
shapes components.config.stack.resolve_stack_config accepts; `KollaImport.unmapped` has one line per
key or inventory item that was not carried over, each starting with the key's path in our config
(`globals.<key>`, `inventory.hosts.<host>...`, `inventory.groups.<group>...`, `passwords.<key>`) and
saying why. What an inventory never holds (IP addresses for DNS names, host keys, private keys) is left
for the user to fill in, and reported.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import shlex
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.catalogue import service_variables
from components.config.errors import ConfigError, did_you_mean
from components.config.globals import SETTINGS, resolve_globals
from components.config.inventory import NODE_GROUPS, SERVICE_GROUP_PARENTS
from components.config.passwords import ALL_KEYS, BLANK_KEYS, SSH_KEYS

# The flags stack.py accepts on although no service implements them (they modify other services).
from components.config.stack import _MODIFIER_FLAGS, implemented_flags
from components.context import GROUP_VARS

GENPWD = "`kolla-pulumi genpwd`"


@dataclass(frozen=True)
class KollaImport:
    """The stack config mapped from kolla-ansible's files, and a line per item left out (with why)."""

    config: dict[str, Any]
    unmapped: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- YAML


class _Unsafe(str):
    """A `!unsafe` string: Ansible never templates it, so braces in it are not Jinja."""


class _Vault:
    """An inline `!vault` value: encrypted, so nothing to import until it is decrypted."""


class _AnsibleLoader(yaml.SafeLoader):
    """PyYAML's safe loader plus Ansible's two tags, so that one tagged value does not fail the file."""


_AnsibleLoader.add_constructor("!unsafe", lambda loader, node: _Unsafe(loader.construct_scalar(node)))
_AnsibleLoader.add_constructor("!vault", lambda loader, node: _Vault())


def _load_yaml(text: str, what: str) -> dict[str, Any]:
    data = yaml.load(text, Loader=_AnsibleLoader)  # a SafeLoader subclass: no arbitrary objects
    if data is None:
        return {}
    if isinstance(data, str) and data.startswith("$ANSIBLE_VAULT"):
        raise ValueError(f"{what} is encrypted with ansible-vault: decrypt it first (`ansible-vault decrypt`)")
    if not isinstance(data, Mapping):
        raise ValueError(f"{what}: expected a YAML mapping of variable names to values")
    return {str(k): v for k, v in data.items()}


def _has_jinja(value: Any) -> bool:
    if isinstance(value, _Unsafe):
        return False
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(_has_jinja(k) or _has_jinja(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_jinja(v) for v in value)
    return False


# ------------------------------------------------------------------------------------------ globals

_ANSIBLE_ONLY = re.compile(r"ansible_.*|kolla_ansible_.*|.*max_fail_percentage|workaround_ansible_issue_\d+")
_HOST_PREP = "host preparation kolla-pulumi does not manage (kolla-ansible's bootstrap-servers territory)"
_SPECIFIC_REASONS = {
    "kolla_container_engine": "kolla-pulumi drives Docker only (no podman); nothing to import",
    "docker_client_timeout": "an Ansible-only setting (the timeout of kolla-ansible's container module)",
    "disable_firewall": _HOST_PREP,
    "enable_external_api_firewalld": _HOST_PREP,
    "external_api_firewalld_zone": _HOST_PREP,
    "kolla_sysctl_conf_path": _HOST_PREP,
}
_FALSE = {"no", "false", "off", "0"}
_PLACEHOLDER_VIP = "192.0.2.1"  # TEST-NET-1: only lets one key be checked on its own


def kolla_variables() -> dict[str, Any]:
    """The Kolla variables (group_vars, role defaults) a user may set in globals, with their defaults."""
    return {**GROUP_VARS, **service_variables()}


def _kind(key: str, variables: Mapping[str, Any]) -> type:
    """The type resolve_globals coerces `key` to (a variable is typed by its default, as there)."""
    if key in SETTINGS:
        return SETTINGS[key].kind
    default = variables[key]
    return type(default) if isinstance(default, bool | int | dict) else str


def _typo_of(key: str, known: list[str]) -> str:
    """' (a typo of 'x'?)' only for a near-identical name: most unknown keys are real Kolla variables."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.9)
    return f" (a typo of '{close[0]}'?)" if close else ""


def _unknown_reason(key: str, value: Any, known: list[str]) -> str:
    if key in _SPECIFIC_REASONS:
        return _SPECIFIC_REASONS[key]
    if _ANSIBLE_ONLY.fullmatch(key):
        return "an Ansible-only setting (it means nothing outside ansible-playbook)"
    if key.startswith("enable_"):
        if _has_jinja(value):
            return "unknown to kolla-pulumi: a Kolla feature flag derived from others, for a feature it does not deploy"
        if value is False or (isinstance(value, str) and value.lower() in _FALSE):
            return "unknown to kolla-pulumi: a Kolla feature flag, off here, so nothing is lost"
        return "unknown to kolla-pulumi: a Kolla service or feature it does not deploy yet"
    return "unknown to kolla-pulumi (neither one of its globals nor a Kolla variable its templates use)" + _typo_of(
        key, known
    )


def _checked_value(key: str, value: Any, variables: Mapping[str, Any]) -> tuple[Any, str | None]:
    """(value as resolve_globals coerces it, None) or (None, why it is refused)."""
    user = {key: value}
    if key != "kolla_internal_vip_address":
        user["kolla_internal_vip_address"] = _PLACEHOLDER_VIP
    try:
        resolved = resolve_globals(user, variables)
    except ConfigError as exc:
        return None, "value not accepted: " + "; ".join(exc.problems)
    return resolved.values[key], None


def _map_global(key: str, value: Any, variables: Mapping[str, Any], deployed: set[str]) -> tuple[Any, str | None]:
    """(mapped value, None) or (None, why the key is not mapped)."""
    if key not in SETTINGS and key not in variables:
        return None, _unknown_reason(key, value, [*SETTINGS, *variables])
    if isinstance(value, _Vault):
        return None, "an ansible-vault encrypted value: decrypt it and set the key by hand"
    if _has_jinja(value):
        return None, (
            f"a Jinja expression ({_short(value)}) kolla-pulumi cannot evaluate: it derives this key from the "
            "others as Kolla's default does; set a literal value if yours differs"
        )
    if value is None:
        if _kind(key, variables) is not str:
            return None, "empty (null) value: kolla-pulumi's default applies"
        value = ""  # Ansible renders a null variable as an empty string
    mapped, problem = _checked_value(key, value, variables)
    if problem:
        return None, problem
    if key.startswith("enable_") and key in SETTINGS and mapped is True and key not in deployed:
        return None, "a service kolla-pulumi does not deploy yet: leave it off, or deploy it with kolla-ansible"
    return mapped, None


def _short(value: Any, limit: int = 60) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def map_globals(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """globals.yml's keys as our globals, and a line per key left out."""
    variables = kolla_variables()
    deployed = implemented_flags() | set(_MODIFIER_FLAGS)
    mapped: dict[str, Any] = {}
    unmapped: list[str] = []
    for key, value in data.items():
        result, reason = _map_global(key, value, variables, deployed)
        if reason is None:
            mapped[key] = result
        else:
            unmapped.append(f"globals.{key}: {reason}")
    if "kolla_internal_vip_address" not in mapped and "kolla_internal_vip_address" not in data:
        unmapped.append(
            "globals.kolla_internal_vip_address: not in globals.yml but required: set the VIP keepalived holds "
            "(or, with enable_haproxy false, the first control host's API address)"
        )
    return mapped, unmapped


# ------------------------------------------------------------------------------- Ansible INI inventory

_SECTION = re.compile(r"\[([^\[\]:\s]+)(?::([A-Za-z]+))?\]")
_RANGE = re.compile(r"\[([A-Za-z0-9]*):([A-Za-z0-9]+)(?::(\d+))?\]")


def expand_host_pattern(pattern: str) -> list[str]:
    """Ansible's host ranges: `control[01:03]` -> control01..control03 (zero-padded like the start),
    `node[a:c]`, `web[1:9:2]` (a stride); several ranges multiply."""
    match = _RANGE.search(pattern)
    if not match:
        return [pattern]
    head, tail = pattern[: match.start()], pattern[match.end() :]
    beg, end, stride = match.group(1) or "0", match.group(2), int(match.group(3) or 1)
    if beg.isdigit() and end.isdigit():
        width = len(beg) if beg.startswith("0") and len(beg) > 1 else 0
        items = [str(i).zfill(width) for i in range(int(beg), int(end) + 1, stride)]
    elif len(beg) == len(end) == 1 and beg.isalpha() and end.isalpha():
        letters = string.ascii_letters
        items = list(letters[letters.index(beg) : letters.index(end) + 1 : stride])
    else:
        raise ValueError(f"host range {match.group(0)!r}: expected [start:end] of numbers or single letters")
    if not items:
        raise ValueError(f"host range {match.group(0)!r} is empty")
    return [host for item in items for host in expand_host_pattern(head + item + tail)]


@dataclass
class AnsibleInventory:
    """An Ansible INI inventory as written: each group's own hosts, children and variables."""

    hosts: dict[str, dict[str, str]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)
    group_vars: dict[str, dict[str, str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add_group(self, name: str) -> None:
        self.groups.setdefault(name, [])
        self.children.setdefault(name, [])
        self.group_vars.setdefault(name, {})

    def members(self, group: str) -> list[str]:
        """The group's hosts, its own first, then its descendants' level by level (as Ansible orders them)."""
        out: list[str] = []
        level, seen = [group], {group}
        while level:
            for name in level:
                out.extend(self.groups.get(name, ()))
            nxt = [c for name in level for c in self.children.get(name, ()) if c not in seen]
            seen.update(nxt)
            level = list(dict.fromkeys(nxt))
        return list(dict.fromkeys(out))

    def parents(self, group: str) -> list[str]:
        return [g for g, kids in self.children.items() if group in kids]

    def depth(self, group: str, seen: frozenset[str] = frozenset()) -> int:
        """Ansible's group depth (all = 0, top-level groups 1): deeper groups' variables win."""
        if group == "all":
            return 0
        above = [p for p in self.parents(group) if p not in seen and p != "all"]
        return 1 + max((self.depth(p, seen | {group}) for p in above), default=0)

    def groups_of(self, host: str) -> list[str]:
        return [g for g in self.groups if host in self.members(g)]

    def effective_vars(self, host: str) -> dict[str, tuple[str, str]]:
        """name -> (value, where it was set): all's, then groups' by depth and name, then the host's own."""
        ordered = sorted(self.groups_of(host), key=lambda g: (self.depth(g), g))
        out: dict[str, tuple[str, str]] = {}
        for group in ["all", *ordered]:
            for name, value in self.group_vars.get(group, {}).items():
                out[name] = (value, f"[{group}:vars]")
        for name, value in self.hosts.get(host, {}).items():
            out[name] = (value, "its host line")
        return out


def _split(line: str) -> list[str]:
    return shlex.split(line, comments=True)


def _host_line(inv: AnsibleInventory, group: str, tokens: list[str]) -> None:
    pattern, assignments = tokens[0], tokens[1:]
    port = None
    if pattern.count(":") == 1 and (m := re.fullmatch(r"(.+):(\d+)", pattern)):
        pattern, port = m.group(1), m.group(2)
    host_vars: dict[str, str] = {"ansible_port": port} if port else {}
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"expected name=value after the host, got {item!r}")
        host_vars[name] = value
    for host in expand_host_pattern(pattern):
        inv.hosts.setdefault(host, {}).update(host_vars)
        if host not in inv.groups[group]:
            inv.groups[group].append(host)


def _var_line(inv: AnsibleInventory, group: str, line: str) -> None:
    name, sep, value = line.partition("=")
    if not sep:
        raise ValueError("expected name=value")
    value = value.strip()
    parts = _split(value) if value[:1] in "'\"" else [value]
    inv.group_vars[group][name.strip()] = parts[0] if len(parts) == 1 else value


def parse_ansible_ini(text: str) -> AnsibleInventory:
    """Ansible's INI inventory format (configparser cannot read host lines such as `h1 ansible_user=x`)."""
    inv = AnsibleInventory()
    group, kind = "ungrouped", "hosts"
    inv.add_group(group)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        try:
            if line.startswith("["):
                match = _SECTION.fullmatch(line.split("#")[0].strip())
                if not match or (match.group(2) or "hosts") not in ("hosts", "children", "vars"):
                    raise ValueError("expected [group], [group:children] or [group:vars]")
                group, kind = match.group(1), match.group(2) or "hosts"
                inv.add_group(group)
            elif kind == "vars":
                _var_line(inv, group, line)
            elif kind == "children":
                child = _split(line)[0]
                inv.add_group(child)
                if child not in inv.children[group]:
                    inv.children[group].append(child)
            else:
                _host_line(inv, group, _split(line))
        except (ValueError, IndexError) as exc:
            inv.problems.append(f"inventory line {number}: {raw.strip()!r} not understood ({exc}): not imported")
    return inv


# Connection variables and the host key each maps to; ansible_connection is handled on its own.
_CONNECTION_VARS = {
    "ansible_host": "address",
    "ansible_ssh_host": "address",
    "ansible_port": "port",
    "ansible_ssh_port": "port",
    "ansible_user": "user",
    "ansible_ssh_user": "user",
    "ansible_ssh_private_key_file": "private_key_file",
    "ansible_private_key_file": "private_key_file",
}
_SSH_CONNECTIONS = {"ssh", "smart", "paramiko"}
# Groups kolla-ansible renamed in 2026.1 (kolla-logs -> kolla_logs); we keep 2025.1's names.
_GROUP_ALIASES = {"kolla_logs": "kolla-logs", "kolla_toolbox": "kolla-toolbox"}
# Service groups Kolla places by host_in_groups rather than by an inventory group.
_PLACED_BY_KOLLA = {"neutron-openvswitch-agent"}


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _host_entry(name: str, inv: AnsibleInventory, unmapped: list[str]) -> dict[str, Any]:
    """One host's connection settings; what an inventory cannot give is reported for the user to fill."""
    key = f"inventory.hosts.{name}"
    entry: dict[str, Any] = {}
    settings: dict[str, str] = {}
    connection = "ssh"
    for var, (value, where) in inv.effective_vars(name).items():
        if var in _CONNECTION_VARS:
            settings[_CONNECTION_VARS[var]] = value
        elif var == "ansible_connection":
            connection = value
        elif where == "its host line":  # group variables are reported once per group, not per host
            unmapped.append(f"{key}.{var}: {_variable_reason(var, value)}")
    if "port" in settings:
        port = settings["port"]
        if port.isdigit():
            entry["port"] = int(port)
        else:
            unmapped.append(f"{key}.port: ansible_port {port!r} is not a number: not imported")
    if "user" in settings:
        entry["user"] = settings["user"]
    target = settings.get("address", name)
    if connection == "local":
        entry["address"] = "127.0.0.1"
        unmapped.append(
            f"{key}.address: ansible_connection=local, mapped to 127.0.0.1 as a placeholder: kolla-pulumi reaches "
            "every host over SSH, so set the host's real address (and hostname: Kolla uses the machine's own)"
        )
    elif connection not in _SSH_CONNECTIONS:
        unmapped.append(f"{key}: ansible_connection={connection}: kolla-pulumi reaches hosts over SSH only")
    if "address" not in entry:
        if _is_ip(target):
            entry["address"] = target
        else:
            unmapped.append(
                f"{key}.address: {target!r} is not an IP address (Ansible resolves it by DNS): set the host's address"
            )
    if "private_key_file" in settings:
        entry["private_key_file"] = settings["private_key_file"]
    else:
        unmapped.append(
            f"{key}.private_key_file: no ansible_ssh_private_key_file (Ansible falls back to ssh-agent or "
            "~/.ssh keys): kolla-pulumi connects with the key it is given: set private_key_file"
        )
    port_flag = f"-p {entry['port']} " if entry.get("port", 22) != 22 else ""
    scan_target = target if connection != "local" else "<address>"
    unmapped.append(
        f"{key}.host_key_file: an Ansible inventory holds no host keys and kolla-pulumi pins them: "
        f"run `ssh-keyscan -t ed25519 {port_flag}{scan_target} > {name}.pub`, check the fingerprint out of band, "
        f"and set host_key_file to that file"
    )
    return entry


def _variable_reason(var: str, value: str) -> str:
    where = "in globals (if it applies to every host)"
    if var == "api_interface":
        where += "; a host's own API address goes in inventory.hosts.<host>.api_address"
    shown = f"{var}={_short(value, 40)}"
    return f"{shown} not imported: kolla-pulumi takes Kolla variables from globals only: set it {where}"


def _used_groups(inv: AnsibleInventory) -> dict[str, str]:
    """Our group name -> the inventory's name, for the node and service groups both know."""
    ours = set(NODE_GROUPS) | set(SERVICE_GROUP_PARENTS)
    found: dict[str, str] = {}
    for name in inv.groups:
        canonical = _GROUP_ALIASES.get(name, name)
        if canonical in ours:
            found.setdefault(canonical, name)
    return found


def _map_groups(inv: AnsibleInventory, used: Mapping[str, str], unmapped: list[str]) -> dict[str, list[str]]:
    """Node groups as listed; service groups only where they differ from what we derive from the parents."""
    out: dict[str, list[str]] = {}
    current: dict[str, list[str]] = {}
    for group in NODE_GROUPS:
        current[group] = inv.members(used[group]) if group in used else []
        if current[group]:
            out[group] = current[group]
    if not current["control"]:
        unmapped.append("inventory.groups.control: no hosts in [control]: at least one is needed")
    for group, parents in SERVICE_GROUP_PARENTS.items():
        default = list(dict.fromkeys(h for parent in parents for h in current.get(parent, ())))
        if group not in used:
            if group not in _PLACED_BY_KOLLA:
                unmapped.append(
                    f"inventory.groups.{group}: not in the inventory (Ansible would deploy it nowhere): "
                    f"kolla-pulumi places it on {', '.join(parents)}"
                )
            current[group] = default
            continue
        current[group] = inv.members(used[group])
        if current[group] != default:
            out[group] = current[group]
    return out


def _unused_group_reason(group: str) -> str:
    if group == "deployment":
        return "kolla-ansible's deployment host: kolla-pulumi runs wherever Pulumi runs"
    return "a group kolla-pulumi does not use (a service it does not deploy yet, or a Kolla feature group)"


def map_inventory(text: str, api_interface: str = "eth0") -> tuple[dict[str, Any], list[str]]:
    """An Ansible INI inventory as our inventory (hosts and groups), and a line per item left out."""
    inv = parse_ansible_ini(text)
    unmapped = list(inv.problems)
    used = _used_groups(inv)
    groups = _map_groups(inv, used, unmapped)
    in_use = {h for name in used.values() for h in inv.members(name)}
    hosts: dict[str, Any] = {}
    for name in inv.hosts:
        if name in in_use:
            hosts[name] = _host_entry(name, inv, unmapped)
        else:
            elsewhere = ", ".join(g for g in inv.groups_of(name) if g != "ungrouped") or "no group"
            unmapped.append(
                f"inventory.hosts.{name}: only in groups kolla-pulumi does not use ({elsewhere}): not imported"
            )
    if hosts:
        unmapped.append(
            f"inventory.hosts.*.api_address: Kolla takes each host's API address from its {api_interface} "
            "interface; kolla-pulumi uses the host's address unless api_address is set: set it where they differ"
        )
    for group, variables in inv.group_vars.items():
        for var, value in variables.items():
            if var not in _CONNECTION_VARS and var != "ansible_connection":
                unmapped.append(f"inventory.groups.{group}.vars.{var}: {_variable_reason(var, value)}")
    for group in inv.groups:
        if group not in used.values() and group not in ("all", "ungrouped"):
            unmapped.append(f"inventory.groups.{group}: {_unused_group_reason(group)}")
    return {"hosts": hosts, "groups": groups}, unmapped


# ------------------------------------------------------------------------------------------ passwords


def _secret_text(value: Any) -> str | None:
    """None for an empty value: "not set", as kolla-genpwd reads it."""
    return None if value is None or value == "" else str(value)


def read_passwords_yml(path: str | Path) -> dict[str, Any]:
    """kolla-ansible's passwords.yml: name -> string, SSH keys as {private_key, public_key}; None = not set.

    Raises ValueError for an ansible-vault encrypted file or value (they must be decrypted first)."""
    data = _load_yaml(Path(path).read_text(), str(path))
    vaulted = [k for k, v in data.items() if isinstance(v, _Vault) or _Vault in map(type, _parts(v))]
    if vaulted:
        raise ValueError(f"{path}: ansible-vault encrypted values ({', '.join(vaulted)}): decrypt them first")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            pair = {part: _secret_text(value.get(part)) for part in ("private_key", "public_key")}
            out[key] = pair if any(pair.values()) else None
        else:
            out[key] = _secret_text(value)
    return out


def _parts(value: Any) -> list[Any]:
    return list(value.values()) if isinstance(value, Mapping) else []


def _password_problem(key: str, value: Any) -> str | None:
    """Why a present value cannot be used (the value itself is never quoted)."""
    if key in SSH_KEYS:
        if not isinstance(value, Mapping):
            return f"expected a key pair {{private_key, public_key}}: to be generated by {GENPWD}"
        if not (value.get("private_key") and value.get("public_key")):
            return f"incomplete key pair (private_key and public_key are both needed): to be generated by {GENPWD}"
        return None
    return None if isinstance(value, str) else "expected a string"


def map_passwords(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Every known key with a value, and a line per key left out (unknown, empty, malformed)."""
    mapped: dict[str, Any] = {}
    unmapped: list[str] = []
    for key, value in values.items():
        if key not in ALL_KEYS:
            unmapped.append(f"passwords.{key}: unknown to kolla-pulumi{did_you_mean(key, ALL_KEYS)}: not imported")
        elif value is None and key in BLANK_KEYS:
            unmapped.append(f"passwords.{key}: empty: left unset (set it only if your registry needs a password)")
        elif value is None:
            unmapped.append(f"passwords.{key}: empty: to be generated by {GENPWD}")
        elif problem := _password_problem(key, value):
            unmapped.append(f"passwords.{key}: {problem}")
        else:
            mapped[key] = dict(value) if isinstance(value, Mapping) else value
    return mapped, unmapped


# -------------------------------------------------------------------------------------------- import


def import_kolla_data(
    globals_data: Mapping[str, Any], inventory_text: str, passwords: Mapping[str, Any]
) -> KollaImport:
    """The mapping itself, from globals.yml's data, the inventory's text and read_passwords_yml's result."""
    globals_out, unmapped = map_globals(globals_data)
    api_interface = globals_out.get("api_interface") or globals_out.get("network_interface") or "eth0"
    inventory_out, inventory_unmapped = map_inventory(inventory_text, api_interface=str(api_interface))
    passwords_out, passwords_unmapped = map_passwords(passwords)
    return KollaImport(
        config={"globals": globals_out, "inventory": inventory_out, "passwords": passwords_out},
        unmapped=[*unmapped, *inventory_unmapped, *passwords_unmapped],
    )


def import_kolla(globals_path: str | Path, inventory_path: str | Path, passwords_path: str | Path) -> KollaImport:
    """Read kolla-ansible's globals.yml, INI inventory and passwords.yml and map them (see the module doc)."""
    return import_kolla_data(
        _load_yaml(Path(globals_path).read_text(), str(globals_path)),
        Path(inventory_path).read_text(),
        read_passwords_yml(passwords_path),
    )
