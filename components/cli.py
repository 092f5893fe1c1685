"""kolla-pulumi: operate a stack of this project with kolla-ansible's verbs and Pulumi's guarantees.

One class per verb; its docstring is the help; it parses nothing itself and delegates to
components.operate.verbs, which maps the verb onto a Pulumi operation.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TextIO

import yaml
from pulumi import automation as auto

from components.config.errors import ConfigError
from components.config.stack import StackConfig
from components.deployment import DeploymentPlan, plan_deployment
from components.operate import verbs
from components.operate.progress import Reporter
from components.operate.promote import Change, PromoteError
from components.operate.workspace import ROOT, open_stack, resolved_config

OK, FAILED, USAGE, PRECHECKS_FAILED, ABORTED, NO_ENGINE = 0, 1, 2, 3, 4, 5

EPILOG = """\
exit codes:
  0  success
  1  the operation failed (the engine reported an error; a post-destroy volume removal failed)
  2  usage or config error: bad arguments, an unknown or missing stack, ConfigError from the stack
     config (its message is printed), unreadable import input, an unknown service name
  3  prechecks failed, or check found a container missing, stopped or unhealthy (the table shows which)
  4  aborted: no confirmation (refused at a prompt, or no terminal to ask on and no --yes)
  5  no `pulumi` engine on PATH
  (2 also: an invalid stack name, a --project-dir that is not a readable Pulumi project)

environment: as for the pulumi CLI. The backend comes from PULUMI_BACKEND_URL or Pulumi.yaml (or
`pulumi login`), the passphrase from PULUMI_CONFIG_PASSPHRASE(_FILE), plugins and credentials from
PULUMI_HOME, the engine (`pulumi`) and plugins from PATH. The stack's config is the project's
Pulumi.<stack>.yaml.
"""


class Aborted(Exception):
    """The user did not confirm."""


class Context:
    """What every verb gets: its arguments, the output, stack opening and confirmation."""

    def __init__(self, args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
        self.args = args
        self.out = out
        self.stdin = stdin
        self.reporter = Reporter.for_args(getattr(args, "json", False), getattr(args, "quiet", False), out)

    def stack(self, name: str | None = None, *, create: bool = False) -> auto.Stack:
        return open_stack(name or self.args.stack, self.args.project_dir, inline=self.args.inline, create=create)

    def plan(self, stack: auto.Stack | None = None) -> tuple[StackConfig, DeploymentPlan]:
        """The stack's config, resolved, and its rendered plan (ConfigError when either is refused)."""
        config = resolved_config(stack or self.stack())
        return config, plan_deployment(config)

    def say(self, line: str) -> None:
        print(line, file=self.out)

    def confirm(self, question: str, *, expected: str = "yes") -> None:
        """Go on only with --yes or a typed `expected` answer on a terminal; raise Aborted otherwise."""
        if getattr(self.args, "yes", False):
            return
        if not self.stdin.isatty():
            raise Aborted(f"{question}: no terminal to confirm on; rerun with --yes")
        print(f"{question} Type '{expected}' to go on: ", end="", file=self.out, flush=True)
        if self.stdin.readline().strip() != expected:
            raise Aborted("not confirmed")


class Verb:
    name: ClassVar[str]
    engine: ClassVar[bool] = True  # runs a Pulumi operation: output options apply

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        pass

    def run(self, ctx: Context) -> int:
        raise NotImplementedError

    @staticmethod
    def report_up(ctx: Context, verb: str, run: Callable[[Callable], Any]) -> int:
        result = run(ctx.reporter.on_event)
        changes = dict(result.summary.resource_changes or {}) if result.summary else {}
        ctx.reporter.result(ctx.reporter.summary(verb, changes))
        return OK


