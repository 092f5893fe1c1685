"""The shell scripts the program runs on hosts (over SSH, POSIX sh, no Python needed there).

Each is idempotent: run again, it changes nothing. Secrets never appear in a script: they arrive on
stdin (the engine keeps stdin as a secret), so they are in no argv, process list or environment.
"""

from __future__ import annotations

import base64
import json
import shlex
from collections.abc import Mapping

KOLLA_ETC = "/etc/kolla"


TMPFILES_DIR = "/etc/tmpfiles.d"


def _runtime_sources(mount_sources: tuple[str, ...]) -> list[str]:
    """The mount sources below /run: a tmpfs, empty again after every boot."""
    return [path for path in mount_sources if path.rstrip("/").startswith("/run/")]


def boot_dirs_file(directory: str) -> str:
    """The systemd-tmpfiles file that recreates a container's runtime mount sources at boot."""
    return f"{TMPFILES_DIR}/kolla-{directory.rstrip('/').rsplit('/', 1)[-1]}.conf"


# What kolla-pulumi last wrote into each config directory: its fingerprint and the repair token of that
# write (components/config_drift.py). Kept outside /etc/kolla, so that removing /etc/kolla by hand is
# seen too.
WRITTEN_DIR = "/etc/kolla-pulumi/written"

# A directory's fingerprint: every entry's type, mode, owner and path, and every file's content. A
# hand edit, a chmod, a removed or an added file changes it. "absent" when there is no directory.
FINGERPRINT_SH = r"""fingerprint() {
  if [ -d "$1" ]; then
    (cd "$1" && { find . -printf '%y %m %u %g %p\n' | LC_ALL=C sort
                  find . -type f -exec sha256sum {} + | LC_ALL=C sort -k 2; } | sha256sum | cut -d ' ' -f 1)
  else
    echo absent
  fi
}
"""


def written_record(directory: str) -> str:
    return f"{WRITTEN_DIR}/{directory.rstrip('/').rsplit('/', 1)[-1]}"


def write_config_dir(directory: str, mount_sources: tuple[str, ...] = (), record: str = "", repair: str = "") -> str:
    """Replace `directory` with the files on stdin (lines: name<TAB>perm<TAB>base64), atomically.

    Kolla's layout: directory 0770, files 0660, read-only bind-mounted into the container. Bind mounts
    with a propagation mode (`/run/openvswitch:/run/openvswitch:shared`) need their source to exist,
    unlike `-v`, which creates it: those sources are made here, before the container, and those below
    /run are declared to systemd-tmpfiles, which makes them again at boot before Docker restarts the
    containers (without them Docker refuses to start them after a reboot).

    With a `record` file (written_record), what was written (its fingerprint) and the `repair` token it
    carried are kept there, so that a later hand edit is seen (components/config_drift.py)."""
    d = shlex.quote(directory)
    sources = "".join(f"mkdir -p {shlex.quote(path)}\n" for path in mount_sources)
    runtime = _runtime_sources(mount_sources)
    if runtime:
        lines = "".join(f"d {path.rstrip('/')} 0755 root root -\\n" for path in runtime)
        sources += f"mkdir -p {TMPFILES_DIR}\nprintf '{lines}' > {shlex.quote(boot_dirs_file(directory))}\n"
    remember = ""
    if record:
        target = shlex.quote(record)
        token = shlex.quote(repair or "-")
        remember = f"""mkdir -p {shlex.quote(record.rsplit("/", 1)[0])}
printf '%s %s\\n' "$(fingerprint {d})" {token} > {target}.new && mv {target}.new {target}
"""
    parent = shlex.quote(directory.rstrip("/").rsplit("/", 1)[0] or "/")
    return f"""set -eu
{FINGERPRINT_SH}{sources}umask 007
staging={d}.staging.$$
rm -rf "$staging"
mkdir -p "$staging"
while IFS="$(printf '\\t')" read -r name perm data; do
  [ -n "$name" ] || continue
  case "$name" in */*|..|.) echo "refusing file name: $name" >&2; exit 1;; esac
  printf '%s' "$data" | base64 -d > "$staging/$name"
  chmod "$perm" "$staging/$name"
done
chmod 0770 "$staging"
mkdir -p {parent}
if [ "$(fingerprint "$staging")" = "$(fingerprint {d})" ]; then
  rm -rf "$staging"; result=unchanged
else
  rm -rf {d}.old; [ ! -e {d} ] || mv {d} {d}.old
  mv "$staging" {d}; rm -rf {d}.old; result=changed
fi
{remember}echo "$result"
"""


