"""Run the real program (`__main__.py`) under Pulumi's mocks and record every resource it declares.

The program reads its stack config through `pulumi.Config`, exactly as under the engine; the mocks
stand in for the engine and the providers, so no CLI, plugin or host is needed.
"""

from __future__ import annotations

import hashlib
import json
import re
import runpy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import settings, stack
from pulumi.runtime.sync_await import _sync_await

from components import scripts

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "kolla-pulumi"


@dataclass
class Declared:
    """One resource as the program declared it: type, name, inputs, options, and which inputs were secret."""

    type: str
    name: str
    inputs: dict[str, Any] = field(default_factory=dict)
    secret_inputs: set[str] = field(default_factory=set)
    depends_on: list[str] = field(default_factory=list)
    parent: str = ""
    provider: str = ""
    delete_before_replace: bool = False
    replace_on_changes: list[str] = field(default_factory=list)
    retain_on_delete: bool = False
    custom_timeouts: pulumi.CustomTimeouts | None = None
    additional_secret_outputs: list[str] = field(default_factory=list)
    ignore_changes: list[str] = field(default_factory=list)
    pending: dict[str, pulumi.Output] = field(default_factory=dict, repr=False)

    @property
    def _command(self) -> str:
        """The command that reads the stdin: `create`, or `delete` for a command that only deletes."""
        return self.inputs.get("create") or self.inputs.get("delete") or ""

    @property
    def script(self) -> str:
        """A job's own script (its `create`, or its `delete` if it has no create), unwrapped from the
        output-masking wrapper if it has one."""
        return scripts.unmasked(self._command)[0]

    def _unmasked_stdin(self) -> tuple[str, str, tuple[str, ...]]:
        raw = self.inputs.get("stdin")
        value = raw.get("value", "") if isinstance(raw, dict) else raw or ""
        return scripts.unmasked(self._command, value)

    @property
    def stdin(self) -> str:
        """A job's own stdin (after the masks block, if it has one)."""
        return self._unmasked_stdin()[1]

    @property
    def masks(self) -> tuple[str, ...]:
        """The secrets the job's output is scrubbed of."""
        return self._unmasked_stdin()[2]


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, host_answers: dict[str, str] | None = None) -> None:
        self.resources: dict[str, Declared] = {}
        self.host_answers = host_answers or {}
        self.commands_run: list[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        declared = self.resources.setdefault(args.name, Declared(args.typ, args.name))
        declared.inputs = dict(args.inputs)
        outputs = dict(args.inputs)
        if args.typ == "docker:index/remoteImage:RemoteImage":
            outputs["imageId"] = "sha256:" + hashlib.sha256(args.inputs["name"].encode()).hexdigest()
        if args.typ == "pulumi:providers:docker":
            return f"{args.name}-id", outputs
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        if args.token == "command:local:run":
            # The config-drift read (components/config_drift.py): every host answers, nothing recorded
            # yet, as on a first deploy. Tests of drift pass their own answers.
            self.commands_run.append(args.args["command"])
            hosts = re.findall(r"^# host (\S+)$", args.args["command"], re.M)
            return {"stdout": "".join(self.host_answers.get(h, f"{h} ok\n") for h in hosts)}
        return {}


@dataclass
class Run:
    resources: dict[str, Declared]
    outputs: dict[str, Any]
    secret_outputs: set[str]

    def of_type(self, suffix: str) -> list[Declared]:
        return [r for r in self.resources.values() if r.type.endswith(suffix)]

    def services_waited_for(self, name: str) -> set[str]:
        """The services (components) whose resources `name` depends on directly."""
        return {self.resources[d].parent for d in self.resources[name].depends_on if d in self.resources} - {""}

    def containers(self) -> dict[str, Declared]:
        return {r.name: r for r in self.of_type(":Container") if r.type.startswith("docker:")}


def _resource_name(resource: pulumi.Resource) -> str:
    return getattr(resource, "_name", "")


def run_program(
    config: Mapping[str, Any], secret_keys: tuple[str, ...] = ("passwords",), mocks: RecordingMocks | None = None
) -> Run:
    """Run __main__.py under mocks with `config` (top-level keys of the project namespace). Pass
    `mocks` to see what was registered when the program raises."""
    mocks = mocks if mocks is not None else RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="test", preview=False)
    pulumi.runtime.set_all_config(
        {f"{PROJECT}:{k}": json.dumps(v) if not isinstance(v, str) else v for k, v in config.items()},
        [f"{PROJECT}:{k}" for k in secret_keys if k in config],
    )
    outputs: dict[str, Any] = {}
    secret_outputs: set[str] = set()

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        declared = mocks.resources.setdefault(args.name, Declared(args.type_, args.name))
        opts = args.opts
        declared.depends_on = [_resource_name(d) for d in (opts.depends_on or [])]  # type: ignore[union-attr]
        declared.parent = _resource_name(opts.parent) if opts.parent else ""
        declared.provider = _resource_name(opts.provider) if opts.provider else ""
        declared.delete_before_replace = bool(opts.delete_before_replace)
        declared.replace_on_changes = list(opts.replace_on_changes or [])
        declared.retain_on_delete = bool(opts.retain_on_delete)
        declared.custom_timeouts = opts.custom_timeouts
        declared.additional_secret_outputs = list(opts.additional_secret_outputs or [])
        declared.ignore_changes = list(opts.ignore_changes or [])
        for key, value in (args.props or {}).items():
            if isinstance(value, pulumi.Output):
                declared.pending[key] = value
        return None

    def program() -> None:
        # The root stack resource outlives a run under mocks: drop the previous run's recorder, which
        # would otherwise keep writing this run's resources into that run's results.
        root = settings.get_root_resource()
        if root is not None:
            root._transformations = None
        pulumi.runtime.register_stack_transformation(record)
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")

    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    _sync_await(stack.run_pulumi_func(program))
    for declared in mocks.resources.values():
        for key, value in declared.pending.items():
            if _sync_await(value.is_secret()):
                declared.secret_inputs.add(key)
    root = settings.get_root_resource()
    for key, value in (getattr(root, "outputs", None) or {}).items():
        outputs[key], secret = _sync_await(_resolve(value))
        if secret:
            secret_outputs.add(key)
    return Run(resources=mocks.resources, outputs=outputs, secret_outputs=secret_outputs)


async def _resolve(value: Any) -> tuple[Any, bool]:
    if isinstance(value, pulumi.Output):
        return await value.future(), bool(await value.is_secret())
    return value, False
