"""The engine build and cache (testbed.engine) and the offline environment (testbed.env)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testbed import engine, env
from testbed.versions import PULUMI_ENGINE_VERSION, ROOT

# A stand-in `go`: `mod download` points at a fake module, `build` writes a binary that prints
# $FAKE_VERSION, or dies half-way through writing it when $FAKE_FAIL is set.
FAKE_GO = r"""#!/bin/sh
echo "$*" >> "$FAKE_LOG"
case "$1 $2" in
  "mod download") printf '{"Dir": "%s"}\n' "$FAKE_MODULE" ;;
  "mod edit") test -w go.mod || { echo "go.mod is read-only" >&2; exit 1; } ;;
  "version ") echo "go version go0.0-fake linux/amd64" ;;
  build*)
    while [ "$1" != "-o" ]; do shift; done
    if [ -n "$FAKE_FAIL" ]; then echo "half a bin" > "$2"; echo "compile error" >&2; exit 2; fi
    printf '#!/bin/sh\necho %s\n' "$FAKE_VERSION" > "$2"; chmod +x "$2" ;;
esac
"""


@pytest.fixture
def fake_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir, module = tmp_path / "bin", tmp_path / "module"
    bin_dir.mkdir()
    module.mkdir()
    (module / "go.mod").write_text("module github.com/pulumi/pulumi/pkg/v3\n")
    (module / "go.mod").chmod(0o444)  # the module cache is read-only
    (bin_dir / "go").write_text(FAKE_GO)
    (bin_dir / "go").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_MODULE", str(module))
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "go.log"))
    monkeypatch.setenv("FAKE_VERSION", f"v{PULUMI_ENGINE_VERSION}")
    monkeypatch.setattr(engine, "CACHE_ROOT", tmp_path / "cache")
    return tmp_path


def test_build_follows_the_recipe_and_caches(fake_go: Path) -> None:
    path = engine.ensure_engine(log=lambda _: None)
    assert path == fake_go / "cache" / engine.cache_key() / "pulumi"
    assert engine.binary_version(path) == f"v{PULUMI_ENGINE_VERSION}"
    assert (path.parent / "bin" / "pulumi").resolve() == path  # the layout PulumiCommand(root=) wants
    calls = (fake_go / "go.log").read_text().splitlines()
    sdk = f"github.com/pulumi/pulumi/sdk/v3@v{PULUMI_ENGINE_VERSION}"
    assert f"mod download -json github.com/pulumi/pulumi/pkg/v3@v{PULUMI_ENGINE_VERSION}" in calls
    assert f"mod edit -dropreplace=github.com/pulumi/pulumi/sdk/v3 -require={sdk}" in calls
    build = next(c for c in calls if c.startswith("build"))
    assert f"-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v{PULUMI_ENGINE_VERSION}" in build
    assert build.endswith("./cmd/pulumi")
    assert sorted(p.name for p in path.parent.iterdir()) == ["bin", "pulumi"]  # no build leftovers

    builds = len(calls)
    engine.ensure_engine(log=lambda _: None)
    assert len((fake_go / "go.log").read_text().splitlines()) == builds + 1  # only `go version`


def test_a_failed_build_leaves_no_binary(fake_go: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_FAIL", "1")
    with pytest.raises(RuntimeError, match="compile error"):
        engine.ensure_engine(log=lambda _: None)
    key_dir = fake_go / "cache" / engine.cache_key()
    assert list(key_dir.iterdir()) == []


def test_a_binary_with_the_wrong_version_is_rebuilt(fake_go: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_VERSION", "v0.0.1")
    with pytest.raises(RuntimeError, match="does not report"):
        engine.ensure_engine(log=lambda _: None)
    monkeypatch.setenv("FAKE_VERSION", f"v{PULUMI_ENGINE_VERSION}")
    assert engine.binary_version(engine.ensure_engine(log=lambda _: None)) == f"v{PULUMI_ENGINE_VERSION}"


def test_the_cache_key_follows_the_go_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "go_version", lambda: "go version go1.26.8 linux/amd64")
    before = engine.engine_path()
    monkeypatch.setattr(engine, "go_version", lambda: "go version go1.27.0 linux/amd64")
    assert engine.engine_path() != before
    assert f"v{PULUMI_ENGINE_VERSION}" in engine.cache_key()


def test_the_real_engine_is_cached() -> None:
    env.require(engine.binary_version(engine.engine_path()) is not None, "the engine (python -m testbed.engine)")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "testbed.engine", "--print-path"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert time.monotonic() - started < 5  # no rebuild (about 0.2 s, interpreter start included)
    path = Path(done.stdout.strip())
    assert path == engine.engine_path()
    assert engine.binary_version(path) == f"v{PULUMI_ENGINE_VERSION}"


def test_pulumi_env_is_offline_on_the_built_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    linked: list[Path] = []
    monkeypatch.setattr(env.plugins, "link_plugins", linked.append)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    e = env.pulumi_env(tmp_path)
    assert e["PATH"].split(os.pathsep)[0] == str(engine.engine_path().parent)
    assert e["PULUMI_HOME"] == str(tmp_path / "home") and (tmp_path / "home").is_dir()
    assert linked == [tmp_path / "home"]  # the providers installed there, as a user's engine has them
    assert e["PULUMI_BACKEND_URL"] == f"file://{tmp_path / 'backend'}" and (tmp_path / "backend").is_dir()
    assert e["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert e["PULUMI_SKIP_UPDATE_CHECK"] == "true"
    assert e["PULUMI_CONFIG_PASSPHRASE"] == env.TESTBED_PASSPHRASE
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "mine")
    assert env.pulumi_env(tmp_path)["PULUMI_CONFIG_PASSPHRASE"] == "mine"


def test_require_skips_or_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    env.require(True, "nothing")
    monkeypatch.delenv(env.REQUIRE_VAR, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no sshd"):
        env.require(False, "no sshd")
    monkeypatch.setenv(env.REQUIRE_VAR, "1")
    with pytest.raises(pytest.fail.Exception, match="no sshd"):
        env.require(False, "no sshd")