class Genpwd(Verb):
    """Generate every missing password as a stack secret, as kolla-genpwd does: never overwrites an
    existing one; prints only names. --import takes a kolla passwords.yml's non-empty values first
    (the stack's existing secrets win unless --overwrite)."""

    name = "genpwd"
    engine = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--all", action="store_true", help="every key of Kolla's passwords.yml")
        parser.add_argument("--import", dest="import_file", metavar="FILE", help="a kolla passwords.yml")
        parser.add_argument("--overwrite", action="store_true", help="with --import: the file's values win")

    def run(self, ctx: Context) -> int:
        if ctx.args.overwrite and not ctx.args.import_file:
            raise UsageError("--overwrite only applies with --import")
        try:
            result = verbs.genpwd(
                ctx.stack(create=True),
                every_key=ctx.args.all,
                import_file=ctx.args.import_file,
                overwrite=ctx.args.overwrite,
            )
        except (OSError, yaml.YAMLError, ValueError) as exc:
            raise UsageError(f"cannot read {ctx.args.import_file}: {exc}") from exc
        for label, names in (
            ("imported", result.imported),
            ("kept (the stack's own value wins; --overwrite to replace)", result.kept),
            ("skipped (not a Kolla password name)", result.unknown),
        ):
            if names:
                print(f"{label}: {', '.join(names)}", file=ctx.out)
        names = f": {', '.join(result.generated)}" if result.generated else ""
        print(f"generated {len(result.generated)} secret(s){names}", file=ctx.out)
        return OK


class ImportKolla(Verb):
    """Write a kolla-ansible configuration (globals.yml, inventory, passwords.yml) into the stack's
    config: globals and inventory as objects, passwords as secrets. Every key that could not be mapped
    is printed with why; only unreadable input fails."""

    name = "import-kolla"
    engine = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--globals", required=True, metavar="G", help="kolla's globals.yml")
        parser.add_argument("--inventory", required=True, metavar="I", help="kolla's inventory (INI or YAML)")
        parser.add_argument("--passwords", required=True, metavar="P", help="kolla's passwords.yml")

    def run(self, ctx: Context) -> int:
        stack = ctx.stack(create=True)
        try:
            imported = verbs.import_kolla(stack, ctx.args.globals, ctx.args.inventory, ctx.args.passwords)
        except (OSError, yaml.YAMLError, ValueError) as exc:
            raise UsageError(f"cannot read the kolla configuration: {exc}") from exc
        config = imported.config
        print(
            f"wrote globals ({len(config.get('globals') or {})} keys), "
            f"inventory ({len((config.get('inventory') or {}).get('hosts') or {})} hosts), "
            f"passwords ({len(config.get('passwords') or {})} secrets) into stack {stack.name}",
            file=ctx.out,
        )
        for item in imported.unmapped:
            print(f"unmapped: {item}", file=ctx.out)
        return OK


class BootstrapServers(Verb):
    """Prepare the hosts (kolla-ansible bootstrap-servers): `up` of each host's bootstrap commands only
    (Docker present, daemon.json, /etc/kolla, sysctls, /etc/hosts); no image, no container."""

    name = "bootstrap-servers"

    def run(self, ctx: Context) -> int:
        stack = ctx.stack()
        return self.report_up(ctx, self.name, lambda on_event: verbs.bootstrap_servers(stack, on_event))


class Pull(Verb):
    """Pull the images on every host (kolla-ansible pull): `up` of the docker RemoteImage resources only.
    The hosts must be bootstrapped first."""

    name = "pull"

    def run(self, ctx: Context) -> int:
        stack = ctx.stack()
        return self.report_up(ctx, self.name, lambda on_event: verbs.pull(stack, on_event))


class Deploy(Verb):
    """Deploy everything (kolla-ansible deploy): `up`. First, as kolla-ansible's deploy does, the
    containers that exist but are stopped (by `stop`, say) are started again over the pinned SSH, a
    Galera cluster stopped on every node recovered first, and waited for until healthy. --refresh reads
    the hosts' real state before the `up`, so containers removed or changed by hand are put back."""

    name = "deploy"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--refresh", action="store_true", help="refresh the state from the hosts first")

    def run(self, ctx: Context) -> int:
        from components.operate import stopping

        stack = ctx.stack()
        stopping.start_stopped(*ctx.plan(stack), log=ctx.reporter.info)
        return self.report_up(ctx, self.name, lambda e: verbs.deploy(stack, refresh=ctx.args.refresh, on_event=e))


