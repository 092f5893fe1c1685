"""The whole stack config, read once and checked before any resource is declared.

Keys (project namespace `kolla-pulumi`):
- `globals`: Kolla's globals.yml names (components.config.globals) and any Kolla variable the
  templates use (components.context.GROUP_VARS, the services' `variables`);
- `inventory`: hosts and groups (components.config.inventory);
- `passwords`: Kolla's passwords.yml names, as Pulumi secrets (components.config.passwords).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

from components.catalogue import SERVICES, service_variables
from components.config.errors import ConfigError, Problems, did_you_mean
from components.config.globals import SETTINGS, Globals, resolve_globals
from components.config.inventory import Inventory, resolve_inventory
from components.config.passwords import Passwords, resolve_passwords
from components.context import GROUP_VARS
from components.render import CustomConfig

TOP_LEVEL_KEYS = ("globals", "inventory", "passwords")
# Where `pulumi up` typed in a shell finds Pulumi.<stack>.yaml (an Automation API program run from
# another work directory has its settings there, which this check does not see).
PROJECT_ROOT = Path(__file__).resolve().parents[2]

# enable_* flags that turn a service on (others only modify one). Those no catalogue entry
# implements are refused when a user turns them on, and reported as off when Kolla's default is on.
_MODIFIER_FLAGS = {"enable_container_healthchecks", "enable_openstack_core", "enable_nova_ssh"}


@dataclass(frozen=True)
class StackConfig:
    globals: Globals
    inventory: Inventory
    passwords: Passwords
    custom: CustomConfig
    notices: tuple[str, ...] = ()


def implemented_flags() -> set[str]:
    flags = {s.enable_flag for s in SERVICES if s.enable_flag}
    if "enable_haproxy" in flags:
        # Containers of the loadbalancer service, as in Kolla.
        flags |= {"enable_keepalived", "enable_proxysql"}
    if "enable_mariadb" in flags:
        flags |= {"enable_mariabackup"}  # mariadb's on-demand mariabackup container
    return flags | {"enable_fluentd"}


def _effective_flags(resolved: Globals, problems: Problems) -> tuple[dict[str, Any], list[str]]:
    """Kolla's flags with unimplemented services switched off; user-set ones are errors instead."""
    values = dict(resolved.values)
    off_by_us: list[str] = []
    implemented = implemented_flags()
    for name in SETTINGS:
        if not name.startswith("enable_") or name in implemented or name in _MODIFIER_FLAGS:
            continue
        if values.get(name):
            if name in resolved.user_set:
                problems.add(
                    f"globals.{name}",
                    True,
                    "false: kolla-pulumi does not deploy this service yet "
                    f"(it deploys {', '.join(sorted(implemented))})",
                )
            else:
                off_by_us.append(name)
            values[name] = False
    notices = []
    if off_by_us:
        notices.append(
            "Kolla turns on " + ", ".join(off_by_us) + " by default; kolla-pulumi does not deploy them yet, "
            "so they are off (set them to false in globals to silence this)."
        )
    return values, notices


_PROXYSQL_NEEDS = {
    "enable_haproxy": "ProxySQL is deployed with haproxy and keepalived (Kolla's loadbalancer), which hold "
    "the VIP it listens on",
    "enable_mariadb": "ProxySQL balances the mariadb hosts",
}


def _check_proxysql(values: dict[str, Any], user_set: frozenset[str], problems: Problems) -> list[str]:
    """ProxySQL needs haproxy (the VIP) and MariaDB. Turned on by the user without them, it is an error;
    by Kolla's default alone (enable_haproxy false: the VIP is a mariadb host), it is switched off."""
    missing = [flag for flag in _PROXYSQL_NEEDS if values.get("enable_proxysql") and not values.get(flag)]
    if not missing:
        return []
    if "enable_proxysql" in user_set:
        problems.add(
            "globals.enable_proxysql", True, f"false when {missing[0]} is false: {_PROXYSQL_NEEDS[missing[0]]}"
        )
        return []
    values["enable_proxysql"] = False
    return [
        f"Kolla turns on enable_proxysql by default; with {missing[0]} false kolla-pulumi does not deploy it, so "
        "it is off and services reach MariaDB directly (set it to false in globals to silence this)."
    ]


