"""kolla-ansible's `mariadb_backup`, and the restore its documentation describes, as verbs.

Backup (Kolla's mariadb/tasks/backup.yml): on the backup host (`mariadb_backup_host`, the first mariadb
host: through haproxy, the active node), a one-shot `mariabackup` container of the image the running
`mariadb` container has, with the config directory the deploy wrote (`/etc/kolla/mariabackup`, the
backup user's login) and the `mariadb` and `mariadb_backup` volumes, runs the image's
kolla_mariadb_backup.sh: a full backup (`full-<date>/…xbs.gz`, named in `last_full_file`), or an
incremental one against the last full (`incr-<time>-since-<date>/`). Everything stays in the
`mariadb_backup` volume.

Restore (Kolla's admin guide, mariadb-backup-and-restore): on the backup host, the last full backup is
prepared, with the most recent incremental taken since it applied on top (each of Kolla's incrementals
is taken against the full, so the latest holds all the others); every mariadb node is stopped; the
backup host's data is set aside in the backup volume (`restore/datadir-before-<time>`: a failed
restore loses nothing) and replaced by the prepared backup; the other nodes' Galera state is removed so
that they rejoin by a full state transfer; then the cluster starts from the backup host as
`mariadb-recovery` starts it. Containers are started again, never re-created: a deploy afterwards
changes nothing.
"""

from __future__ import annotations

import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from components.catalogue.mariadb import CLUSTER_MARKER
from components.config.stack import StackConfig
from components.deployment import DeploymentPlan
from components.operate import mariadb_recovery
from components.operate.mariadb_recovery import CONTAINER, Log, RecoveryError, docker_run, volume_dir
from components.operate.ssh import Runner, run_script
from components.render import RenderedContainer

BACKUP = "mariabackup"
KINDS = ("full", "incremental")
_IMAGE_OF_MARIADB = "docker inspect -f '{{{{.Config.Image}}}}' {name} 2>/dev/null || echo {fallback}"


class BackupError(RuntimeError):
    """A backup or restore could not be done; the message says where and why."""


@dataclass(frozen=True)
class BackupTarget:
    host: str
    container: RenderedContainer  # mariabackup as rendered for that host


def backup_target(plan: DeploymentPlan) -> BackupTarget:
    """The backup host and its mariabackup container; refused when the stack has none."""
    for service in plan.services:
        for rendered in service.on_demand:
            if rendered.key == BACKUP:
                return BackupTarget(rendered.host, rendered)
    raise BackupError(
        "this stack deploys no mariabackup: set globals.enable_mariabackup to true and deploy first "
        "(it writes /etc/kolla/mariabackup on the backup host and creates the backup user)"
    )


def _one_shot(name: str, container: RenderedContainer, command: str, *, env: dict[str, str], user: str = "") -> str:
    """A one-shot container of the image the running mariadb has (else the planned one), as Kolla's
    kolla_container start_container with detach false and remove_on_exit runs it."""
    image = _IMAGE_OF_MARIADB.format(name=CONTAINER, fallback=shlex.quote(container.image))
    return docker_run(name, container, env=env, user=user, image=f'"$({image})"', command=command)


def backup_script(container: RenderedContainer, kind: str) -> str:
    """Kolla's backup: the image's kolla_mariadb_backup.sh after kolla_set_configs; then the backups
    the volume holds, newest last."""
    if kind not in KINDS:
        raise BackupError(f"backup type {kind!r}: expected one of {', '.join(KINDS)}")
    run = _one_shot(
        BACKUP,
        container,
        "sudo -E kolla_set_configs && /usr/local/bin/kolla_mariadb_backup.sh",
        env={"BACKUP_TYPE": kind},
    )
    return f"""set -eu
if [ -z "$(docker ps -q --filter name=^{CONTAINER}$)" ]; then
  echo "mariadb does not run on $(hostname): nothing to back up from (mariadb-recovery starts it)" >&2
  exit 1
fi
docker rm -f {BACKUP} >/dev/null 2>&1 || true
{run}
backups=$({volume_dir("mariadb_backup")})
cd "$backups" && find . -name '*.gz' -printf '%T@ %s %p\\n' | sort -n | cut -d' ' -f2- | sed 's|^|backup: |'
"""


# Runs in a one-shot container of the mariadb image with the mariadb_backup volume at /backup, as root.
# Kolla's full backups are `full-<date>/<file>.gz`, named in last_full_file; each incremental since it
# is `incr-<time>-since-<date>/<file>.gz`, taken against the full: the newest one holds the others.
_PREPARE = r"""set -eu
cd /backup
[ -r last_full_file ] || { echo "no full backup in the mariadb_backup volume (mariadb-backup first)" >&2; exit 1; }
full=$(cat last_full_file)
[ -r "$full" ] || { echo "the last full backup $full is missing" >&2; exit 1; }
since=$(basename "$(dirname "$full")" | sed 's/^full-//')
rm -rf restore/full restore/incr
mkdir -p restore/full restore/incr
echo "full backup: $full"
gunzip -c "$full" | mbstream -x -C restore/full
mariabackup --prepare --target-dir restore/full >restore/prepare.log 2>&1 \
  || { tail -20 restore/prepare.log >&2; exit 1; }
incr=$(ls -1dt incr-*-since-"$since" 2>/dev/null | head -1 || true)
if [ -n "$incr" ] && [ "${SKIP_INCREMENTAL:-}" != 1 ]; then
  echo "incremental backup: /backup/$incr"
  gunzip -c "$incr"/*.gz | mbstream -x -C restore/incr
  mariabackup --prepare --target-dir restore/full --incremental-dir restore/incr >>restore/prepare.log 2>&1 \
    || { tail -20 restore/prepare.log >&2; exit 1; }
fi
rm -rf restore/incr
chown -R mysql:mysql restore
echo prepared
"""