class Stop(Verb):
    """Stop the containers (kolla-ansible stop), without Pulumi: over the pinned SSH, every planned
    container (or --service's, --host's), on each host in the reverse of the deploy order. The state
    keeps them: `deploy` starts them again (a bare `pulumi up` does not look at the hosts). Asks for the
    stack's name on a terminal; without one, refuses unless --yes."""

    name = "stop"
    engine = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--service", action="append", default=[], metavar="S", help="repeatable")
        parser.add_argument("--host", action="append", default=[], metavar="H", help="repeatable")
        parser.add_argument("--yes", action="store_true", help="do not ask")

    def run(self, ctx: Context) -> int:
        from components.operate import stopping

        stack = ctx.stack()
        config, plan = ctx.plan(stack)
        chosen = stopping.planned(plan, ctx.args.service, ctx.args.host)
        count = sum(len(names) for names in chosen.values())
        what = f"{count} containers on {', '.join(chosen)}"
        ctx.confirm(f"Stop {what} of stack '{stack.name}'?", expected=verbs.short_name(stack))
        rows = stopping.stop(config, plan, services=ctx.args.service, hosts=ctx.args.host, log=ctx.say)
        if ctx.args.json:
            for row in rows:
                print(json.dumps(vars(row), sort_keys=True), file=ctx.out)
        else:
            print(stopping.table(rows), file=ctx.out)
        return OK


class Reconfigure(Verb):
    """Apply config changes of some services only (kolla-ansible reconfigure --tags): `up` targeting
    those services' config files, jobs and containers (and the images they use); without --service,
    every service (a whole `up`). Only containers whose files changed are replaced."""

    name = "reconfigure"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--service", action="append", default=[], metavar="S", help="repeatable")

    def run(self, ctx: Context) -> int:
        stack = ctx.stack()
        if not ctx.args.service:
            return self.report_up(ctx, self.name, lambda e: verbs.deploy(stack, on_event=e))
        _, plan = ctx.plan(stack)
        verbs.check_services(ctx.args.service, plan)
        ctx.reporter.info(f"finding the resources of {', '.join(ctx.args.service)} (a preview)...")
        return self.report_up(ctx, self.name, lambda e: verbs.reconfigure(stack, ctx.args.service, plan, e))


class DeployContainers(Verb):
    """Deploy the containers only (kolla-ansible deploy-containers): `up` targeting every service's
    containers, the gates and load-balancer drains around them and the images; no config file is
    written and no job (bootstrap, db sync, registration) runs. For an image or container option
    change; a config change needs `deploy` or `reconfigure`."""

    name = "deploy-containers"

    def run(self, ctx: Context) -> int:
        stack = ctx.stack()
        _, plan = ctx.plan(stack)
        ctx.reporter.info("finding the containers (a preview)...")
        return self.report_up(ctx, self.name, lambda e: verbs.deploy_containers(stack, plan, e))


class Upgrade(Verb):
    """Upgrade to another release or image tag (kolla-ansible upgrade). Put the change in the stack
    config first (globals openstack_release / openstack_tag / openstack_tag_suffix, or use `promote`),
    then `upgrade` applies it: `up` with refresh; new images are pulled, the containers using them
    replaced and their bootstrap jobs (db sync) run again."""

    name = "upgrade"

    def run(self, ctx: Context) -> int:
        stack = ctx.stack()
        return self.report_up(ctx, self.name, lambda on_event: verbs.upgrade(stack, on_event))