def config_dir_stdin(files: Mapping[str, str], perm: str = "0660") -> str:
    return "".join(
        f"{name}\t{perm}\t{base64.b64encode(content.encode()).decode()}\n" for name, content in sorted(files.items())
    )


def remove_dir(directory: str, mount_sources: tuple[str, ...] = (), record: str = "") -> str:
    """Remove what write_config_dir wrote (the directory, its record, its boot-time directories' file)."""
    extra = [boot_dirs_file(directory)] if _runtime_sources(mount_sources) else []
    extra += [record] if record else []
    return "rm -rf " + " ".join(shlex.quote(path) for path in (directory, *extra))


def read_written(etc: str = KOLLA_ETC, written: str = WRITTEN_DIR) -> str:
    """Print `ok`, then per recorded config directory: its name, the fingerprint written, the fingerprint
    it has now, the repair token of that write."""
    return f"""set -u
{FINGERPRINT_SH}echo ok
for record in {shlex.quote(written)}/*; do
  [ -f "$record" ] || continue
  key=${{record##*/}}
  written=; token=
  read -r written token < "$record" || true
  echo "$key ${{written:-none}} $(fingerprint {shlex.quote(etc)}/"$key") ${{token:--}}"
done
"""


def docker_run_once(
    name: str,
    image: str,
    environment: Mapping[str, str],
    volumes: list[str],
    command: str = "",
    skip_if: str = "",
    privileged: bool = False,
    labels: tuple[str, ...] = ("BOOTSTRAP",),
) -> str:
    """Kolla's one-shot bootstrap container: run to completion, its exit code is the job's result.

    Secret environment variables come on stdin as an env-file, written 0600 and removed at exit."""
    args = ["docker", "run", "--name", name, "--rm", "--network", "host"]
    args += [f"--label={label}=" for label in labels]
    for key, value in sorted(environment.items()):
        args += ["-e", f"{key}={value}"]
    for volume in volumes:
        args += ["-v", volume]
    if privileged:
        args.append("--privileged")
    args += ["--env-file", '"$envfile"']
    body = command
    if skip_if:
        body = f"if {skip_if}; then echo '{name}: already done, skipped'; exit 0; fi; " + (
            command or "exec kolla_start"
        )
    quoted = " ".join(a if a == '"$envfile"' else shlex.quote(a) for a in args)
    tail = f" {shlex.quote(image)}" + (f" bash -c {shlex.quote(body)}" if body else "")
    return f"""set -eu
umask 077
envfile=$(mktemp)
trap 'rm -f "$envfile"' EXIT
cat > "$envfile"
docker rm -f {shlex.quote(name)} >/dev/null 2>&1 || true
{quoted}{tail}
"""


def env_file(secret_environment: Mapping[str, str]) -> str:
    lines = ["# secrets for the one-shot container"]
    lines += [f"{key}={value}" for key, value in sorted(secret_environment.items())]
    return "\n".join(lines) + "\n"


def docker_exec(container: str, script: str, user: str = "") -> str:
    """Run a bash script inside a running container; stdin passes through to it."""
    user_args = f"-u {shlex.quote(user)} " if user else ""
    return f"docker exec -i {user_args}{shlex.quote(container)} bash -c {shlex.quote(script)}\n"


# The start of every program run inside kolla_toolbox against MariaDB: read the parameters (with the
# passwords) as JSON on stdin, then connect as the login user, retrying while MariaDB starts.
_MARIADB_PRELUDE = r"""
import json, sys, time
import pymysql
p = json.load(sys.stdin)
deadline = time.time() + int(p["timeout"])
while True:
    try:
        conn = pymysql.connect(host=p["host"], port=int(p["port"]), user=p["login_user"],
                               password=p["login_password"], connect_timeout=5)
        break
    except pymysql.err.OperationalError as exc:
        if time.time() > deadline:
            if exc.args and exc.args[0] == 1045:
                sys.exit("database at %s:%s refuses %s's password (%s): MariaDB keeps the password its data "
                         "volume was bootstrapped with; a `mariadb` volume left by an earlier deployment with "
                         "other passwords needs removing (or that password restoring)"
                         % (p["host"], p["port"], p["login_user"], exc))
            sys.exit("database not reachable at %s:%s: %s" % (p["host"], p["port"], exc))
        time.sleep(2)
"""

