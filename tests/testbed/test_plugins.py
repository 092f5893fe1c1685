"""The real plugins: built from their pinned source archives, cached by their inputs, installed where a
user's engine finds them (testbed.plugins)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testbed import engine, env, plugins
from testbed.versions import COMMAND_PLUGIN_VERSION, DOCKER_PLUGIN_VERSION, PLUGIN_ARCHIVES, ROOT


@pytest.fixture
def fake_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of stand-in archives whose pinned sha256s are theirs, and an empty plugin cache."""
    folder = tmp_path / "sources"
    folder.mkdir()
    pins = {}
    for name in PLUGIN_ARCHIVES:
        (folder / name).write_bytes(name.encode())
        pins[name] = hashlib.sha256(name.encode()).hexdigest()
    monkeypatch.setattr(plugins, "PLUGIN_ARCHIVES", pins)
    monkeypatch.setenv(plugins.SOURCES_VAR, str(folder))
    monkeypatch.setattr(plugins, "ROOT", tmp_path / "checkout")  # not this machine's shared folder
    monkeypatch.setattr(plugins, "CACHE_ROOT", tmp_path / "cache")
    return folder


def test_an_archive_that_differs_from_its_pin_is_refused(fake_sources: Path) -> None:
    (fake_sources / plugins.COMMAND.archive).write_bytes(b"tampered")
    with pytest.raises(RuntimeError, match=r"sha256 .* but testbed/versions.py pins"):
        plugins.find_archive(plugins.COMMAND)


def test_a_missing_archive_names_where_it_was_looked_for(fake_sources: Path) -> None:
    (fake_sources / plugins.DOCKER.archive).unlink()
    with pytest.raises(RuntimeError, match=rf"{plugins.DOCKER.archive}.*{fake_sources}.*{plugins.SOURCES_VAR}"):
        plugins.find_archive(plugins.DOCKER)


def test_the_cache_key_follows_every_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "go_version", lambda: "go version go1.26.8 linux/amd64")
    before = {p.name: plugins.plugin_dir(p) for p in plugins.PLUGINS}
    assert len(set(before.values())) == 3
    monkeypatch.setattr(engine, "go_version", lambda: "go version go1.27.0 linux/amd64")
    assert all(plugins.plugin_dir(p) != before[p.name] for p in plugins.PLUGINS)
    monkeypatch.setattr(engine, "go_version", lambda: "go version go1.26.8 linux/amd64")
    monkeypatch.setattr(plugins, "PULUMI_ENGINE_VERSION", "9.9.9")  # only the language host links the engine
    changed = {p.name for p in plugins.PLUGINS if plugins.plugin_dir(p) != before[p.name]}
    assert changed == {"python"}


def test_a_failed_build_leaves_nothing_and_a_good_one_is_reused(
    fake_sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def fake_unpack(archive: Path, into: Path) -> None:
        into.mkdir()

    def builder(fail: bool):
        def build(src: Path, out: Path, log: object) -> None:
            calls.append(src.name)
            (out / plugins.COMMAND.binary).write_text("#!/bin/sh\n")
            if fail:
                raise RuntimeError("compile error")

        return build

    monkeypatch.setattr(plugins, "_unpack", fake_unpack)
    monkeypatch.setattr(plugins, "reported_version", lambda binary, kind: f"v{plugins.COMMAND.version}")
    monkeypatch.setitem(plugins.BUILDERS, "command", builder(fail=True))
    with pytest.raises(RuntimeError, match="compile error"):
        plugins.build(plugins.COMMAND, log=lambda _: None)
    assert not plugins.cached(plugins.COMMAND)
    assert [p.name for p in plugins.CACHE_ROOT.iterdir()] == []  # no half-built directory

    monkeypatch.setitem(plugins.BUILDERS, "command", builder(fail=False))
    monkeypatch.setattr(plugins, "reported_version", lambda binary, kind: "v0.0.1")
    with pytest.raises(RuntimeError, match=r"reports 'v0\.0\.1'"):
        plugins.build(plugins.COMMAND, log=lambda _: None)
    assert not plugins.cached(plugins.COMMAND)

    monkeypatch.setattr(plugins, "reported_version", lambda binary, kind: f"v{plugins.COMMAND.version}")
    path = plugins.build(plugins.COMMAND, log=lambda _: None)
    path.chmod(0o755)
    assert plugins.cached(plugins.COMMAND)
    assert json.loads((path.parent / "build.json").read_text())["key"] == plugins.cache_key(plugins.COMMAND)


# --- the real builds -------------------------------------------------------------------------------


def _require_built() -> None:
    env.require(
        env.engine_built(), "the Pulumi engine and plugins (python -m testbed.engine; python -m testbed.plugins)"
    )


def test_the_real_plugins_are_cached_and_report_their_pinned_versions() -> None:
    _require_built()
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "testbed.plugins"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30, "a warm run must not rebuild"
    assert "building" not in done.stdout
    reported = {p.name: plugins.reported_version(plugins.plugin_path(p), p.kind).lstrip("v") for p in plugins.PLUGINS}
    assert reported == {
        "docker": DOCKER_PLUGIN_VERSION,
        "command": COMMAND_PLUGIN_VERSION,
        "python": plugins.LANGUAGE_HOST_SOURCE_VERSION,
    }


def test_the_language_host_ships_beside_the_engine() -> None:
    _require_built()
    beside = engine.engine_path().parent
    for name in ("pulumi-language-python", "pulumi-language-python-exec"):
        assert os.access(beside / name, os.X_OK), f"{name} is not beside {engine.engine_path()}"
    assert (beside / "pulumi-language-python").resolve() == plugins.plugin_path(plugins.LANGUAGE_PYTHON)


def test_the_providers_are_installed_as_the_engine_lists_them(tmp_path: Path) -> None:
    _require_built()
    environment = env.pulumi_env(tmp_path)
    done = subprocess.run(
        ["pulumi", "plugin", "ls", "--json"], env=environment, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    listed = {(p["name"], p["kind"], p["version"]) for p in json.loads(done.stdout)}
    assert ("docker", "resource", DOCKER_PLUGIN_VERSION) in listed
    assert ("command", "resource", COMMAND_PLUGIN_VERSION) in listed