class Preview(Verb):
    """Show what deploy would change, without changing anything: `preview` (--diff: property by
    property), then, for each service whose containers would be replaced, the order in which its hosts
    are: one batch after the other, each serving again before the next is touched."""

    name = "preview"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--diff", action="store_true", help="show each changed property")

    def run(self, ctx: Context) -> int:
        stack = ctx.stack()
        _, plan = ctx.plan(stack)
        reporter = ctx.reporter
        text = reporter.info if reporter.mode in ("live", "lines") else None
        events: list[auto.EngineEvent] = []

        def on_event(event: auto.EngineEvent) -> None:
            events.append(event)
            if reporter.mode == "json":
                reporter.on_event(event)

        result = verbs.preview(stack, diff=ctx.args.diff, on_event=on_event, on_output=text)
        reporter.result(reporter.summary(self.name, dict(result.change_summary)))
        order = verbs.replacement_order(plan, verbs.replaced_names(events))
        if order and reporter.mode != "json":
            reporter.result("replacement order (a batch of hosts at a time, each serving again before the next):")
            for line in verbs.describe_order(order):
                reporter.result(f"  {line}")
        return OK


class PostDeploy(Verb):
    """Write admin-openrc.sh and clouds.yaml (kolla-ansible post-deploy) from the stack's secret outputs,
    mode 0600 from the moment they exist."""

    name = "post-deploy"
    engine = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--dir", default=".", metavar="D", help="where to write them (default: .)")

    def run(self, ctx: Context) -> int:
        for path in verbs.post_deploy(ctx.stack(), ctx.args.dir):
            print(f"wrote {path} (0600)", file=ctx.out)
        return OK


class Destroy(Verb):
    """Remove every container, file and job of the stack (kolla-ansible destroy): `destroy`. Named
    volumes (data) are kept unless --include-volumes, which then removes exactly the volumes the state
    recorded, on their hosts, over the same pinned SSH as the program. Asks for the stack's name on a
    terminal; without a terminal, refuses unless --yes."""

    name = "destroy"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--yes", action="store_true", help="do not ask")
        parser.add_argument("--include-volumes", action="store_true", help="also remove the named volumes")

    def run(self, ctx: Context) -> int:
        stack = ctx.stack()
        config = resolved_config(stack) if ctx.args.include_volumes else None
        what = "every resource and the named volumes (data)" if config else "every resource (volumes are kept)"
        ctx.confirm(f"Destroy {what} of stack '{stack.name}'?", expected=verbs.short_name(stack))
        outcome = verbs.destroy(
            stack, include_volumes=ctx.args.include_volumes, config=config, on_event=ctx.reporter.on_event
        )
        changes = dict(outcome.result.summary.resource_changes or {}) if outcome.result.summary else {}
        ctx.reporter.result(ctx.reporter.summary(self.name, changes))
        for host, names in outcome.volumes.items():
            if host in outcome.volume_errors:
                ctx.reporter.error(f"{host}: volumes not removed ({', '.join(names)}): {outcome.volume_errors[host]}")
            else:
                ctx.reporter.result(f"{host}: removed volumes {', '.join(names)}")
        return FAILED if outcome.volume_errors else OK


class Prechecks(Verb):
    """Check the hosts before deploying (kolla-ansible prechecks), without Pulumi: per inventory host,
    over the program's pinned SSH: reachable, Docker answers, the planned containers' ports free (or
    held by our containers), /dev/kvm on compute hosts (with nova_compute_virt_type kvm, its absence
    fails and `nova_compute_virt_type: qemu` is proposed). Exit 3 when a check fails."""

    name = "prechecks"
    engine = False

    def run(self, ctx: Context) -> int:
        from components.operate import prechecks

        return _checked_rows(ctx, prechecks.run_prechecks(*ctx.plan()), prechecks.table)


def _checked_rows(
    ctx: Context,
    rows: Sequence[Any],
    table: Callable[[list[Any]], str],
    judge: Callable[[Any], bool] = lambda row: row.ok,
) -> int:
    """Rows judged by `judge` (their `ok` by default) as a table, or as JSON lines (the verdict as `ok`)
    with --json; exit 3 when one is not ok."""
    judged = [(row, judge(row)) for row in rows]
    if ctx.args.json:
        for row, ok in judged:
            print(json.dumps({**vars(row), "ok": ok}, sort_keys=True), file=ctx.out)
    else:
        print(table(list(rows)), file=ctx.out)
    return OK if all(ok for _, ok in judged) else PRECHECKS_FAILED