# The backup host, every node stopped: its data set aside in the backup volume, the prepared backup
# copied in, and Galera's state written from the backup's position so that it bootstraps the cluster.
_COPY_BACK = r"""set -eu
aside=/backup/restore/datadir-before-$(date +%Y%m%d-%H%M%S)
mkdir -p "$aside"
cp -a /var/lib/mysql/. "$aside"/
find /var/lib/mysql -mindepth 1 -delete
mariabackup --copy-back --target-dir /backup/restore/full --datadir /var/lib/mysql >/backup/restore/copy-back.log 2>&1 \
  || { tail -20 /backup/restore/copy-back.log >&2; exit 1; }
cd /backup/restore/full
info=$(cat mariadb_backup_galera_info xtrabackup_galera_info 2>/dev/null | head -1 || true)
uuid=${info%%:*}
seqno=${info#*:}
seqno=${seqno%% *}
[ -n "$uuid" ] && [ "$uuid" != "$info" ] || { uuid=00000000-0000-0000-0000-000000000000; seqno=-1; }
printf '# GALERA saved state\nversion: 2.1\nuuid:    %s\nseqno:   %s\nsafe_to_bootstrap: 1\n' "$uuid" "$seqno" \
  > /var/lib/mysql/grastate.dat
touch /var/lib/mysql/CLUSTER_MARKER
chown -R mysql:mysql /var/lib/mysql
echo "the backup is in place (data set aside in $aside); Galera position $uuid:$seqno"
""".replace("CLUSTER_MARKER", CLUSTER_MARKER)
_STOP = f"set -eu\ndocker stop -t 60 {CONTAINER} >/dev/null\n"

# Another node, stopped: without Galera's saved state it joins by a full state transfer (its data is
# newer than the backup's, which Galera would otherwise refuse as diverged).
_FORGET_STATE = f"""set -eu
data=$({volume_dir("mariadb")})
rm -f "$data/grastate.dat" "$data/gvwstate.dat" "$data/galera.cache"
echo "Galera state removed on $(hostname): it rejoins by a full state transfer"
"""


def _restore_scripts(container: RenderedContainer, incremental: bool) -> tuple[str, str]:
    skip = {} if incremental else {"SKIP_INCREMENTAL": "1"}
    prepare = _one_shot("mariabackup_prepare", container, _PREPARE, env=skip, user="root")
    copy_back = _one_shot("mariabackup_restore", container, _COPY_BACK, env={}, user="root")
    return f"set -eu\n{prepare}\n", f"{_STOP}{copy_back}\n"


def backup(
    config: StackConfig, plan: DeploymentPlan, kind: str = "full", *, runner: Runner | None = None, log: Log = print
) -> list[str]:
    """Take a backup; the backups in the volume afterwards (`<bytes> <path>`, oldest first)."""
    target = backup_target(plan)
    host = config.inventory.hosts[target.host]
    run = runner or (lambda h, script: run_script(h, script, timeout=3600))
    log(f"{target.host}: taking {'an' if kind == 'incremental' else 'a'} {kind} backup")
    done = run(host, backup_script(target.container, kind))
    if done.returncode != 0:
        raise BackupError(f"{target.host}: the {kind} backup failed: {done.why}")
    return [line.removeprefix("backup: ") for line in done.stdout.splitlines() if line.startswith("backup: ")]


def restore(
    config: StackConfig,
    plan: DeploymentPlan,
    *,
    incremental: bool = True,
    runner: Runner | None = None,
    log: Log = print,
) -> mariadb_recovery.Position:
    """Restore the last full backup (and, with `incremental`, the latest incremental since it) on the
    backup host and start the cluster from it; the position it bootstrapped from."""
    target = backup_target(plan)
    hosts = config.inventory.hosts
    run = runner or (lambda h, script: run_script(h, script, timeout=3600))
    prepare, copy_back = _restore_scripts(target.container, incremental)

    def on(name: str, script: str, what: str) -> str:
        done = run(hosts[name], script)
        if done.returncode != 0:
            raise BackupError(f"{name}: {what} failed: {done.why}")
        return done.stdout

    for line in on(target.host, prepare, "preparing the backup").splitlines():
        if line.startswith(("full backup", "incremental backup")):
            log(f"{target.host}: {line}")
    nodes = [c.host for c in plan.placed(CONTAINER)]
    others = [n for n in nodes if n != target.host]
    # Every node stops before any data changes: none may keep serving what the restore replaces.
    with ThreadPoolExecutor(max_workers=max(len(others), 1)) as pool:
        for stopped in pool.map(lambda n: (n, run(hosts[n], _STOP + _FORGET_STATE)), others):
            if stopped[1].returncode != 0:
                raise BackupError(f"{stopped[0]}: stopping mariadb failed: {stopped[1].why}")
    log(f"{target.host}: {on(target.host, copy_back, 'putting the backup in place').strip().splitlines()[-1]}")
    try:
        return mariadb_recovery.recover(config, plan, host=target.host, runner=runner, log=log, read_others=False)
    except RecoveryError as exc:
        raise BackupError(f"the backup is in place but the cluster did not start: {exc}") from exc
