"""Promotion of a release from one stack to the next (dev -> staging -> prod): the pinned release and
image keys, plus the globals keys the source stack lists in its `kolla-pulumi-cli:promotable` config
(a list of globals.yml names, e.g. `[openstack_service_workers, nova_compute_virt_type]`). Only the
target's `globals` is written: passwords and inventory are never copied.

The list lives in the `kolla-pulumi-cli` namespace because the program refuses unknown keys in its
own (`kolla-pulumi`) namespace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.config.passwords import ALL_KEYS
from components.config.stack import TOP_LEVEL_KEYS

PINNED = (
    "openstack_release",
    "openstack_tag",
    "openstack_tag_suffix",
    "kolla_base_distro",
    "kolla_base_distro_version",
    "docker_registry",
    "docker_namespace",
)
PROMOTABLE_KEY = "kolla-pulumi-cli:promotable"


class Unset:
    def __repr__(self) -> str:
        return "(unset)"


UNSET: Any = Unset()


class PromoteError(ValueError):
    """A `promotable` list that names something promotion must never copy."""


@dataclass(frozen=True)
class Change:
    key: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.key}: {self.old!r} -> {self.new!r}"


def promoted_keys(promotable: Any) -> list[str]:
    """The pinned keys, then the source's promotable ones (checked: plain globals names only)."""
    if promotable is None:
        promotable = []
    if not isinstance(promotable, list) or not all(isinstance(k, str) for k in promotable):
        raise PromoteError(f"{PROMOTABLE_KEY} = {promotable!r}: expected a list of globals.yml key names")
    refused = [k for k in promotable if k in ALL_KEYS or k in TOP_LEVEL_KEYS]
    if refused:
        raise PromoteError(
            f"{PROMOTABLE_KEY}: {', '.join(refused)}: passwords and inventory are never promoted; "
            "list globals keys only"
        )
    return [*PINNED, *(k for k in promotable if k not in PINNED)]


def promotion(source: Mapping[str, Any], target: Mapping[str, Any], keys: Sequence[str]) -> list[Change]:
    """What the target's globals would change: each key takes the source's value, or is unset when
    the source leaves it to the default."""
    changes = []
    for key in keys:
        old, new = target.get(key, UNSET), source.get(key, UNSET)
        if old != new:
            changes.append(Change(key, old, new))
    return changes


def apply(target: Mapping[str, Any], changes: Sequence[Change]) -> dict[str, Any]:
    """The target's new globals."""
    result = dict(target)
    for change in changes:
        if change.new is UNSET:
            result.pop(change.key, None)
        else:
            result[change.key] = change.new
    return result
