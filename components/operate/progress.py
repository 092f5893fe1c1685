"""What an operation shows while it runs: a redrawn status line on a terminal, one line per change
otherwise, only the summary and errors with `quiet`, or the engine's events as JSON lines."""

from __future__ import annotations

import json
import sys
import time
from enum import Enum
from typing import Any, TextIO

from pulumi.automation import EngineEvent

MODES = ("live", "lines", "quiet", "json")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def event_dict(value: Any) -> Any:
    """An Automation API event object as plain JSON data, its field names camelCased back to the
    engine's own event-log names (`resourcePreEvent`, `detailedDiff`), so a pipeline reads the same
    JSON as `pulumi up --json` prints; unset fields left out, data keys (inputs, outputs) untouched."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: event_dict(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [event_dict(v) for v in value]
    if hasattr(value, "__dict__"):
        return {_camel(k): event_dict(v) for k, v in vars(value).items() if v is not None and not k.startswith("_")}
    return value


def op_name(op: Any) -> str:
    """An operation's name (`OpType.SAME` -> `same`; str() of a str Enum would keep the class name)."""
    return op.value if isinstance(op, Enum) else str(op)


def _short(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


class Reporter:
    """Receives the engine's events (`on_event`) and the tool's own messages for one operation."""

    def __init__(self, mode: str, out: TextIO | None = None, err: TextIO | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"output mode {mode!r}: expected one of {', '.join(MODES)}")
        self.mode = mode
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.started = time.monotonic()
        self.seen: set[str] = set()
        self.done: set[str] = set()
        self.failed: list[str] = []
        self.current = ""
        self.changes: dict[str, int] = {}
        self._drawn = False

    @classmethod
    def for_args(cls, json_output: bool, quiet: bool, out: TextIO | None = None) -> Reporter:
        stream = out or sys.stdout
        if json_output:
            return cls("json", stream)
        if quiet:
            return cls("quiet", stream)
        return cls("live" if stream.isatty() else "lines", stream)

    # The tool's own messages: never on stdout in json mode, where stdout carries only events.
    def info(self, text: str) -> None:
        if self.mode in ("live", "lines"):
            self._clear()
            print(text, file=self.out, flush=True)

    def error(self, text: str) -> None:
        self._clear()
        print(text, file=self.err, flush=True)

    def result(self, text: str) -> None:
        """The final summary: shown in every mode (on stderr in json mode)."""
        self._clear()
        print(text, file=self.err if self.mode == "json" else self.out, flush=True)

    def on_event(self, event: EngineEvent) -> None:
        if self.mode == "json":
            print(json.dumps(event_dict(event), sort_keys=True), file=self.out, flush=True)
        if event.resource_pre_event is not None:
            meta = event.resource_pre_event.metadata
            self.seen.add(meta.urn)
            self.current = f"{op_name(meta.op)} {_short(meta.urn)}"
        elif event.res_outputs_event is not None:
            meta = event.res_outputs_event.metadata
            self.done.add(meta.urn)
            op = op_name(meta.op)
            if self.mode == "lines" and op != "same":
                print(f"{op:<10} {_short(meta.urn)} ({meta.type})", file=self.out, flush=True)
        elif event.res_op_failed_event is not None:
            meta = event.res_op_failed_event.metadata
            self.done.add(meta.urn)
            self.failed.append(meta.urn)
        elif event.diagnostic_event is not None:
            diag = event.diagnostic_event
            if diag.severity == "error" and self.mode != "json":
                where = f"{_short(diag.urn)}: " if diag.urn else ""
                self.error(f"error: {where}{diag.message.strip()}")
        elif event.summary_event is not None:
            self.changes = {op_name(k): v for k, v in (event.summary_event.resource_changes or {}).items()}
        self._draw()

    def status_line(self) -> str:
        elapsed = time.monotonic() - self.started
        return f"[{len(self.done)}/{len(self.seen)}] {elapsed:5.0f}s {self.current}"

    def _draw(self) -> None:
        if self.mode != "live":
            return
        print("\r\x1b[K" + self.status_line(), end="", file=self.out, flush=True)
        self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            print("\r\x1b[K", end="", file=self.out, flush=True)
            self._drawn = False

    def summary(self, verb: str, changes: dict[str, int] | None = None) -> str:
        counts = {op_name(k): v for k, v in (changes if changes is not None else self.changes).items()}
        parts = ", ".join(f"{n} {op}" for op, n in sorted(counts.items()) if n) or "no resources"
        return f"{verb}: {parts} in {time.monotonic() - self.started:.1f} s"
