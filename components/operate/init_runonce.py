"""kolla-ansible's `init-runonce`: what makes a fresh cloud usable (the cirros image, the demo network
and router, the external network, security-group rules, a keypair, quotas and flavors), with the
stack's own admin credentials, from kolla_toolbox on a control host over the pinned SSH: nothing is
needed on the operator's machine but the image file.

Kolla's defaults and environment variables (CIRROS_RELEASE, IMAGE_URL, IP_VERSION, DEMO_NET_CIDR,
DEMO_NET_GATEWAY, DEMO_NET_DNS, ENABLE_EXT_NET, EXT_NET_CIDR, EXT_NET_RANGE, EXT_NET_GATEWAY,
EXT_NET_DEMO_ROUTER_ADDR) mean the same here. Unlike Kolla's script, which refuses a second run, each
thing is created only when missing, so a second run changes nothing and says so.
"""

from __future__ import annotations

import ipaddress
import json
import os
import platform
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components import scripts
from components.config.inventory import Host
from components.config.stack import StackConfig
from components.deployment import DeploymentPlan
from components.operate import init_runonce_program as program
from components.operate.ssh import Completed, StreamRunner, run_streamed
from components.operate.verbs import OperateError

PROGRAM = Path(program.__file__)  # sent to kolla_toolbox as text
IMAGE_PATH = Path("/opt/cache/files")  # where Kolla's script looks first (CI nodes cache cirros there)
QCOW2_MAGIC = b"QFI\xfb"
STEPS = tuple(program.STEPS)  # in Kolla's order
QUOTAS = {"instances": 40, "cores": 40, "ram": 96000}  # 40 m1.small servers, as Kolla's script sets
FLAVORS = (
    ("1", "m1.tiny", 512, 1, 1),
    ("2", "m1.small", 2048, 20, 1),
    ("3", "m1.medium", 4096, 40, 2),
    ("4", "m1.large", 8192, 80, 4),
    ("5", "m1.xlarge", 16384, 160, 8),
    ("6", "m2.tiny", 512, 1, 2),
)
DEFAULTS = {
    "CIRROS_RELEASE": "0.6.3",
    "IP_VERSION": "4",
    "DEMO_NET_CIDR": "10.0.0.0/24",
    "DEMO_NET_GATEWAY": "10.0.0.1",
    "DEMO_NET_DNS": "8.8.8.8",
    "ENABLE_EXT_NET": "1",
    "EXT_NET_CIDR": "10.0.2.0/24",
    "EXT_NET_RANGE": "start=10.0.2.150,end=10.0.2.199",
    "EXT_NET_GATEWAY": "10.0.2.1",
    "EXT_NET_DEMO_ROUTER_ADDR": "",
}
KEYPAIR = "mykey"
NEEDED_SERVICES = ("keystone", "glance", "nova", "neutron")  # what the things it makes live in


@dataclass(frozen=True)
class Settings:
    cirros_release: str
    image_url: str
    ip_version: int
    demo_net: dict[str, str]
    ext_net: dict[str, Any]
    image_file: Path | None = None  # None: Kolla's cirros file, looked for then downloaded
    image_disk_format: str | None = None  # None: qcow2 if the file says so, else raw
    public_key: Path = Path("~/.ssh/id_ecdsa.pub")

    @property
    def cirros_file(self) -> str:
        return f"cirros-{self.cirros_release}-{platform.machine()}-disk.img"


def _problem(variable: str, value: str, expected: str) -> str:
    return f"{variable}={value!r}: expected {expected}"


def _network(variable: str, value: str, version: int, problems: list[str]) -> Any:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        problems.append(_problem(variable, value, f"an IPv{version} network in CIDR notation (10.0.0.0/24)"))
        return None
    if network.version != version:
        problems.append(_problem(variable, value, f"an IPv{version} network (IP_VERSION is {version})"))
        return None
    return network


def _address_in(variable: str, value: str, network: Any, problems: list[str]) -> None:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        problems.append(_problem(variable, value, "an IP address"))
        return
    if network is not None and address not in network:
        problems.append(_problem(variable, value, f"an address in {network}"))