def _check_mariabackup(values: Mapping[str, Any], problems: Problems) -> None:
    """Kolla backs up the active node through haproxy, or with ProxySQL a replica found through it (its
    backup_shard_<id> user and kolla_mariadb_backup_replica.sh): only the former is implemented."""
    if values.get("enable_mariabackup") and values.get("enable_proxysql"):
        problems.add(
            "globals.enable_mariabackup",
            True,
            "false while enable_proxysql is true: kolla-pulumi backs up MariaDB's active node through haproxy "
            "(Kolla's mariadb_backup_target 'active'); the ProxySQL replica target is not implemented yet",
        )


def _check_loadbalancer(values: Mapping[str, Any], inventory: Inventory, problems: Problems) -> None:
    """With haproxy on: a VIP no host has (keepalived holds it), hosts to run on, and what is not deployed."""
    owners = {a: h.name for h in inventory.hosts.values() for a in (h.address, h.api_address)}
    internal = values["kolla_internal_vip_address"]
    vips = {"kolla_internal_vip_address": internal}
    if values["kolla_external_vip_address"] != internal:
        vips["kolla_external_vip_address"] = values["kolla_external_vip_address"]
    for key, vip in vips.items():
        if vip in owners:
            problems.add(
                f"globals.{key}",
                vip,
                f"an address no host has (it is {owners[vip]}'s): with enable_haproxy, keepalived holds the VIP "
                "and haproxy listens on it at the ports the services use on their hosts' own addresses",
            )
    if not inventory.group("loadbalancer"):
        proxysql = ", keepalived and proxysql" if values.get("enable_proxysql") else " and keepalived"
        problems.note(
            f"inventory.groups.loadbalancer: no host to run haproxy{proxysql} on "
            "(it follows `network` unless given); add one or set globals.enable_haproxy to false"
        )
    if values.get("haproxy_single_external_frontend"):
        problems.add(
            "globals.haproxy_single_external_frontend", True, "false: the single external frontend is not deployed yet"
        )


def _check_vip(values: Mapping[str, Any], inventory: Inventory, problems: Problems) -> None:
    if values.get("enable_keepalived") and not values.get("enable_haproxy"):
        problems.add(
            "globals.enable_keepalived",
            True,
            "false when enable_haproxy is false: keepalived is deployed with haproxy (Kolla's loadbalancer)",
        )
    if values.get("enable_haproxy"):
        _check_loadbalancer(values, inventory, problems)
        return
    db_hosts = inventory.group("mariadb") or inventory.group("control")
    addresses = {h.api_address for h in db_hosts}
    vip = values["kolla_internal_vip_address"]
    if vip not in addresses:
        problems.add(
            "globals.kolla_internal_vip_address",
            vip,
            f"the API address of a mariadb host ({', '.join(sorted(addresses))}): without haproxy nothing "
            "listens on a separate VIP",
        )


def read_custom_config(root: str) -> CustomConfig:
    """Every file under node_custom_config, if that directory exists on this machine. A file that is
    not UTF-8 text, or cannot be read, is noted as unreadable (Kolla renders every override as a
    template), and reported with what rendering finds."""
    base = Path(os.path.expanduser(root))
    files: dict[str, str] = {}
    unreadable: list[str] = []
    if base.is_dir():
        for path in sorted(base.rglob("*")):
            if not path.is_file():
                continue
            try:
                files[str(path.relative_to(base))] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                unreadable.append(f"node_custom_config: {path}: {_unreadable(exc)}")
    return CustomConfig(files=files, root=str(base), unreadable=tuple(unreadable))


def _unreadable(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start}); expected a text file Kolla can render as a template"
    return f"cannot be read ({getattr(exc, 'strerror', None) or exc}); expected a readable file"