# Runs inside kolla_toolbox: create a database and its user, idempotently.
_DATABASE_PY = (
    _MARIADB_PRELUDE
    + r"""with conn.cursor() as cur:
    cur.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (p["user"], p["password"]))
    cur.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (p["user"], p["password"]))
    if p["database"]:
        db = p["database"].replace("`", "``")
        cur.execute("CREATE DATABASE IF NOT EXISTS `%s`" % db)
        cur.execute("GRANT ALL PRIVILEGES ON `%s`.* TO %%s@'%%%%'" % db, (p["user"],))
    if p["privileges"]:
        grant = "GRANT %s ON *.* TO %%s@'%%%%'" % p["privileges"]
        cur.execute(grant + (" WITH GRANT OPTION" if p.get("grant_option") else ""), (p["user"],))
    for target, privileges in p.get("grants", []):
        cur.execute("GRANT %s ON %s TO %%s@'%%%%'" % (privileges, target), (p["user"],))
conn.commit()
print("user %s ready%s" % (p["user"], " with database " + p["database"] if p["database"] else ""))
"""
)


# Runs inside kolla_toolbox: SET GLOBAL for each of `variables` (Kolla's mysql_variables module).
_SET_VARIABLES_PY = (
    _MARIADB_PRELUDE
    + r"""import re
with conn.cursor() as cur:
    for name, value in sorted(p["variables"].items()):
        if not re.fullmatch(r"[a-z_]+", name):
            sys.exit("not a MariaDB variable name: %r" % name)
        # Booleans take 0/1 as numbers, not as strings.
        cur.execute("SET GLOBAL %s = %%s" % name, (int(value) if value.isdigit() else value,))
        print("%s = %s" % (name, value))
"""
)


def in_toolbox(program: str) -> str:
    """Run a Python program in kolla_toolbox with stdin passed through. Kolla's kolla-toolbox image
    keeps its Python (with PyMySQL and openstacksdk) in /opt/ansible; fall back to python3."""
    script = (
        "for py in /opt/ansible/bin/python3 /var/lib/kolla/venv/bin/python3 python3; do "
        'if command -v "$py" >/dev/null 2>&1; then exec "$py" -c "$0"; fi; done; '
        'echo "no python3 in kolla_toolbox" >&2; exit 1'
    )
    return f"docker exec -i kolla_toolbox bash -c {shlex.quote(script)} {shlex.quote(program)}\n"


def set_database_variables() -> str:
    return in_toolbox(_SET_VARIABLES_PY)


def create_database() -> str:
    return in_toolbox(_DATABASE_PY)


