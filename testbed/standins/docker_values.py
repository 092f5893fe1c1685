"""Plain Python values <-> the SDK's PropertyValue, for the docker stand-in.

The stand-in's logic works on plain dicts/lists; secrets and unknowns are tracked at the top level
only (a property is secret if any part of it is), which is how the engine itself copies secretness
from inputs to outputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi.provider.experimental.property_value import Computed, PropertyValue
from pulumi.runtime.rpc import UNKNOWN as UNKNOWN_SENTINEL


class Unknown:
    """An input whose value is not known yet (preview with an unresolved Output)."""

    def __repr__(self) -> str:
        return "<unknown>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unknown)

    def __hash__(self) -> int:
        return 0


UNKNOWN = Unknown()


def to_plain(value: PropertyValue) -> Any:
    inner = value.value
    # The experimental SDK unmarshals an unknown as the wire sentinel string, and cannot marshal
    # its own Computed: unknowns travel as the sentinel both ways.
    if isinstance(inner, Computed) or inner == UNKNOWN_SENTINEL:
        return UNKNOWN
    if isinstance(inner, float) and inner.is_integer():
        # Pulumi numbers are floats; every numeric docker input is an integer.
        return int(inner)
    if isinstance(inner, Mapping):
        return {k: to_plain(v) for k, v in inner.items()}
    if isinstance(inner, Sequence) and not isinstance(inner, str):
        return [to_plain(v) for v in inner]
    return inner


def plain_map(props: Mapping[str, PropertyValue]) -> dict[str, Any]:
    """Plain values, dropping nulls (an input set to None is an input not set)."""
    return {k: to_plain(v) for k, v in props.items() if v.value is not None and not k.startswith("__")}


def secret_keys(props: Mapping[str, PropertyValue]) -> set[str]:
    return {k for k, v in props.items() if v.contains_secret()}


def has_unknown(value: Any) -> bool:
    if isinstance(value, Unknown):
        return True
    if isinstance(value, dict):
        return any(has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(has_unknown(v) for v in value)
    return False


def to_property(value: Any, secret: bool = False) -> PropertyValue:
    if isinstance(value, Unknown):
        return PropertyValue(UNKNOWN_SENTINEL)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        result = PropertyValue(value)
    elif isinstance(value, int | float):
        result = PropertyValue(float(value))
    elif isinstance(value, dict):
        result = PropertyValue({k: to_property(v) for k, v in value.items()})
    elif isinstance(value, list | tuple):
        result = PropertyValue([to_property(v) for v in value])
    else:
        raise TypeError(f"cannot marshal {type(value).__name__}")
    return result.with_secret(True) if secret else result


def property_map(values: Mapping[str, Any], secrets: set[str]) -> dict[str, PropertyValue]:
    return {k: to_property(v, k in secrets) for k, v in values.items()}
