"""Build the Pulumi CLI from the Go module proxy and cache it outside the checkout.

No registry ships the CLI, but the proxy serves `github.com/pulumi/pulumi/pkg/v3`: the module is
built with its `replace` of the SDK dropped (the replace points at a sibling directory the module zip
lacks) and the version stamped in, since the Automation API refuses an unversioned binary.

Usage: python -m testbed.engine [--rebuild] [--print-path]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from testbed.versions import PULUMI_ENGINE_VERSION

PKG_MODULE = "github.com/pulumi/pulumi/pkg/v3"
SDK_MODULE = "github.com/pulumi/pulumi/sdk/v3"
CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kolla-pulumi" / "engine"

Log = Callable[[str], None]


def go_version() -> str:
    return subprocess.run(["go", "version"], check=True, capture_output=True, text=True).stdout.strip()


def cache_key(version: str = PULUMI_ENGINE_VERSION) -> str:
    # The Go toolchain is part of the key so that a Go upgrade rebuilds instead of reusing.
    digest = hashlib.sha256(go_version().encode()).hexdigest()[:12]
    return f"v{version}-go{digest}"


def engine_path(version: str = PULUMI_ENGINE_VERSION) -> Path:
    return CACHE_ROOT / cache_key(version) / "pulumi"


def binary_version(binary: Path) -> str | None:
    """What `pulumi version` prints, or None when the binary is missing or broken."""
    try:
        out = subprocess.run(
            [str(binary), "version"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _go(args: list[str], cwd: Path, log: Log) -> str:
    env = {**os.environ, "GOFLAGS": "-mod=mod -buildvcs=false"}
    log(f"$ go {' '.join(args)}")
    done = subprocess.run(["go", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"go {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def make_writable(tree: Path) -> None:
    # The module cache is read-only; go mod edit and go build must write go.mod/go.sum.
    for path in [tree, *tree.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def build(target: Path, version: str = PULUMI_ENGINE_VERSION, log: Log = print) -> None:
    """Build the CLI into `target` atomically: a killed build leaves no half binary behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pulumi-build-", dir=target.parent) as tmp:
        info = json.loads(_go(["mod", "download", "-json", f"{PKG_MODULE}@v{version}"], Path(tmp), log))
        src = Path(tmp) / "src"
        shutil.copytree(info["Dir"], src, symlinks=True)
        make_writable(src)
        _go(["mod", "edit", f"-dropreplace={SDK_MODULE}", f"-require={SDK_MODULE}@v{version}"], src, log)
        built = Path(tmp) / "pulumi"
        ldflags = f"-X {SDK_MODULE}/go/common/version.Version=v{version}"
        _go(["build", "-o", str(built), "-ldflags", ldflags, "./cmd/pulumi"], src, log)
        if binary_version(built) != f"v{version}":
            raise RuntimeError(f"the built {built} does not report v{version}")
        os.replace(built, target)  # same file system: an atomic rename


def _link_bin(target: Path) -> None:
    # The Automation API's PulumiCommand(root=R) runs R/bin/pulumi: give it that layout too.
    link = target.parent / "bin" / "pulumi"
    if not link.is_symlink():
        link.parent.mkdir(exist_ok=True)
        tmp = link.with_name(f".pulumi-{os.getpid()}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(Path("..") / target.name)
        os.replace(tmp, link)


def ensure_engine(log: Log = print, *, rebuild: bool = False) -> Path:
    """Return the cached engine binary, building it first when it is missing or wrong."""
    target = engine_path()
    if rebuild or binary_version(target) != f"v{PULUMI_ENGINE_VERSION}":
        log(f"building the Pulumi engine v{PULUMI_ENGINE_VERSION} into {target} (minutes on a cold cache)")
        build(target, log=log)
    else:
        log(f"reusing the cached engine {target}")
    _link_bin(target)
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="build even if a cached binary works")
    parser.add_argument("--print-path", action="store_true", help="print only the binary's path")
    args = parser.parse_args(argv)
    start = time.monotonic()
    # With --print-path stdout carries only the path: progress goes to stderr.
    log: Log = (lambda msg: print(msg, file=sys.stderr)) if args.print_path else print
    path = ensure_engine(log, rebuild=args.rebuild)
    if args.print_path:
        print(path)
    else:
        print(f"engine v{PULUMI_ENGINE_VERSION} ready at {path} ({time.monotonic() - start:.1f} s)")


if __name__ == "__main__":
    main()