# Runs inside kolla_toolbox: Kolla's service-ks-register through openstacksdk's cloud layer. Every
# step finds first and creates or corrects only what differs, so a re-run changes nothing; it retries
# while keystone starts. Parameters (with the passwords) arrive as JSON on stdin.
_KEYSTONE_PY = r"""
import json, sys, time
import openstack
import openstack.exceptions
p = json.load(sys.stdin)
deadline = time.time() + int(p["timeout"])
while True:
    try:
        conn = openstack.connect(auth=p["auth"], region_name=p["region"], interface=p["interface"],
                                 verify=p.get("cacert") or True)
        conn.authorize()
        break
    except Exception as exc:
        if time.time() > deadline:
            sys.exit("keystone not reachable at %s: %s" % (p["auth"]["auth_url"], exc))
        time.sleep(3)
done = []


def ensure(what, get, create):
    # Find, else create. Each service registers in a job of its own and several run at once (glance's
    # and placement's both make the `service` project): a 409 means another one made it first.
    found = get()
    if found is not None:
        return found
    try:
        made = create()
    except openstack.exceptions.ConflictException:
        return get()
    done.append("%s created" % what)
    return made


for svc in p["services"]:
    found = conn.get_service(svc["name"], filters={"type": svc["type"]})
    if found is None:
        found = conn.create_service(name=svc["name"], service_type=svc["type"], description=svc["description"])
        done.append("service %s created" % svc["name"])
    elif (found.get("description") or "") != svc["description"]:
        conn.update_service(found["id"], description=svc["description"])
        done.append("service %s updated" % svc["name"])
    for interface, url in sorted(svc["endpoints"].items()):
        existing = conn.search_endpoints(
            filters={"service_id": found["id"], "interface": interface, "region_id": p["region"]})
        if not existing:
            conn.create_endpoint(found["id"], url=url, interface=interface, region=p["region"])
            done.append("endpoint %s %s created" % (svc["name"], interface))
        elif existing[0]["url"] != url:
            conn.update_endpoint(existing[0]["id"], url=url)
            done.append("endpoint %s %s updated" % (svc["name"], interface))
domain = conn.get_domain(name_or_id=p["domain"]) or conn.get_domain(domain_id=p["domain"])
for name in sorted({u["project"] for u in p["users"] if not u.get("domain")}):
    ensure("project " + name, lambda: conn.get_project(name, domain_id=domain["id"]),
           lambda: conn.create_project(name, domain_id=domain["id"]))
grants = p.get("user_roles", [])
for name in sorted({u["role"] for u in p["users"]} | set(p["roles"]) | {g["role"] for g in grants}):
    ensure("role " + name, lambda: conn.get_role(name), lambda: conn.create_role(name))
for u in p["users"]:
    # A user of its own domain (heat's stack domain admin) holds its role on that domain, not a project.
    own = None
    if u.get("domain"):
        own = ensure("domain " + u["domain"], lambda: conn.get_domain(name_or_id=u["domain"]),
                     lambda: conn.create_domain(u["domain"]))
    home = own or domain
    project = None if own else conn.get_project(u["project"], domain_id=domain["id"])
    extra = {"default_project": project["id"]} if project else {}
    before = len(done)
    user = ensure("user " + u["user"], lambda: conn.get_user(u["user"], domain_id=home["id"]),
                  lambda: conn.create_user(u["user"], password=u["password"], domain_id=home["id"], **extra))
    if len(done) == before:
        # Kolla's update_keystone_service_user_passwords (default true): the stack's password wins.
        conn.update_user(user["id"], password=u["password"])
    target = {"domain": own["id"]} if own else {"project": project["id"]}
    if conn.grant_role(u["role"], user=user["id"], **target):
        done.append("role %s granted to %s on %s" % (u["role"], u["user"], u.get("domain") or u["project"]))
for g in grants:
    # Kolla's service_ks_register_user_roles: an existing user (e.g. admin) gets a role in a project.
    user = conn.get_user(g["user"], domain_id=domain["id"])
    project = conn.get_project(g["project"], domain_id=domain["id"])
    if user is None or project is None:
        sys.exit("user %s or project %s not found in domain %s" % (g["user"], g["project"], p["domain"]))
    if conn.grant_role(g["role"], user=user["id"], project=project["id"]):
        done.append("role %s granted to %s on %s" % (g["role"], g["user"], g["project"]))
print("; ".join(done) if done else "keystone registration unchanged")
"""


def register_in_keystone() -> str:
    return in_toolbox(_KEYSTONE_PY)


def json_params(**params: object) -> str:
    return json.dumps(params, sort_keys=True)


# Where the host's bootstrap puts kolla-pulumi's helpers (components/tools/, components/host.py).
TOOLS_DIR = "/usr/local/libexec/kolla-pulumi"
KP = f"{TOOLS_DIR}/kp"
MASK = "[secret]"


def masked(script: str) -> str:
    """`script` run by `kp mask`: the secrets on stdin's first lines (masks_stdin) are replaced in its
    output on the host, before the output reaches the provider (which keeps it in plain text and streams
    it to the engine's events); its exit status is kept."""
    return f"{KP} mask {shlex.quote(script)}\n"


def unmasked(command: str, stdin: str = "") -> tuple[str, str, tuple[str, ...]]:
    """(the job's own script, its own stdin, the masks) of a command `masked` wrapped; as given if not."""
    prefix = f"{KP} mask "
    if not command.startswith(prefix):
        return command, stdin, ()
    (script,) = shlex.split(command.removeprefix(prefix))
    count, _, rest = stdin.partition("\n")
    lines = rest.split("\n")
    masks = tuple(base64.b64decode(m).decode() for m in lines[: int(count or 0)])
    return script, "\n".join(lines[int(count or 0) :]), masks


def masks_stdin(masks: tuple[str, ...]) -> str:
    """The block `masked` reads before the job's own stdin."""
    return f"{len(masks)}\n" + "".join(base64.b64encode(m.encode()).decode() + "\n" for m in masks)