class PruneImages(Verb):
    """Remove orphaned Kolla images (kolla-ansible prune-images), without Pulumi: over the pinned SSH,
    on every inventory host, the images labelled kolla_version that no tag names any more. --all: also
    every Kolla image no container uses (an older release's after an upgrade). An image a container
    uses is never removed. Asks on a terminal; without one, refuses unless --yes."""

    name = "prune-images"
    engine = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--all", action="store_true", help="also tagged Kolla images no container uses")
        parser.add_argument("--yes", action="store_true", help="do not ask")

    def run(self, ctx: Context) -> int:
        from components.operate.prune_images import prune_images

        stack = ctx.stack()
        config = resolved_config(stack)
        what = "every Kolla image no container uses" if ctx.args.all else "orphaned (untagged) Kolla images"
        ctx.confirm(f"Remove {what} on {', '.join(config.inventory.hosts)}?")
        for row in prune_images(config, every_unused=ctx.args.all):
            print(f"{row.host}: {row.removed} image layers removed, {row.reclaimed} reclaimed", file=ctx.out)
        return OK


class RabbitmqResetState(Verb):
    """Force RabbitMQ's state back to a fresh node's (kolla-ansible rabbitmq-reset-state), without
    Pulumi: over the pinned SSH, rabbitmqctl stop_app, force_reset, start_app on every rabbitmq host,
    each step everywhere before the next, then wait until every node is online. Queues and their
    messages are lost; users, vhosts and policies come back from Kolla's definitions.json. Asks on a
    terminal; without one, refuses unless --yes."""

    name = "rabbitmq-reset-state"
    engine = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--yes", action="store_true", help="do not ask")

    def run(self, ctx: Context) -> int:
        from components.operate import rabbitmq_reset

        stack = ctx.stack()
        config, plan = ctx.plan(stack)
        hosts = rabbitmq_reset.rabbitmq_hosts(plan)
        ctx.confirm(f"Reset RabbitMQ on {', '.join(hosts)} of stack '{stack.name}' (every queue is lost)?")
        rabbitmq_reset.reset_state(config, plan, log=ctx.say)
        return OK


class Check(Verb):
    """Check every planned container on its host (kolla-ansible check), without Pulumi: over the
    pinned SSH, its state and healthcheck status, and whether its config directory is as kolla-pulumi
    wrote it, as a table. Exit 3 when one is missing, not running or unhealthy, or its config directory
    was changed by hand (`deploy` writes it back)."""

    name = "check"
    engine = False

    def run(self, ctx: Context) -> int:
        from components.operate import health

        return _checked_rows(ctx, health.check(*ctx.plan()), health.table, lambda row: row.sound)


class Genconfig(Verb):
    """Render every host's files into a directory without touching a host (kolla-ansible genconfig):
    <dir>/<host>/<container>/<file>, as the hosts hold them under /etc/kolla/<container>/. They hold
    passwords: directories 0700, files 0600. The operator's diff before a change."""

    name = "genconfig"
    engine = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--dir", required=True, type=Path, help="where to write (created if missing)")

    def run(self, ctx: Context) -> int:
        from components.operate.genconfig import genconfig

        _, plan = ctx.plan()
        written = genconfig(plan, ctx.args.dir)
        hosts = len({p.relative_to(ctx.args.dir).parts[0] for p in written})
        print(f"wrote {len(written)} files for {hosts} host(s) under {ctx.args.dir}", file=ctx.out)
        return OK


