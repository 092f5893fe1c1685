"""Container inputs -> `docker create` / `docker update` arguments, and `docker inspect` -> outputs.

Pure functions (no engine, no docker): the unit tests exercise them directly. Where the CLI cannot
say what the API can, the nearest equivalent is used and noted here:
- a multi-element `entrypoints` becomes `--entrypoint FIRST` with the rest prepended to the command
  (the same argv; `docker inspect` splits it differently);
- a healthcheck `["CMD", args...]` becomes `--health-cmd` with the args shell-quoted (run by the
  image's /bin/sh); `["CMD-SHELL", cmd]` and `["NONE"]` map exactly.
"""

from __future__ import annotations

import csv
import io
import shlex
from typing import Any

MIB = 1024 * 1024


def _csv(fields: list[str]) -> str:
    """One --mount value: CSV, so commas inside values stay inside."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(fields)
    return buf.getvalue()


def _volume_args(volume: dict[str, Any]) -> list[str]:
    if volume.get("fromContainer"):
        return ["--volumes-from", volume["fromContainer"]]
    source = volume.get("hostPath") or volume.get("volumeName")
    target = volume.get("containerPath", "")
    if not source:
        return ["--volume", target]
    opts = ["ro"] if volume.get("readOnly") else []
    if volume.get("selinuxRelabel"):
        opts.append(volume["selinuxRelabel"])
    return ["--volume", ":".join([source, target, *([",".join(opts)] if opts else [])])]


def _mount_args(mount: dict[str, Any]) -> list[str]:
    fields = [f"type={mount['type']}", f"target={mount['target']}"]
    if mount.get("source"):
        fields.append(f"source={mount['source']}")
    if mount.get("readOnly"):
        fields.append("readonly")
    bind = mount.get("bindOptions") or {}
    if mount["type"] == "bind" and bind.get("propagation"):
        fields.append(f"bind-propagation={bind['propagation']}")
    vol = mount.get("volumeOptions") or {}
    if mount["type"] == "volume":
        if vol.get("noCopy"):
            fields.append("volume-nocopy")
        fields += [f"volume-label={lab['label']}={lab['value']}" for lab in vol.get("labels") or []]
        if vol.get("driverName"):
            fields.append(f"volume-driver={vol['driverName']}")
        fields += [f"volume-opt={k}={v}" for k, v in (vol.get("driverOptions") or {}).items()]
    tmpfs = mount.get("tmpfsOptions") or {}
    if mount["type"] == "tmpfs":
        if tmpfs.get("sizeBytes"):
            fields.append(f"tmpfs-size={tmpfs['sizeBytes']}")
        if tmpfs.get("mode"):
            fields.append(f"tmpfs-mode={tmpfs['mode']:o}")
    return ["--mount", _csv(fields)]


def _port_arg(port: dict[str, Any]) -> str:
    external = str(port.get("external") or "")
    return f"{port.get('ip', '0.0.0.0')}:{external}:{port['internal']}/{port.get('protocol', 'tcp')}"


def _healthcheck_args(check: dict[str, Any]) -> list[str]:
    tests = check.get("tests") or []
    args: list[str] = []
    if tests[:1] == ["NONE"]:
        return ["--no-healthcheck"]
    if tests[:1] == ["CMD-SHELL"]:
        args += ["--health-cmd", " ".join(tests[1:])]
    elif tests[:1] == ["CMD"]:
        args += ["--health-cmd", shlex.join(tests[1:])]
    elif tests:
        args += ["--health-cmd", shlex.join(tests)]
    for key, flag in (
        ("interval", "--health-interval"),
        ("timeout", "--health-timeout"),
        ("startPeriod", "--health-start-period"),
        ("startInterval", "--health-start-interval"),
    ):
        if check.get(key) and check[key] != "0s":
            args += [flag, check[key]]
    if check.get("retries"):
        args += ["--health-retries", str(check["retries"])]
    return args


def _restart_arg(inputs: dict[str, Any]) -> str:
    restart = inputs.get("restart", "no")
    retries = inputs.get("maxRetryCount") or 0
    return f"{restart}:{retries}" if retries else restart


def _resource_args(inputs: dict[str, Any]) -> list[str]:
    """Flags shared by `docker create` and `docker update` (upstream's in-place attributes)."""
    args: list[str] = []
    if inputs.get("cpuShares"):
        args += ["--cpu-shares", str(inputs["cpuShares"])]
    if inputs.get("cpuSet"):
        args += ["--cpuset-cpus", inputs["cpuSet"]]
    if inputs.get("memory"):
        args += ["--memory", f"{inputs['memory']}m"]
    if inputs.get("memoryReservation"):
        args += ["--memory-reservation", f"{inputs['memoryReservation']}m"]
    swap = inputs.get("memorySwap")
    if swap:
        args += ["--memory-swap", f"{swap}m" if swap > 0 else str(swap)]
    for key, flag in (
        ("deviceReadBps", "--device-read-bps"),
        ("deviceReadIops", "--device-read-iops"),
        ("deviceWriteBps", "--device-write-bps"),
        ("deviceWriteIops", "--device-write-iops"),
    ):
        args += [a for d in inputs.get(key) or [] for a in (flag, f"{d['path']}:{d['rate']}")]
    return args


def update_args(inputs: dict[str, Any]) -> list[str]:
    return ["--restart", _restart_arg(inputs), *_resource_args(inputs)]


_STRING_FLAGS = {
    "name": "--name",
    "networkMode": "--network",
    "pidMode": "--pid",
    "ipcMode": "--ipc",
    "cgroupnsMode": "--cgroupns",
    "usernsMode": "--userns",
    "cgroupParent": "--cgroup-parent",
    "user": "--user",
    "workingDir": "--workdir",
    "hostname": "--hostname",
    "domainname": "--domainname",
    "logDriver": "--log-driver",
    "stopSignal": "--stop-signal",
    "runtime": "--runtime",
    "platform": "--platform",
    "cpus": "--cpus",
}
_BOOL_FLAGS = {
    "privileged": "--privileged",
    "init": "--init",
    "rm": "--rm",
    "readOnly": "--read-only",
    "tty": "--tty",
    "stdinOpen": "--interactive",
    "publishAllPorts": "--publish-all",
}
_LIST_FLAGS = {
    "securityOpts": "--security-opt",
    "dns": "--dns",
    "dnsOpts": "--dns-option",
    "dnsSearches": "--dns-search",
    "groupAdds": "--group-add",
}
_MAP_FLAGS = {"logOpts": "--log-opt", "sysctls": "--sysctl", "storageOpts": "--storage-opt"}


def create_args(inputs: dict[str, Any], env_file: str | None) -> list[str]:
    """`docker create` arguments; envs go through `env_file` so values never show in `ps`."""
    args: list[str] = []
    for key, flag in _STRING_FLAGS.items():
        if inputs.get(key):
            args += [flag, inputs[key]]
    args += [flag for key, flag in _BOOL_FLAGS.items() if inputs.get(key)]
    for key, flag in _LIST_FLAGS.items():
        args += [a for v in inputs.get(key) or [] for a in (flag, v)]
    for key, flag in _MAP_FLAGS.items():
        args += [a for k, v in (inputs.get(key) or {}).items() for a in (flag, f"{k}={v}")]
    if env_file:
        args += ["--env-file", env_file]
    for label in inputs.get("labels") or []:
        args += ["--label", f"{label['label']}={label['value']}"]
    caps = inputs.get("capabilities") or {}
    args += [a for c in caps.get("adds") or [] for a in ("--cap-add", c)]
    args += [a for c in caps.get("drops") or [] for a in ("--cap-drop", c)]
    args += ["--restart", _restart_arg(inputs), *_resource_args(inputs)]
    if "stopTimeout" in inputs:
        args += ["--stop-timeout", str(inputs["stopTimeout"])]
    if inputs.get("shmSize"):
        args += ["--shm-size", f"{inputs['shmSize']}m"]
    if not inputs.get("cpus"):  # upstream ignores the period/quota when cpus is set
        if inputs.get("cpuPeriod"):
            args += ["--cpu-period", str(inputs["cpuPeriod"])]
        if inputs.get("cpuQuota"):
            args += ["--cpu-quota", str(inputs["cpuQuota"])]
    for volume in inputs.get("volumes") or []:
        args += _volume_args(volume)
    for mount in inputs.get("mounts") or []:
        args += _mount_args(mount)
    for path, opts in (inputs.get("tmpfs") or {}).items():
        args += ["--tmpfs", f"{path}:{opts}" if opts else path]
    for ulimit in inputs.get("ulimits") or []:
        args += ["--ulimit", f"{ulimit['name']}={ulimit['soft']}:{ulimit['hard']}"]
    for host in inputs.get("hosts") or []:
        args += ["--add-host", f"{host['host']}:{host['ip']}"]
    for port in inputs.get("ports") or []:
        args += ["--publish", _port_arg(port)]
    for device in inputs.get("devices") or []:
        spec = ":".join([device["hostPath"], device.get("containerPath") or device["hostPath"]])
        args += ["--device", f"{spec}:{device.get('permissions', 'rwm')}"]
    if inputs.get("healthcheck"):
        args += _healthcheck_args(inputs["healthcheck"])
    command = list(inputs.get("command") or [])
    entrypoint = inputs.get("entrypoints")
    if entrypoint is not None:
        args += ["--entrypoint", entrypoint[0] if entrypoint else ""]
        command = [*entrypoint[1:], *command]
    return [*args, "--", inputs["image"], *command]


def env_file_text(envs: list[str]) -> str:
    for env in envs:
        if "\n" in env:
            raise ValueError("an envs value containing a newline cannot be passed to the docker CLI")
    return "".join(f"{env}\n" for env in envs)


def _network_datas(settings: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "networkName": name,
            "ipAddress": net.get("IPAddress", ""),
            "ipPrefixLength": net.get("IPPrefixLen", 0),
            "gateway": net.get("Gateway", ""),
            "macAddress": net.get("MacAddress", ""),
            "globalIpv6Address": net.get("GlobalIPv6Address", ""),
            "globalIpv6PrefixLength": net.get("GlobalIPv6PrefixLen", 0),
            "ipv6Gateway": net.get("IPv6Gateway", ""),
        }
        for name, net in sorted((settings.get("Networks") or {}).items())
    ]


