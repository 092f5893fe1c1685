"""The slice of pulumi-command 1.2.1's schema the stand-in implements, and its input checks.

Input names are the camelCase ones the real SDK sends. Anything else is refused by name: a stand-in
that silently ignored an input would let a test pass that the real provider fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi.provider.experimental.property_value import Computed, PropertyValue

from testbed.standins.command_ssh import CONNECTION_FIELDS, PROXY_FIELDS

COMMAND = "command:remote:Command"
COPY_TO_REMOTE = "command:remote:CopyToRemote"

LOGGING = ("stdout", "stderr", "stdoutAndStderr", "none")

# type token -> input name -> Python type of its plain value ("asset" for an asset or archive).
INPUTS: dict[str, dict[str, Any]] = {
    COMMAND: {
        "connection": dict,
        "create": str,
        "update": str,
        "delete": str,
        "environment": dict,
        "stdin": str,
        "triggers": list,
        "addPreviousOutputInEnv": bool,
        "logging": str,
    },
    COPY_TO_REMOTE: {"connection": dict, "source": "asset", "remotePath": str, "triggers": list},
}
REQUIRED = {COMMAND: ("connection",), COPY_TO_REMOTE: ("connection", "source", "remotePath")}
OUTPUTS = {COMMAND: ("stdout", "stderr"), COPY_TO_REMOTE: ()}
REPLACE_ON_CHANGES = ("triggers",)


class _Unknown:
    """A value not known yet (preview); equal to nothing, not even itself."""

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()


def plain(value: PropertyValue) -> Any:
    """The Python value inside a PropertyValue, secrets unwrapped, unknowns as UNKNOWN."""
    inner = value.value
    if isinstance(inner, Computed):
        return UNKNOWN
    if isinstance(inner, Mapping):
        return {k: plain(v) for k, v in inner.items()}
    if isinstance(inner, Sequence) and not isinstance(inner, str):
        return [plain(v) for v in inner]
    return inner


def is_known(value: Any) -> bool:
    if value is UNKNOWN:
        return False
    if isinstance(value, dict):
        return all(is_known(v) for v in value.values())
    if isinstance(value, list):
        return all(is_known(v) for v in value)
    return True


def _type_ok(value: Any, expected: Any) -> bool:
    if value is UNKNOWN or value is None:
        return True
    if expected == "asset":
        import pulumi

        return isinstance(value, pulumi.Asset | pulumi.Archive)
    if expected is float:
        return isinstance(value, float) and not isinstance(value, bool)
    return isinstance(value, expected)


def _check_fields(
    values: Mapping[str, Any], schema: Mapping[str, Any], prefix: str, what: str
) -> list[tuple[str, str]]:
    failures = []
    for name, value in values.items():
        path = f"{prefix}{name}"
        if name not in schema:
            failures.append((path, f"the pulumi-command stand-in does not implement {what} {path!r}"))
        elif not _type_ok(value, schema[name]):
            failures.append((path, f"{path} has the wrong type ({type(value).__name__})"))
    return failures


def _check_connection(conn: Any, prefix: str, schema: Mapping[str, Any]) -> list[tuple[str, str]]:
    if conn is UNKNOWN:
        return []
    failures = _check_fields(conn, schema, prefix, "connection input")
    if "host" not in conn:
        failures.append((f"{prefix}host", f"{prefix}host is required"))
    proxy = conn.get("proxy")
    if isinstance(proxy, dict):
        failures += _check_connection(proxy, f"{prefix}proxy.", PROXY_FIELDS)
    return failures


def check_inputs(type_token: str, inputs: Mapping[str, PropertyValue]) -> list[tuple[str, str]]:
    """(property, reason) for every input the real schema rejects or the stand-in lacks."""
    if type_token not in INPUTS:
        implemented = ", ".join(INPUTS)
        return [("", f"the pulumi-command stand-in implements only {implemented}, not {type_token}")]
    values = {k: plain(v) for k, v in inputs.items() if not k.startswith("__")}
    failures = _check_fields(values, INPUTS[type_token], "", "input")
    failures += [(name, f"{name} is required") for name in REQUIRED[type_token] if name not in values]
    if isinstance(values.get("connection"), dict):
        failures += _check_connection(values["connection"], "connection.", CONNECTION_FIELDS)
    if type_token == COMMAND:
        logging = values.get("logging")
        if isinstance(logging, str) and logging not in LOGGING:
            failures.append(("logging", f"logging must be one of {', '.join(LOGGING)}"))
        env = values.get("environment")
        if isinstance(env, dict) and not all(isinstance(v, str) or v is UNKNOWN for v in env.values()):
            failures.append(("environment", "environment values must be strings"))
    else:
        failures += _check_source(values.get("source"))
    return failures


def _check_source(source: Any) -> list[tuple[str, str]]:
    import pulumi

    if source is None or source is UNKNOWN:
        return []
    if isinstance(source, pulumi.FileAsset | pulumi.StringAsset | pulumi.FileArchive):
        return []
    return [("source", "source must be a FileAsset, a StringAsset or a FileArchive")]