class InitRunonce(Verb):
    """Make a fresh cloud usable (kolla-ansible's init-runonce): the cirros image, demo-net with
    demo-subnet and demo-router, the external network public1 (flat, physnet1), ping/ssh/heat-cfn rules
    in the admin project's default security group, the keypair mykey, quotas for 40 m1.small servers
    and the m1/m2 flavors. Runs in kolla_toolbox on a control host with the stack's admin credentials,
    over the pinned SSH. Kolla's environment variables apply (CIRROS_RELEASE, IMAGE_URL, IP_VERSION,
    DEMO_NET_CIDR, DEMO_NET_GATEWAY, DEMO_NET_DNS, ENABLE_EXT_NET, EXT_NET_CIDR, EXT_NET_RANGE,
    EXT_NET_GATEWAY, EXT_NET_DEMO_ROUTER_ADDR). Each thing is made only when missing: a second run
    changes nothing and says so. The image file is needed only when the image is missing: --image-file,
    else cirros-<release>-<arch>-disk.img in /opt/cache/files or here, else downloaded from IMAGE_URL."""

    name = "init-runonce"
    engine = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--image-file", type=Path, metavar="F", help="the image to upload as `cirros`")
        parser.add_argument("--image-disk-format", metavar="FMT", help="default: qcow2 if the file is, else raw")
        key_help = "mykey's public key (default ~/.ssh/id_ecdsa.pub, generated if missing)"
        parser.add_argument("--public-key", type=Path, metavar="K", help=key_help)

    def run(self, ctx: Context) -> int:
        from components.operate import init_runonce as runonce

        overrides = {"image_file": ctx.args.image_file, "image_disk_format": ctx.args.image_disk_format}
        settings = runonce.settings_from(os.environ, **overrides, public_key=ctx.args.public_key)
        reports = runonce.init_runonce(*ctx.plan(), settings, log=ctx.say)
        for report in reports:
            print(runonce.describe(report), file=ctx.out)
        made = [r for r in reports if r["done"] in ("created", "set")]
        differing = [r for r in reports if r["done"].startswith("differs")]
        if made:
            print(f"init-runonce: {len(made)} created or set, {len(reports) - len(made)} already there", file=ctx.out)
        else:
            print(f"nothing to do: the {len(reports)} things init-runonce makes are all there", file=ctx.out)
        if differing:
            print(f"{len(differing)} found but not as init-runonce makes them (left alone)", file=ctx.out)
        print(runonce.next_steps(), file=ctx.out)
        return OK


class MariadbRecovery(Verb):
    """Start the Galera cluster again after every node stopped (kolla-ansible mariadb_recovery), without
    Pulumi: over the pinned SSH, each mariadb host's position is read (grastate.dat's seqno, or
    --wsrep-recover's), the most recent one (or --host) bootstraps a new primary component, the others'
    containers start again and rejoin one at a time, each waited for until Synced. Containers are
    started, never re-created: a deploy afterwards changes nothing."""

    name = "mariadb-recovery"
    engine = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--host", metavar="H", help="bootstrap from this host instead of the most recent one")

    def run(self, ctx: Context) -> int:
        from components.operate import mariadb_recovery

        try:
            mariadb_recovery.recover(*ctx.plan(), host=ctx.args.host, log=ctx.say)
        except mariadb_recovery.RecoveryError as exc:
            ctx.reporter.error(str(exc))
            return FAILED
        return OK


class MariadbBackup(Verb):
    """Back MariaDB up (kolla-ansible mariadb_backup; needs enable_mariabackup and a deploy): on the
    backup host, Kolla's one-shot mariabackup container takes a full backup, or with --incremental one
    against the last full, into the mariadb_backup volume; then lists the backups there."""

    name = "mariadb-backup"
    engine = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        kinds = parser.add_mutually_exclusive_group()
        kinds.add_argument("--full", action="store_true", help="a full backup (the default)")
        kinds.add_argument("--incremental", action="store_true", help="changes since the last full backup")

    def run(self, ctx: Context) -> int:
        from components.operate import mariadb_backup

        kind = "incremental" if ctx.args.incremental else "full"
        try:
            backups = mariadb_backup.backup(*ctx.plan(), kind, log=ctx.say)
        except mariadb_backup.BackupError as exc:
            ctx.reporter.error(str(exc))
            return FAILED
        print(f"{kind} backup taken; the mariadb_backup volume holds (bytes, path):", file=ctx.out)
        for line in backups:
            print(f"  {line}", file=ctx.out)
        return OK