def _healthcheck_output(health: dict[str, Any] | None) -> dict[str, Any] | None:
    if not health:
        return None

    def dur(ns: int | None) -> str:
        seconds = (ns or 0) / 1e9
        return f"{seconds:g}s"

    return {
        "tests": health.get("Test") or [],
        "interval": dur(health.get("Interval")),
        "timeout": dur(health.get("Timeout")),
        "startPeriod": dur(health.get("StartPeriod")),
        "startInterval": dur(health.get("StartInterval")),
        "retries": health.get("Retries", 0),
    }


def outputs(inputs: dict[str, Any], inspect: dict[str, Any], logs: str | None = None) -> dict[str, Any]:
    """The resource's state: its inputs, overlaid with what the engine reports for the computed
    properties the real provider fills (so a program that leaves them unset still sees them)."""
    config, host = inspect.get("Config") or {}, inspect.get("HostConfig") or {}
    state, net = inspect.get("State") or {}, inspect.get("NetworkSettings") or {}
    restart = host.get("RestartPolicy") or {}
    out = dict(inputs)
    computed = {
        "name": inspect.get("Name", "").lstrip("/"),
        "hostname": config.get("Hostname", ""),
        "command": inputs.get("command", config.get("Cmd") or []),
        "entrypoints": inputs.get("entrypoints", config.get("Entrypoint") or []),
        "envs": inputs.get("envs", []),
        "labels": inputs.get("labels", []),
        "healthcheck": inputs.get("healthcheck", _healthcheck_output(config.get("Healthcheck"))),
        "init": bool(host.get("Init")),
        "ipcMode": host.get("IpcMode", ""),
        "logDriver": (host.get("LogConfig") or {}).get("Type", ""),
        "platform": inputs.get("platform", inspect.get("Platform", "")),
        "runtime": host.get("Runtime", ""),
        "securityOpts": host.get("SecurityOpt") or [],
        "shmSize": (host.get("ShmSize") or 0) // MIB,
        "stopSignal": config.get("StopSignal") or "",
        "stopTimeout": config.get("StopTimeout") or 0,
        "networkMode": host.get("NetworkMode", ""),
        "restart": restart.get("Name", "no") or "no",
        "maxRetryCount": restart.get("MaximumRetryCount", 0),
        "bridge": net.get("Bridge", ""),
        "networkDatas": _network_datas(net),
        "containerLogs": logs,
        "exitCode": None if state.get("Running") else state.get("ExitCode"),
    }
    for key, value in computed.items():
        # An input the program set is echoed as given: the state is what the program asked for.
        if key not in inputs or key in ("bridge", "networkDatas", "containerLogs", "exitCode"):
            out[key] = value
    return out