def settings_from(environ: Mapping[str, str], **overrides: Any) -> Settings:
    """Kolla's variables from `environ` (its defaults where unset) and the command line's `overrides`;
    OperateError listing every variable that is wrong, with its value and what is expected."""
    values = {name: environ.get(name) or default for name, default in DEFAULTS.items()}
    problems: list[str] = []
    if values["IP_VERSION"] not in ("4", "6"):
        problems.append(_problem("IP_VERSION", values["IP_VERSION"], "4 or 6"))
    version = 6 if values["IP_VERSION"] == "6" else 4
    demo = _network("DEMO_NET_CIDR", values["DEMO_NET_CIDR"], version, problems)
    _address_in("DEMO_NET_GATEWAY", values["DEMO_NET_GATEWAY"], demo, problems)
    _address_in("DEMO_NET_DNS", values["DEMO_NET_DNS"], None, problems)
    if values["ENABLE_EXT_NET"] not in ("0", "1"):
        problems.append(_problem("ENABLE_EXT_NET", values["ENABLE_EXT_NET"], "1 (create public1) or 0"))
    enabled = values["ENABLE_EXT_NET"] != "0"
    start = end = ""
    if enabled:
        ext = _network("EXT_NET_CIDR", values["EXT_NET_CIDR"], version, problems)
        _address_in("EXT_NET_GATEWAY", values["EXT_NET_GATEWAY"], ext, problems)
        pool = dict(part.split("=", 1) for part in values["EXT_NET_RANGE"].split(",") if "=" in part)
        if set(pool) != {"start", "end"}:
            problems.append(_problem("EXT_NET_RANGE", values["EXT_NET_RANGE"], "start=<address>,end=<address>"))
        else:
            start, end = pool["start"], pool["end"]
            _address_in("EXT_NET_RANGE start", start, ext, problems)
            _address_in("EXT_NET_RANGE end", end, ext, problems)
        if version == 6:
            # Kolla's script needs it too (IPv6 has no NAT: the demo router gets a fixed address).
            _address_in("EXT_NET_DEMO_ROUTER_ADDR", values["EXT_NET_DEMO_ROUTER_ADDR"], ext, problems)
    disk_format = overrides.get("image_disk_format")
    if disk_format is not None and disk_format not in ("qcow2", "raw", "vmdk", "vdi", "iso", "vhd", "vhdx", "ploop"):
        problems.append(_problem("--image-disk-format", disk_format, "one of glance's disk formats (qcow2, raw, ...)"))
    if problems:
        raise OperateError("init-runonce: " + "; ".join(problems))
    release = values["CIRROS_RELEASE"]
    return Settings(
        cirros_release=release,
        image_url=environ.get("IMAGE_URL") or f"https://github.com/cirros-dev/cirros/releases/download/{release}/",
        ip_version=version,
        demo_net={key: values[f"DEMO_NET_{key.upper()}"] for key in ("cidr", "gateway", "dns")},
        ext_net={
            "enabled": enabled,
            "cidr": values["EXT_NET_CIDR"],
            "gateway": values["EXT_NET_GATEWAY"],
            "range": [start, end],
            "demo_router_address": values["EXT_NET_DEMO_ROUTER_ADDR"],
        },
        **{key: value for key, value in overrides.items() if value is not None},
    )


# --- the image and the keypair, on the operator's machine ------------------------------------------


def image_file(settings: Settings, log: Callable[[str], None], workdir: Path | None = None) -> Path:
    """The image to upload: --image-file, else Kolla's cirros file in /opt/cache/files or the working
    directory, else downloaded into the working directory from IMAGE_URL, as Kolla's script does."""
    if settings.image_file is not None:
        path = Path(settings.image_file).expanduser()
        if not path.is_file():
            raise OperateError(f"--image-file {path}: expected an image file; it does not exist")
        return path
    workdir = workdir or Path.cwd()
    for directory in (IMAGE_PATH, workdir):
        if (directory / settings.cirros_file).is_file():
            log(f"using the cirros image in {directory}")
            return directory / settings.cirros_file
    url = settings.image_url.rstrip("/") + "/" + settings.cirros_file
    target = workdir / settings.cirros_file
    log(f"no {settings.cirros_file} in {IMAGE_PATH} or {workdir}; downloading {url}")
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as answer, partial.open("wb") as handle:
            shutil.copyfileobj(answer, handle)
        partial.replace(target)
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise OperateError(
            f"cannot download {url} ({getattr(exc, 'reason', exc)}): put {settings.cirros_file} in {IMAGE_PATH} "
            "or the working directory, set IMAGE_URL, or give --image-file"
        ) from exc
    return target


def disk_format(settings: Settings, path: Path) -> str:
    if settings.image_disk_format:
        return settings.image_disk_format
    with path.open("rb") as handle:
        return "qcow2" if handle.read(4) == QCOW2_MAGIC else "raw"