class MariadbRestore(Verb):
    """Restore MariaDB from the mariadb_backup volume, as Kolla's guide does by hand: the last full
    backup prepared with the latest incremental since it (--full-only: without), every node stopped,
    the backup host's data set aside in the volume and replaced, the cluster started from it and the
    other nodes rejoined by a full state transfer. Everything written since the backup is lost. Asks on a
    terminal; without one, refuses unless --yes."""

    name = "mariadb-restore"
    engine = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--full-only", action="store_true", help="ignore incremental backups")
        parser.add_argument("--yes", action="store_true", help="do not ask")

    def run(self, ctx: Context) -> int:
        from components.operate import mariadb_backup

        stack = ctx.stack()
        config, plan = ctx.plan(stack)
        ctx.confirm(
            f"Restore every database of stack '{stack.name}' from its last backup (what was written since is lost)?"
        )
        try:
            chosen = mariadb_backup.restore(config, plan, incremental=not ctx.args.full_only, log=ctx.say)
        except mariadb_backup.BackupError as exc:
            ctx.reporter.error(str(exc))
            return FAILED
        print(f"restored on {chosen.host}; the cluster runs from the backup", file=ctx.out)
        return OK


class Promote(Verb):
    """Promote a release from one stack to the next: copy the pinned release and image keys
    (openstack_release, openstack_tag, openstack_tag_suffix, kolla_base_distro(_version),
    docker_registry, docker_namespace) and the globals keys listed in the source stack's
    `kolla-pulumi-cli:promotable` config (a list) into the target's globals. Shows the diff, applies
    on confirmation (or --yes). Never copies passwords or inventory. Then `upgrade` the target."""

    name = "promote"
    engine = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--from", dest="source", required=True, metavar="STACK")
        parser.add_argument("--to", dest="target", required=True, metavar="STACK")
        parser.add_argument("--yes", action="store_true", help="do not ask")

    def run(self, ctx: Context) -> int:
        if ctx.args.source == ctx.args.target:
            raise UsageError("--from and --to name the same stack")
        source, target = ctx.stack(ctx.args.source), ctx.stack(ctx.args.target)

        def confirm(changes: list[Change]) -> bool:
            print(f"globals of stack '{ctx.args.target}':", file=ctx.out)
            for change in changes:
                print(f"  {change}", file=ctx.out)
            ctx.confirm(f"Apply {len(changes)} change(s) to '{ctx.args.target}'?")
            return True

        changes, applied = verbs.promote(source, target, confirm=confirm)
        if not changes:
            print(f"'{ctx.args.target}' already has the promoted keys of '{ctx.args.source}'", file=ctx.out)
        elif applied:
            print(f"applied; run `kolla-pulumi upgrade --stack {ctx.args.target}`", file=ctx.out)
        return OK


VERBS: tuple[type[Verb], ...] = (
    Genpwd,
    ImportKolla,
    Prechecks,
    BootstrapServers,
    Pull,
    Deploy,
    Reconfigure,
    DeployContainers,
    Upgrade,
    Preview,
    PostDeploy,
    Destroy,
    Stop,
    PruneImages,
    RabbitmqResetState,
    Check,
    Genconfig,
    InitRunonce,
    MariadbRecovery,
    MariadbBackup,
    MariadbRestore,
    Promote,
)


