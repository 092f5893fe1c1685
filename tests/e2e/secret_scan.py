"""Scan a deployment for its own passwords in plaintext: the stack's state, the engine's logs, and every
container's environment on every test-bed host. Only Pulumi's ciphertext may stand for a secret.

Where the engine (3.274.1, read in the Go module cache) writes what:
- state (pkg/backend/diy/store.go, state.go): `<backend>/.pulumi/stacks/<project>/<stack>.json[.gz|.zst]`,
  the previous one as `<same>.bak`, a copy per update in `.pulumi/history/<project>/<stack>/
  <stack>-<ns>.checkpoint.json[...]` (beside `.history.json`), `pulumi stack rm` leftovers in
  `.pulumi/backups/...`, tags in `<stack>.pulumi-tags`, locks in `.pulumi/locks/`.
- logs (pkg/logging/encrypted.go, pkg/cmd/pulumi/pulumi.go): every CLI run writes
  `$PULUMI_HOME/logs/pulumi-<ts>-<pid>-<command>.log` at debug level and *unredacted*; gzip, until an
  engine operation with a secrets manager turns it into an encrypted "PLOG" file renamed
  `<stack>-<ts>[-<update>].log`. Only with `-v N` (the Automation API's `log_verbosity`) and without
  `--logtostderr` does the CLI also write a redacted glog-named file in os.TempDir() ($TMPDIR or /tmp):
  `pulumi.<host>.<user>.log.INFO.<yyyymmdd>-<hhmmss>.<pid>` (sdk/go/common/util/logging/log.go);
  `--logtostderr` sends that to stderr instead, i.e. into the Automation API's captured stderr.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tempfile
import urllib.parse
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from testbed.deploy import PROJECT

PASSWORDS_KEY = f"{PROJECT}:passwords"

# Shorter values match by chance (and kolla's own defaults such as "kolla" or "admin" are not secrets of
# the stack); a generated password has 40 characters, a bcrypt salt 22, a uuid 36.
MIN_SECRET_LENGTH = 8
# Values a person might type that also occur in ordinary text: finding them proves nothing.
COMMON_VALUES = frozenset({"password", "changeme", "12345678", "openstack", "secretsecret"})
# A public key is published on purpose (authorized_keys); the private half is what matters.
PUBLIC_LEAVES = frozenset({"public_key"})
# Lines of a multi-line secret (a PEM key's body) are scanned on their own as well: a key re-indented
# into YAML or written with CRLF no longer matches as a whole. Shorter lines could be common.
MIN_LINE_LENGTH = 40

SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270"

CONTEXT_CHARS = 20
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
PLOG_MAGIC = b"PLOG"
# Automatic logs (`*.log` in $PULUMI_HOME/logs) and glog-named verbose logs of the CLI and of Go
# plugins (`pulumi.<host>...log.INFO...`, `pulumi-resource-docker.<host>...`) in the temp dir.
LOG_GLOBS = ("*.log", "pulumi*.log.*")


# --- what to look for -------------------------------------------------------------------------------


def _leaves(value: Any, name: str) -> Iterator[tuple[str, str]]:
    """(dotted key, string) for every string leaf, public keys left out."""
    if isinstance(value, str):
        yield name, value
    elif isinstance(value, Mapping):
        for key, child in value.items():
            if key not in PUBLIC_LEAVES:
                yield from _leaves(child, f"{name}.{key}")
    elif isinstance(value, list | tuple):
        for index, child in enumerate(value):
            yield from _leaves(child, f"{name}[{index}]")


def _base64_cores(value: str) -> set[str]:
    """The base64 of `value`, and the part of it that survives inside a longer encoded text (e.g.
    `user:password` base64ed): for each of the 3 byte alignments, the characters that depend on the
    value's bytes only."""
    raw = value.encode()
    forms = {base64.b64encode(raw).decode()}
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode()
        lead = (0, 2, 3)[shift]  # characters mixing the padding's bits in
        forms.add(encoded[lead : 4 * ((shift + len(raw)) // 3)])
    return forms


def _json_forms(value: str) -> set[str]:
    python = json.dumps(value)[1:-1]
    # Go's encoding/json escapes <, > and & by default (the diy backend turns that off, others don't).
    go = python.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return {python, go, json.dumps(value, ensure_ascii=False)[1:-1]}


def encodings(value: str) -> set[str]:
    """The forms a leak of `value` would likely take."""
    forms = {value, urllib.parse.quote(value, safe=""), *_json_forms(value), *_base64_cores(value)}
    if "\n" in value:
        lines = (line.strip() for line in value.splitlines())
        forms |= {line for line in lines if len(line) >= MIN_LINE_LENGTH and not line.startswith("-----")}
    return forms


def _worth_scanning(value: str) -> bool:
    return len(value) >= MIN_SECRET_LENGTH and value.lower() not in COMMON_VALUES


def secret_values(passwords: Mapping[str, Any]) -> dict[str, str]:
    """value -> key name for every form of every secret worth looking for. A value several keys share
    is named by all of them, `a|b`."""
    names: dict[str, set[str]] = {}
    for name, value in _leaves(passwords, ""):
        if not _worth_scanning(value):
            continue
        for form in encodings(value):
            if len(form) >= MIN_SECRET_LENGTH:
                names.setdefault(form, set()).add(name.lstrip("."))
    return {form: "|".join(sorted(keys)) for form, keys in names.items()}


# --- where it was found -----------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Leak:
    source: str
    key: str
    offset: int
    context: str  # the text around it, every secret in it replaced by <redacted:KEY>

    def __str__(self) -> str:
        return f"{self.source} @{self.offset}: {self.key} in …{self.context}…"


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    key: str


def _find_all(text: str, form: str) -> Iterator[int]:
    start = text.find(form)
    while start >= 0:
        yield start
        start = text.find(form, start + 1)


def _spans(text: str, secrets: Mapping[str, str]) -> list[_Span]:
    """Every occurrence of every form, overlapping ones of the same key merged (a base64 and its
    aligned core match the same place)."""
    found = sorted((start, start + len(form), key) for form, key in secrets.items() for start in _find_all(text, form))
    merged: list[_Span] = []
    for start, end, key in found:
        same = [i for i, span in enumerate(merged) if span.key == key and start <= span.end]
        if same:
            last = merged[same[-1]]
            merged[same[-1]] = _Span(last.start, max(last.end, end), key)
        else:
            merged.append(_Span(start, end, key))
    return merged


def _context(text: str, span: _Span, spans: list[_Span]) -> str:
    """CONTEXT_CHARS either side of `span`, each secret in the window (cut or whole) redacted."""
    low, high = max(0, span.start - CONTEXT_CHARS), min(len(text), span.end + CONTEXT_CHARS)
    inside = sorted((s for s in spans if s.start < high and s.end > low), key=lambda s: (s.start, s.end))
    parts, cursor = [], low
    for other in inside:
        if other.start > cursor:
            parts.append(json.dumps(text[cursor : other.start])[1:-1])
        if other.end > cursor:
            parts.append(f"<redacted:{other.key}>")
            cursor = other.end
    parts.append(json.dumps(text[cursor:high])[1:-1] if cursor < high else "")
    return "".join(parts)


def find_leaks(sources: Mapping[str, str], secrets: Mapping[str, str]) -> list[Leak]:
    """Every occurrence of a secret in any source, in a deterministic order, with no secret in it."""
    leaks = []
    for source, text in sources.items():
        spans = _spans(text, secrets)
        leaks += [Leak(source, span.key, span.start, _context(text, span, spans)) for span in spans]
    return sorted(leaks)


def count_ciphertexts(state_text: str) -> int:
    """How many secrets a checkpoint holds in the encrypted form `{<sig>: <secret sig>, "ciphertext": ...}`."""

    def walk(node: Any) -> int:
        if isinstance(node, dict):
            own = node.get(SECRET_SIG_KEY) == SECRET_SIG_VALUE and bool(node.get("ciphertext"))
            return int(own) + sum(walk(child) for child in node.values())
        if isinstance(node, list):
            return sum(walk(child) for child in node)
        return 0

    try:
        return walk(json.loads(state_text))
    except ValueError:
        return 0


# --- reading files ----------------------------------------------------------------------------------


def _gunzip(data: bytes) -> bytes:
    """All gzip members, tolerating a truncated last one (a log still being written)."""
    out = []
    while data:
        stream = zlib.decompressobj(wbits=31)
        out.append(stream.decompress(data))
        if not stream.eof:
            break
        data = stream.unused_data
    return b"".join(out)


def _unzstd(data: bytes) -> bytes:
    # Python 3.11 has no zstd; an unreadable checkpoint must not count as a clean one.
    if not shutil.which("zstd"):
        raise RuntimeError("a zstd-compressed checkpoint, and no zstd command to read it")
    return subprocess.run(["zstd", "-dcq"], input=data, capture_output=True, check=True).stdout


def read_text(path: Path) -> str:
    """A file's text, decompressed by content (a `.json.gz.bak` is gzip too)."""
    data = path.read_bytes()
    if data.startswith(GZIP_MAGIC):
        data = _gunzip(data)
    elif data.startswith(ZSTD_MAGIC):
        data = _unzstd(data)
    return data.decode("utf-8", errors="replace")


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and not p.is_symlink())


# --- the three kinds of source ----------------------------------------------------------------------


def state_sources(backend_dir: Path) -> dict[str, str]:
    """Every file the file backend keeps under `.pulumi/` (checkpoints, backups, history, tags, locks):
    a secret in an old checkpoint is a leak as well. Named by their path in the backend."""
    root = backend_dir / ".pulumi"
    if not root.is_dir():
        return {}
    return {f"state:{p.relative_to(backend_dir)}": read_text(p) for p in _files(root)}


def current_checkpoints(sources: Mapping[str, str]) -> dict[str, str]:
    """The stacks' live checkpoints among state_sources' (not backups or history)."""
    pattern = re.compile(r"state:\.pulumi/stacks/.+\.json(\.gz|\.zst)?")
    return {name: text for name, text in sources.items() if pattern.fullmatch(name)}


def default_log_dirs(pulumi_home: Path) -> list[Path]:
    """Where the engine run with PULUMI_HOME=`pulumi_home` writes logs (see the module's doc)."""
    return [pulumi_home / "logs", Path(tempfile.gettempdir())]


def _log_files(dirs: Iterable[Path], since: float | None) -> list[Path]:
    found: dict[Path, Path] = {}
    for directory in dirs:
        for pattern in LOG_GLOBS:
            for path in directory.glob(pattern):
                if path.is_file() and (since is None or path.stat().st_mtime >= since):
                    found.setdefault(path.resolve(), path)
    return sorted(found.values())


def is_encrypted_log(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(PLOG_MAGIC)) == PLOG_MAGIC


def engine_log_sources(
    dirs: Iterable[Path], captured: Mapping[str, str] | None = None, *, since: float | None = None
) -> dict[str, str]:
    """The engine's log files in `dirs` (changed at or after `since`, if given) that are readable, plus
    the caller's captured output (e.g. {"up:stdout": result.stdout}). Encrypted PLOG logs hold only
    ciphertext and are left out: see encrypted_logs."""
    sources = {f"log:{p}": read_text(p) for p in _log_files(dirs, since) if not is_encrypted_log(p)}
    sources.update({f"output:{name}": text for name, text in (captured or {}).items()})
    return sources


def encrypted_logs(dirs: Iterable[Path], *, since: float | None = None) -> list[str]:
    return [str(p) for p in _log_files(dirs, since) if is_encrypted_log(p)]


class SshHost(Protocol):
    @property
    def name(self) -> str: ...

    def ssh(
        self, command: str, *, check: bool = True, input: str | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]: ...


# Every container, running or not; xargs may split a long list into several `docker inspect` runs.
INSPECT_ALL = "docker ps -aq --no-trunc | xargs -r docker inspect"


def _json_documents(text: str) -> Iterator[Any]:
    """Consecutive JSON documents (one array per `docker inspect` run)."""
    decoder, index = json.JSONDecoder(), 0
    while (index := len(text) - len(text[index:].lstrip())) < len(text):
        document, index = decoder.raw_decode(text, index)
        yield document


def _container_text(container: Mapping[str, Any]) -> str:
    config = container.get("Config") or {}
    lines = [f"Env: {item}" for item in config.get("Env") or []]
    lines += [f"Entrypoint: {item}" for item in config.get("Entrypoint") or []]
    lines += [f"Cmd: {item}" for item in config.get("Cmd") or []]
    lines += [f"Path: {container.get('Path') or ''}"]
    lines += [f"Args: {item}" for item in container.get("Args") or []]
    # Labels are as visible as the environment (`docker inspect`, the API): a secret there leaks too.
    lines += [f"Label: {key}={value}" for key, value in sorted((config.get("Labels") or {}).items())]
    return "\n".join(lines) + "\n"


def container_env_sources(hosts: Iterable[SshHost]) -> dict[str, str]:
    """Per container on every host: its environment, command line and labels, `<host>:<container>:env`."""
    sources: dict[str, str] = {}
    for host in hosts:
        done = host.ssh(INSPECT_ALL, check=False)
        containers = [c for document in _json_documents(done.stdout) for c in document]
        # A container removed between ps and inspect fails only its own inspection.
        if done.returncode != 0 and not containers:
            raise RuntimeError(f"{host.name}: {INSPECT_ALL} failed: {done.stderr.strip()}")
        for container in containers:
            name = str(container.get("Name") or container["Id"][:12]).lstrip("/")
            sources[f"{host.name}:{name}:env"] = _container_text(container)
    return sources


# --- one call for the e2e test ----------------------------------------------------------------------


def stack_passwords(config: Mapping[str, Any]) -> dict[str, Any]:
    """Kolla's passwords out of `stack.get_all_config()` (one secret object, its value JSON text), plus
    any other secret config value under its own name."""
    passwords: dict[str, Any] = {}
    for key, item in config.items():
        if key == PASSWORDS_KEY:
            passwords.update(json.loads(item.value))
        elif item.secret:
            passwords[key] = _config_value(item.value)
    return passwords


def _config_value(text: str) -> Any:
    """An object's JSON text as the object (its leaves are the secrets), any other value as it is."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, dict | list) else text


@dataclass(frozen=True)
class Scanned:
    sources: int
    bytes: int


@dataclass(frozen=True)
class ScanReport:
    leaks: list[Leak]
    scanned: dict[str, Scanned]  # "state", "logs", "containers"
    secrets: int  # distinct values (all forms) looked for
    ciphertexts: int  # secrets in encrypted form in the stacks' live checkpoints
    skipped: list[str] = field(default_factory=list)  # encrypted logs: ciphertext, nothing to read

    def problems(self) -> list[str]:
        """Why the scan fails: leaks, or a scan that could not have found any (nothing scanned for or in)."""
        problems = [str(leak) for leak in self.leaks]
        if not self.secrets:
            problems.append("no secret worth scanning for")
        problems += [f"nothing scanned in {kind}" for kind, seen in self.scanned.items() if not seen.bytes]
        if not self.ciphertexts:
            problems.append("no secret in encrypted form in the state")
        return problems


def _size(sources: Mapping[str, str]) -> Scanned:
    return Scanned(len(sources), sum(len(text.encode()) for text in sources.values()))


def scan_deployment(
    passwords: Mapping[str, Any],
    backend_dir: Path,
    hosts: Iterable[SshHost],
    *,
    log_dirs: Iterable[Path] = (),
    captured: Mapping[str, str] | None = None,
    since: float | None = None,
) -> ScanReport:
    """Scan state, engine logs (files in `log_dirs`, e.g. default_log_dirs(state_dir / "home"), changed
    since `since`, and `captured` output) and every container for `passwords`."""
    log_dirs = list(log_dirs)
    kinds = {
        "state": state_sources(backend_dir),
        "logs": engine_log_sources(log_dirs, captured, since=since),
        "containers": container_env_sources(hosts),
    }
    secrets = secret_values(passwords)
    leaks = find_leaks({name: text for sources in kinds.values() for name, text in sources.items()}, secrets)
    ciphertexts = sum(count_ciphertexts(text) for text in current_checkpoints(kinds["state"]).values())
    return ScanReport(
        leaks=leaks,
        scanned={kind: _size(sources) for kind, sources in kinds.items()},
        secrets=len(secrets),
        ciphertexts=ciphertexts,
        skipped=encrypted_logs(log_dirs, since=since),
    )


def problems_of(
    stack_config: Mapping[str, Any],
    state_dir: Path,
    hosts: Iterable[SshHost],
    captured: Mapping[str, str] | None = None,
    since: float | None = None,
) -> list[str]:
    """Why a test-bed stack leaks (or could not be scanned): its passwords (from `stack.get_all_config()`
    or `pulumi config --show-secrets --json`) looked for in its state and history under `state_dir`,
    its engine logs, `captured` output and every container on `hosts`."""
    report = scan_deployment(
        stack_passwords(stack_config),
        state_dir / "backend",
        hosts,
        log_dirs=default_log_dirs(state_dir / "home"),
        captured=captured,
        since=since,
    )
    return report.problems()