def public_key(settings: Settings, log: Callable[[str], None]) -> str:
    """The keypair's public key; like Kolla's script, an ecdsa pair is generated when it is missing."""
    path = Path(settings.public_key).expanduser()
    if path.is_file():
        return path.read_text().strip()
    if path.suffix != ".pub":
        raise OperateError(f"--public-key {path}: expected a public key file (.pub); it does not exist")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    log(f"generating an ssh key pair {path.with_suffix('')}")
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", str(path.with_suffix(""))], check=True)
    return path.read_text().strip()


# --- running the program in kolla_toolbox ----------------------------------------------------------


def toolbox_host(config: StackConfig, plan: DeploymentPlan) -> Host:
    """The first control host running kolla_toolbox (any host running it, without a control group)."""
    with_toolbox = [c.host for c in plan.placed("kolla_toolbox")]
    if not with_toolbox:
        raise OperateError("no host runs kolla_toolbox: deploy the stack first")
    control = config.inventory.groups.get("control") or []
    chosen = next((h for h in control if h in with_toolbox), with_toolbox[0])
    return config.inventory.hosts[chosen]


def parameters(plan: DeploymentPlan, settings: Settings, steps: tuple[str, ...], **extra: Any) -> dict[str, Any]:
    return {
        "auth": dict(plan.base["openstack_auth"]),
        "region": plan.base["openstack_region_name"],
        "interface": "internal",
        "timeout": 60,
        "steps": list(steps),
        "ip_version": settings.ip_version,
        "demo_net": settings.demo_net,
        "ext_net": settings.ext_net,
        "quotas": QUOTAS,
        "flavors": [dict(zip(("id", "name", "ram", "disk", "vcpus"), flavor, strict=True)) for flavor in FLAVORS],
        **extra,
    }


def _chunks(params: Mapping[str, Any], image: Path | None) -> Iterator[bytes]:
    yield json.dumps(params).encode() + b"\n"
    if image is not None:
        with image.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                yield chunk


def parse_reports(done: Completed) -> list[dict[str, str]]:
    reports = []
    for line in done.stdout.splitlines():
        try:
            reports.append(json.loads(line))
        except ValueError:
            continue
    if done.returncode != 0:
        made = f" (after: {'; '.join(describe(r) for r in reports)})" if reports else ""
        raise OperateError(f"init-runonce failed in kolla_toolbox: {done.why}{made}")
    return reports


def describe(report: Mapping[str, str]) -> str:
    return f"{report['done']} {report['kind']} {report['name']}"


def init_runonce(
    config: StackConfig,
    plan: DeploymentPlan,
    settings: Settings,
    *,
    log: Callable[[str], None] = print,
    runner: StreamRunner | None = None,
    workdir: Path | None = None,
) -> list[dict[str, str]]:
    """Look for the image first (no file is needed when it is there), then run every step; the reports."""
    runner = runner or run_streamed
    enabled = [s.service.name for s in plan.services]
    missing = [name for name in NEEDED_SERVICES if name not in enabled]
    if missing:
        raise OperateError(
            f"init-runonce needs {', '.join(NEEDED_SERVICES)}; this stack does not enable {', '.join(missing)} "
            f"(set globals enable_{missing[0]}: true)"
        )
    host = toolbox_host(config, plan)
    command = scripts.in_toolbox(PROGRAM.read_text()).strip()
    key = public_key(settings, log)
    extra: dict[str, Any] = {"keypair": {"name": KEYPAIR, "public_key": key}, "image": _image(settings, None)}
    first = parse_reports(runner(host, command, _chunks(parameters(plan, settings, ("image",), **extra), None)))
    image: Path | None = None
    if any(r["done"] == "missing" for r in first):
        image = image_file(settings, log, workdir)
        extra["image"] = _image(settings, image)
        extra["image_size"] = os.path.getsize(image)
        log(f"uploading {image} ({extra['image_size']} bytes, {extra['image']['disk_format']})")
    return parse_reports(runner(host, command, _chunks(parameters(plan, settings, STEPS, **extra), image)))


def _image(settings: Settings, path: Path | None) -> dict[str, str]:
    return {"name": "cirros", "type": "linux", "disk_format": disk_format(settings, path) if path else ""}


def next_steps() -> str:
    return (
        "To deploy a demo instance, run:\n\n"
        "openstack --os-cloud=kolla-admin server create \\\n"
        "    --image cirros \\\n    --flavor m1.tiny \\\n    --key-name mykey \\\n    --network demo-net \\\n    demo1"
    )
