"""What the docker stand-in accepts, and how it checks and diffs inputs like the bridged provider.

The tables follow pulumi-docker's schema (camelCase names, `willReplaceOnChanges`) and the upstream
Terraform provider it pins (kreuzwerker/terraform-provider-docker v4.x: ForceNew, Default, Computed,
and which changes `resourceDockerContainerUpdate` applies). The bridge fills schema defaults into the
checked inputs, and a change to an input that is neither ForceNew nor applied by Update is an
in-place update that only stores the new value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from testbed.standins.docker_values import Unknown, has_unknown

# Type codes: s str, i int, b bool, ls list[str], ms map[str,str], or a nested object spec.


@dataclass(frozen=True, eq=False)  # compared by identity: type codes are shared constants
class Obj:
    """A nested object type: its fields, which are required, and which the stand-in refuses."""

    fields: Mapping[str, Any]
    required: frozenset[str] = frozenset()
    refused: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class ListOf:
    item: Obj


@dataclass(frozen=True, eq=False)
class ResourceSpec:
    token: str
    types: Mapping[str, Any]
    replace: frozenset[str]
    # Inputs whose change runs an update that acts on the engine (the rest only store the value).
    applied: frozenset[str] = frozenset()
    # Optional+Computed inputs: dropping them from the program is no change (the bridge keeps state).
    computed: frozenset[str] = frozenset()
    # Set-typed inputs: order does not matter.
    sets: frozenset[str] = frozenset()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    refused: Mapping[str, str] = field(default_factory=dict)
    delete_before_replace: bool = False


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


_LABEL = Obj({"label": "s", "value": "s"}, _names("label value"))

CONTAINER = ResourceSpec(
    token="docker:index/container:Container",
    types={
        **dict.fromkeys(
            _names(
                "cgroupParent cgroupnsMode cpuSet cpus domainname gpus hostname image ipcMode logDriver "
                "name networkMode pidMode platform restart runtime stopSignal user usernsMode workingDir"
            ),
            "s",
        ),
        **dict.fromkeys(
            _names(
                "containerReadRefreshTimeoutMilliseconds cpuPeriod cpuQuota cpuShares destroyGraceSeconds "
                "maxRetryCount memory memoryReservation memorySwap shmSize stopTimeout waitTimeout"
            ),
            "i",
        ),
        **dict.fromkeys(
            _names(
                "attach init logs mustRun privileged publishAllPorts readOnly removeVolumes rm start stdinOpen tty wait"
            ),
            "b",
        ),
        **dict.fromkeys(_names("command dns dnsOpts dnsSearches entrypoints envs groupAdds securityOpts"), "ls"),
        **dict.fromkeys(_names("logOpts storageOpts sysctls tmpfs"), "ms"),
        "capabilities": Obj({"adds": "ls", "drops": "ls"}),
        "healthcheck": Obj(
            {
                "tests": "ls",
                "interval": "s",
                "timeout": "s",
                "startPeriod": "s",
                "startInterval": "s",
                "retries": "i",
            },
            defaults={
                "interval": "0s",
                "timeout": "0s",
                "startPeriod": "0s",
                "startInterval": "0s",
                "retries": 0,
            },
        ),
        "labels": ListOf(_LABEL),
        "hosts": ListOf(Obj({"host": "s", "ip": "s"}, _names("host ip"))),
        "ulimits": ListOf(Obj({"name": "s", "soft": "i", "hard": "i"}, _names("name soft hard"))),
        "devices": ListOf(
            Obj(
                {"hostPath": "s", "containerPath": "s", "permissions": "s"},
                _names("hostPath"),
                defaults={"permissions": "rwm"},
            )
        ),
        "ports": ListOf(
            Obj(
                {"internal": "i", "external": "i", "ip": "s", "protocol": "s"},
                _names("internal"),
                defaults={"ip": "0.0.0.0", "protocol": "tcp"},
            )
        ),
        "volumes": ListOf(
            Obj(
                {
                    "containerPath": "s",
                    "hostPath": "s",
                    "volumeName": "s",
                    "readOnly": "b",
                    "fromContainer": "s",
                    "selinuxRelabel": "s",
                }
            )
        ),
        "mounts": ListOf(
            Obj(
                {
                    "target": "s",
                    "type": "s",
                    "source": "s",
                    "readOnly": "b",
                    "bindOptions": Obj({"propagation": "s"}),
                    "volumeOptions": Obj(
                        {
                            "noCopy": "b",
                            "labels": ListOf(_LABEL),
                            "driverName": "s",
                            "driverOptions": "ms",
                            "subpath": "s",
                        },
                        refused={"subpath": "needs Docker API 1.45; the test-bed engines speak 1.41"},
                    ),
                    "tmpfsOptions": Obj({"sizeBytes": "i", "mode": "i"}),
                },
                _names("target type"),
            )
        ),
        "uploads": ListOf(
            Obj(
                {
                    "file": "s",
                    "content": "s",
                    "contentBase64": "s",
                    "source": "s",
                    "sourceHash": "s",
                    "executable": "b",
                    "permissions": "s",
                },
                _names("file"),
                defaults={"executable": False},
            )
        ),
        "networksAdvanced": ListOf(
            Obj(
                {
                    "name": "s",
                    "aliases": "ls",
                    "ipv4Address": "s",
                    "ipv6Address": "s",
                    "linkLocalIps": "ls",
                    "macAddress": "s",
                    "driverOpts": "ls",
                    "gwPriority": "i",
                },
                _names("name"),
                refused={
                    "macAddress": "`docker network connect` cannot set it; not implemented by the stand-in",
                    "gwPriority": "needs Docker API 1.48; the test-bed engines speak 1.41",
                },
            )
        ),
        "deviceReadBps": ListOf(Obj({"path": "s", "rate": "i"}, _names("path rate"))),
        "deviceReadIops": ListOf(Obj({"path": "s", "rate": "i"}, _names("path rate"))),
        "deviceWriteBps": ListOf(Obj({"path": "s", "rate": "i"}, _names("path rate"))),
        "deviceWriteIops": ListOf(Obj({"path": "s", "rate": "i"}, _names("path rate"))),
        "deviceRequests": "any",
    },
    replace=_names(
        "capabilities cgroupParent cgroupnsMode command cpus deviceRequests devices dns dnsOpts dnsSearches "
        "domainname entrypoints envs gpus groupAdds hostname hosts image ipcMode labels logDriver logOpts "
        "mounts name networkMode networksAdvanced pidMode platform ports privileged publishAllPorts readOnly "
        "runtime securityOpts shmSize stdinOpen stopSignal stopTimeout storageOpts sysctls tty ulimits "
        "uploads user usernsMode volumes workingDir"
    ),
    applied=_names(
        "restart maxRetryCount cpuShares memory memoryReservation cpuSet memorySwap "
        "deviceReadBps deviceReadIops deviceWriteBps deviceWriteIops mustRun"
    ),
    computed=_names(
        "command entrypoints envs healthcheck hostname init ipcMode labels logDriver platform runtime "
        "securityOpts shmSize stopSignal stopTimeout"
    ),
    sets=_names(
        "capabilities devices dns dnsOpts dnsSearches envs groupAdds hosts labels mounts networksAdvanced "
        "securityOpts ulimits uploads volumes deviceReadBps deviceReadIops deviceWriteBps deviceWriteIops"
    ),
    defaults={
        "attach": False,
        "containerReadRefreshTimeoutMilliseconds": 15000,
        "logs": False,
        "memoryReservation": 0,
        "mustRun": True,
        "networkMode": "bridge",
        "readOnly": False,
        "removeVolumes": True,
        "restart": "no",
        "rm": False,
        "start": True,
        "stdinOpen": False,
        "tty": False,
        "wait": False,
        "waitTimeout": 60,
    },
    required=_names("image"),
    refused={
        "deviceRequests": "GPU/CDI device requests are not implemented by the stand-in",
        "gpus": "GPU device requests are not implemented by the stand-in",
    },
    delete_before_replace=True,
)

REMOTE_IMAGE = ResourceSpec(
    token="docker:index/remoteImage:RemoteImage",
    types={
        "name": "s",
        "keepLocally": "b",
        "forceRemove": "b",
        "platform": "s",
        "pullTriggers": "ls",
        "triggers": "ms",
        "build": "any",
    },
    replace=_names("name platform pullTriggers triggers"),
    sets=_names("pullTriggers"),
    defaults={"platform": ""},
    required=_names("name"),
    refused={"build": "building images is not implemented by the stand-in; push to the test-bed registry"},
)

VOLUME = ResourceSpec(
    token="docker:index/volume:Volume",
    types={"name": "s", "driver": "s", "driverOpts": "ms", "labels": ListOf(_LABEL), "cluster": "any"},
    replace=_names("name driver driverOpts labels"),
    computed=_names("name driver"),
    sets=_names("labels"),
    refused={"cluster": "cluster (CSI) volumes are not implemented by the stand-in"},
)

NETWORK = ResourceSpec(
    token="docker:index/network:Network",
    types={
        **dict.fromkeys(_names("name driver ipamDriver"), "s"),
        **dict.fromkeys(_names("attachable ingress internal ipv6"), "b"),
        **dict.fromkeys(_names("options ipamOptions"), "ms"),
        "labels": ListOf(_LABEL),
        "ipamConfigs": ListOf(
            Obj({"subnet": "s", "ipRange": "s", "gateway": "s", "auxAddress": "ms"}),
        ),
    },
    replace=_names("attachable driver ingress internal ipamConfigs ipamDriver ipamOptions ipv6 labels name options"),
    computed=_names("driver options internal ipamConfigs"),
    sets=_names("labels ipamConfigs"),
    defaults={"ipamDriver": "default"},
    required=_names("name"),
    refused={"ingress": "swarm ingress networks are not implemented by the stand-in"},
)

SPECS = {spec.token: spec for spec in (CONTAINER, REMOTE_IMAGE, VOLUME, NETWORK)}


# --- check ---------------------------------------------------------------------------------------

_SCALARS = {"s": (str,), "i": (int,), "b": (bool,)}


def _type_errors(path: str, value: Any, kind: Any) -> list[tuple[str, str]]:
    if isinstance(value, Unknown) or kind == "any":
        return []
    if kind in _SCALARS:
        ok = isinstance(value, _SCALARS[kind]) and not (kind == "i" and isinstance(value, bool))
        return [] if ok else [(path, f"expected {dict(s='a string', i='an integer', b='a boolean')[kind]}")]
    if kind == "ls":
        if not isinstance(value, list) or not all(isinstance(v, str | Unknown) for v in value):
            return [(path, "expected a list of strings")]
        return []
    if kind == "ms":
        if not isinstance(value, dict) or not all(isinstance(v, str | Unknown) for v in value.values()):
            return [(path, "expected a map of strings")]
        return []
    if isinstance(kind, ListOf):
        if not isinstance(value, list):
            return [(path, "expected a list of objects")]
        return [e for i, item in enumerate(value) for e in _type_errors(f"{path}[{i}]", item, kind.item)]
    if isinstance(kind, Obj):
        if not isinstance(value, dict):
            return [(path, "expected an object")]
        errors = [(f"{path}.{k}", "unknown property") for k in value if k not in kind.fields]
        errors += [(f"{path}.{k}", "required property is missing") for k in sorted(kind.required - set(value))]
        errors += [(f"{path}.{k}", f"not supported: {why}") for k, why in kind.refused.items() if k in value]
        for k, v in value.items():
            if k in kind.fields:
                errors += _type_errors(f"{path}.{k}", v, kind.fields[k])
        return errors
    raise AssertionError(f"bad type code {kind!r}")


def _with_nested_defaults(value: Any, kind: Any) -> Any:
    if isinstance(kind, ListOf) and isinstance(value, list):
        return [_with_nested_defaults(v, kind.item) for v in value]
    if isinstance(kind, Obj) and isinstance(value, dict):
        filled = {**kind.defaults, **value}
        return {k: _with_nested_defaults(v, kind.fields.get(k)) for k, v in filled.items()}
    return value


def check(spec: ResourceSpec, news: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Validated inputs with the schema defaults filled in, and the failures (property, reason)."""
    failures: list[tuple[str, str]] = []
    for key, value in news.items():
        if key not in spec.types:
            failures.append((key, f"unknown input for {spec.token}"))
        elif key in spec.refused:
            failures.append((key, f"not supported by the docker stand-in: {spec.refused[key]}"))
        else:
            failures += _type_errors(key, value, spec.types[key])
    failures += [(k, "required input is missing") for k in sorted(spec.required - set(news))]
    inputs = {**spec.defaults, **news}
    inputs = {k: _with_nested_defaults(v, spec.types.get(k)) for k, v in inputs.items()}
    if spec is CONTAINER and not failures:
        failures += _container_rules(inputs)
    return inputs, failures


