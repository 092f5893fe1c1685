"""INI merging as kolla-ansible's `merge_configs` does it (oslo.config's iniparser rules).

A later source replaces a key's values; a key repeated within one source keeps every value
(multi-valued options); sections and keys keep the order they were first seen in; comments and blank
lines do not survive. The output format is merge_configs' own, so the files match byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterable

ORPHAN = object()  # keys before any [section]

Sections = dict[object, dict[str, list[list[str]]]]


class IniError(ValueError):
    pass


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def parse(text: str, source: str = "<string>") -> Sections:
    """One source's sections: {section: {key: [values...]}}, each value a list of lines."""
    sections: Sections = {}
    current: dict[str, list[list[str]]] | None = None
    last: list[str] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            last = None if not line.strip() else last
            continue
        if line[0] in " \t":
            if last is None:
                raise IniError(f"{source}:{number}: continuation line without a key: {raw!r}")
            last.append(line.strip())
            continue
        if line.startswith("["):
            if not line.endswith("]") or len(line) < 3:
                raise IniError(f"{source}:{number}: invalid section header: {raw!r}")
            current = sections.setdefault(line[1:-1].strip(), {})
            last = None
            continue
        separator = min((i for i in (line.find("="), line.find(":")) if i > 0), default=-1)
        if separator < 0:
            raise IniError(f"{source}:{number}: expected 'key = value': {raw!r}")
        key, value = line[:separator].strip(), _unquote(line[separator + 1 :].strip())
        if current is None:
            current = sections.setdefault(ORPHAN, {})
        last = [] if value == "" else [value]
        current.setdefault(key, []).append(last)
    return sections


def merge(sources: Iterable[tuple[str, str]]) -> str:
    """Merge (name, text) sources in order and write them the way merge_configs writes."""
    merged: Sections = {}
    for name, text in sources:
        for section, keys in parse(text, name).items():
            target = merged.setdefault(section, {})
            target.update(keys)
    out: list[str] = []
    for section, keys in merged.items():
        if section is not ORPHAN:
            out.append(f"[{section}]\n")
        for key, values in keys.items():
            for value in values:
                if not value:
                    out.append(f"{key} =\n")
                for index, line in enumerate(value):
                    if index == 0:
                        out.append(f"{key} = {line}\n")
                    else:
                        out.append(" " * (len(key) + 3) + f"{line}\n")
        out.append("\n")
    return "".join(out)