def plain_text_passwords(stack_file: Path, project: str) -> list[str]:
    """The `passwords.<name>` leaves `stack_file` keeps in plain text. The engine tells the program
    only that the `passwords` object is secret (true once any leaf is), so the file itself is read."""
    try:
        document = yaml.safe_load(stack_file.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return []
    passwords = (document.get("config") or {}).get(f"{project}:passwords")

    def plain(value: Any, path: str) -> list[str]:
        if isinstance(value, Mapping):
            if set(value) == {"secure"}:
                return []
            return [found for key, inner in value.items() for found in plain(inner, f"{path}.{key}")]
        return [] if value in (None, "") else [path]

    return plain(passwords, "passwords") if isinstance(passwords, Mapping) else []


def resolve_stack_config(raw: Mapping[str, Any], custom: CustomConfig | None = None) -> StackConfig:
    """Check everything, collecting every problem, and raise one ConfigError listing them."""
    problems = Problems()
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            problems.note(
                f"{key}: unknown stack config key{did_you_mean(key, TOP_LEVEL_KEYS)}; "
                f"expected {', '.join(TOP_LEVEL_KEYS)}"
            )
    variables = {**GROUP_VARS, **service_variables()}
    sections: dict[str, Any] = {}
    for name, resolve in (
        ("globals", lambda: resolve_globals(raw.get("globals"), variables)),
        ("inventory", lambda: resolve_inventory(raw.get("inventory"))),
    ):
        try:
            sections[name] = resolve()
        except ConfigError as exc:
            problems.items.extend(exc.problems)
    if "globals" in sections and "inventory" in sections:
        values, notices = _effective_flags(sections["globals"], problems)
        notices += _check_proxysql(values, sections["globals"].user_set, problems)
        _check_vip(values, sections["inventory"], problems)
        _check_mariabackup(values, problems)
        required = {
            key
            for service in SERVICES
            if not service.enable_flag or values.get(service.enable_flag)
            for key in service.passwords
        }
        if custom is None:
            custom = read_custom_config(str(values["node_custom_config"]))
    else:
        # Which passwords are needed depends on the globals; their shape is checked regardless.
        required = set()
    try:
        passwords = resolve_passwords(raw.get("passwords"), required)
    except ConfigError as exc:
        problems.items.extend(exc.problems)
    problems.raise_if_any()
    resolved_globals = Globals(values=values, user_set=sections["globals"].user_set)
    assert custom is not None
    return StackConfig(
        globals=resolved_globals,
        inventory=sections["inventory"],
        passwords=passwords,
        custom=custom,
        notices=tuple(notices),
    )


def _value(config: pulumi.Config, key: str) -> Any:
    """The key's object, or its text when it is not JSON (a scalar where an object belongs is then
    reported by the checks, naming the key, instead of failing in the SDK)."""
    try:
        return config.get_object(key)
    except pulumi.config.ConfigTypeError:
        return config.get(key)


def load_stack_config(config: pulumi.Config | None = None) -> StackConfig:
    """Read the stack's config (secrets decrypted by the engine) and check it."""
    config = config or pulumi.Config()
    prefix = f"{config.name}:"
    known = {**pulumi.runtime.config.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    keys = {k[len(prefix) :] for k in known if k.startswith(prefix)} | set(TOP_LEVEL_KEYS)
    raw = {key: _value(config, key) for key in sorted(keys) if config.get(key) is not None}
    # The passwords must be secrets: a plain-text one would sit unencrypted in Pulumi.<stack>.yaml.
    # (Setting any path under `passwords` with --secret makes the engine treat the object as secret.)
    if "passwords" in raw and not pulumi.runtime.config.is_config_secret(config.full_key("passwords")):
        plain = ["passwords"]
    else:
        plain = plain_text_passwords(PROJECT_ROOT / f"Pulumi.{pulumi.get_stack()}.yaml", config.name)
    if plain:
        raise ConfigError(
            [
                f"{path}: stored in plain text in Pulumi.<stack>.yaml; expected a secret: set it with "
                f"`pulumi config set --secret --path {path if path != 'passwords' else 'passwords.<name>'} <value>` "
                "(or generate missing ones with `python -m components.genpwd --stack <stack>`)"
                for path in plain
            ]
        )
    return resolve_stack_config(raw)