_RESTART = ("no", "on-failure", "always", "unless-stopped")


def _container_rules(inputs: dict[str, Any]) -> list[tuple[str, str]]:
    """The upstream provider's own validations that go beyond types."""
    failures = []
    restart = inputs.get("restart")
    if isinstance(restart, str) and restart not in _RESTART:
        failures.append(("restart", f"must be one of {', '.join(_RESTART)}"))
    if any(c == "" for c in inputs.get("command") or []):
        failures.append(("command", "values for command may not be empty"))
    for i, upload in enumerate(inputs.get("uploads") or []):
        given = [k for k in ("content", "contentBase64", "source") if upload.get(k)]
        if len(given) != 1 and not has_unknown(upload):
            failures.append((f"uploads[{i}]", "exactly one of content, contentBase64 or source must be set"))
    return failures


# --- diff ----------------------------------------------------------------------------------------


def _canonical(value: Any, as_set: bool) -> Any:
    """Empty and unset are the same to the bridge; set-typed inputs compare without order."""
    if value in (None, [], {}, ""):
        return None
    if isinstance(value, dict):
        return {k: c for k, v in sorted(value.items()) if (c := _canonical(v, False)) is not None}
    if isinstance(value, list):
        items = [_canonical(v, False) for v in value]
        return sorted(items, key=repr) if as_set else items
    return value


def changed_inputs(spec: ResourceSpec, olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """Inputs whose value differs between the old and the new inputs, the way the bridge sees it."""
    changed = []
    for key in sorted(set(olds) | set(news)):
        if key not in news and key in spec.computed:
            continue  # dropped Optional+Computed input: the bridge keeps the state value
        new, as_set = news.get(key), key in spec.sets
        if has_unknown(new) or _canonical(olds.get(key), as_set) != _canonical(new, as_set):
            changed.append(key)
    return changed


@dataclass
class Diff:
    changed: list[str]
    replaces: list[str]

    @property
    def changes(self) -> bool:
        return bool(self.changed)


def diff(spec: ResourceSpec, olds: dict[str, Any], news: dict[str, Any]) -> Diff:
    changed = changed_inputs(spec, olds, news)
    return Diff(changed=changed, replaces=[k for k in changed if k in spec.replace])
