"""One error type for bad stack config, carrying every problem found, each naming key, value and need."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from pulumi import RunError


class ConfigError(RunError, ValueError):
    """Raised before any resource is declared; lists every problem so one run shows them all.

    A RunError: under the engine the language host prints the message alone, not a Python traceback."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        super().__init__(self._format())

    def _format(self) -> str:
        if len(self.problems) == 1:
            return f"invalid stack config: {self.problems[0]}"
        lines = "\n".join(f"  - {p}" for p in self.problems)
        return f"invalid stack config ({len(self.problems)} problems):\n{lines}"


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a close known name exists, else ''."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Problems:
    """Collects problems while a section of config is checked, then raises them together."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, key: str, value: object, expected: str) -> None:
        self.items.append(f"{key} = {value!r}: expected {expected}")

    def note(self, message: str) -> None:
        self.items.append(message)

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(self.items)