class UsageError(Exception):
    """Bad arguments found after parsing."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; say so explicitly
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(USAGE)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--stack", metavar="S", help="the stack (Pulumi.<S>.yaml)")
    common.add_argument("--project-dir", default=str(ROOT), type=Path, help="the project (default: this checkout)")
    common.add_argument("--inline", action="store_true", help="run the program in this process (no language host)")
    common.add_argument("--json", action="store_true", help="engine events as JSON, one per line")
    common.add_argument("--quiet", action="store_true", help="only the final summary and errors")
    parser = _Parser(
        prog="kolla-pulumi",
        description=__doc__.split("\n\n")[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=_Parser)
    for verb_class in VERBS:
        verb = verb_class()
        doc = inspect.cleandoc(verb_class.__doc__ or "")
        # The list of verbs shows each docstring's first clause.
        help_line = re.split(r"\.\s|: ", doc, maxsplit=1)[0].replace("\n", " ").rstrip(".")
        child = sub.add_parser(
            verb.name,
            parents=[common],
            help=help_line,
            description=doc,
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        verb.add_arguments(child)
        child.set_defaults(verb_object=verb)
    return parser


# Pulumi's stack names: a name, or org/name, or org/project/name, of letters, digits, '-', '_', '.'.
_STACK_NAME = re.compile(r"(?:[A-Za-z0-9_.\-]+/){0,2}[A-Za-z0-9_.\-]+")


def _refused_before_start(args: argparse.Namespace) -> tuple[int, str] | None:
    """What makes any verb fail before it starts, as (exit code, message)."""
    for option, name in (
        ("--stack", args.stack),
        ("--from", getattr(args, "source", None)),
        ("--to", getattr(args, "target", None)),
    ):
        if name is not None and not _STACK_NAME.fullmatch(name):
            return (
                USAGE,
                f"{option} {name!r}: expected a stack name (letters, digits, '-', '_', '.'; "
                "org/ and project/ prefixes allowed)",
            )
    project = Path(args.project_dir)
    settings = project / "Pulumi.yaml"
    if not project.is_dir() or not settings.is_file() or not os.access(settings, os.R_OK):
        return USAGE, f"--project-dir {project}: expected a readable Pulumi project directory (with its Pulumi.yaml)"
    if shutil.which("pulumi") is None:
        return (
            NO_ENGINE,
            "no `pulumi` engine on PATH: install the Pulumi CLI and put it on PATH "
            "(`bash .ci/setup` builds one into ~/.cache/kolla-pulumi/engine)",
        )
    return None


def _engine_error(exc: auto.CommandError) -> tuple[int, str]:
    text = str(exc)
    if "invalid stack config" in text:
        start = text.index("invalid stack config")
        return USAGE, text[start:].split("\n\n")[0]
    lines = [line for line in text.splitlines() if line.strip()]
    tail = "\n".join(lines[-12:])
    if "was not specified in the target list" in text or "untargeted create" in text:
        tail += "\nhint: this verb touches only part of the stack; run `deploy` (or bootstrap-servers) first"
    return FAILED, tail


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, stdin: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    verb: Verb = args.verb_object
    if args.json and args.quiet:
        print("kolla-pulumi: error: --json and --quiet exclude each other", file=sys.stderr)
        return USAGE
    if not args.stack and verb.name != "promote":
        print(f"kolla-pulumi {verb.name}: error: --stack is required", file=sys.stderr)
        return USAGE
    refused = _refused_before_start(args)
    if refused:
        code, message = refused
        print(f"kolla-pulumi {verb.name}: error: {message}", file=sys.stderr)
        return code
    ctx = Context(args, out, stdin or sys.stdin)
    try:
        return verb.run(ctx)
    except Aborted as exc:
        ctx.reporter.error(f"aborted: {exc}")
        return ABORTED
    except (ConfigError, verbs.OperateError, PromoteError, UsageError) as exc:
        ctx.reporter.error(str(exc))
        return USAGE
    except auto.StackNotFoundError as exc:
        ctx.reporter.error(f"stack not found: {exc}")
        return USAGE
    except auto.CommandError as exc:
        code, message = _engine_error(exc)
        ctx.reporter.error(message)
        return code
    except OSError as exc:  # a file or program the verb needed went away meanwhile
        ctx.reporter.error(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
        return FAILED


if __name__ == "__main__":
    sys.exit(main())
