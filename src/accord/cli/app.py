"""``accord``: the command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from accord import config as config_module
from accord.cli import exact, profiles, push, render, schedule, serve, users, worker
from accord.cli.options import ConfigOption, GlobalConfigOption
from accord.cli.sandbox import sandbox_app
from accord.clock import local_moment, local_zone_name, zone_named
from accord.config import DEFAULT_CONFIG, Config, HubConfig, SystemConfig
from accord.errors import AccordError, ConfigError
from accord.service import queries, sync_many
from accord.service import sync as sync_service
from accord.service.systems import open_hub

app = typer.Typer(
    help="Accord: customer master data kept in step across your systems.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)

app.add_typer(sandbox_app, name="sandbox")
schedule.register(app)  # pause, resume, scheduler
worker.register(app)  # worker (PostgreSQL hub)
serve.register(app)  # serve
users.register(app)  # user add, token create
push.register(app)  # push contact, nightly
exact.register(app)  # connect exact, exact ..., show
profiles.register(app)  # profile list, show, new, edit, save-as, run


@app.callback()
def _options(config: GlobalConfigOption = None) -> None:
    """Options before the command: ``accord -c /srv/client/accord.toml status``."""
    # Nothing to do here: each command's --config reads this one when not given itself.


FullOption = Annotated[
    bool,
    typer.Option("--full", help="read every record again, not only the changes since the last run"),
]


def _load(path: Path) -> Config:
    return config_module.load(path)


@app.command()
def init(
    config: ConfigOption = DEFAULT_CONFIG,
    erp_url: Annotated[
        str | None, typer.Option(help="add an Exo-shaped ERP database at this URL")
    ] = None,
    time_zone: Annotated[
        str | None,
        typer.Option(
            help="the business's time zone: the ERP's stamps, the shop's days"
            " (default: this machine's)"
        ),
    ] = None,
) -> None:
    """Create a configuration and an empty hub database (SQLite in .accord/ by default)."""
    if config.exists():
        raise AccordError(f"{config} already exists; edit it or remove it first")
    # Exo stamps rows in its server's local time, usually this machine's zone; the shop's
    # days are the business's days.
    zone = time_zone or local_zone_name()
    zone_named(zone)  # an unknown name is refused here, with the setting named
    settings = Config(hub=_hub_settings(zone))
    if erp_url:
        if config_module.carries_password(erp_url):
            raise ConfigError(
                "the ERP URL carries a password, which would be written to the configuration"
                " file: run `accord init` without --erp-url, then set url_env in the file to"
                " an environment variable that holds the URL"
            )
        settings.systems["erp"] = SystemConfig(
            kind="sql", preset="exo", url=erp_url, time_zone=zone
        )
    config.parent.mkdir(parents=True, exist_ok=True)
    config_module.save(settings, config)
    # The hub the file names, its SQLite path taken from the file's folder as every later
    # command takes it (the store makes the folder).
    settings = config_module.load(config)
    open_hub(settings).close()
    shown = config_module.shown_url(settings.hub.resolved_url())
    console.print(f"wrote {config}; hub database ready at {shown}")
    if not settings.hub.database:
        console.print(
            f"the hub is the database {settings.hub.database_env} names, as {config} says:"
            " set it wherever accord runs (shells, cron jobs, services)"
        )
    console.print(f"time zone {zone} (time_zone): the shop's days and the ERP's stamps")


def _hub_settings(zone: str) -> HubConfig:
    """The hub init records: the environment's, when its variable is set now. The file
    then names the variable, not a SQLite file a run without the variable would open
    empty (the URL itself may carry a password, which never goes in the file)."""
    variable = HubConfig().database_env
    if variable and os.environ.get(variable):
        return HubConfig(database="", database_env=variable, time_zone=zone)
    return HubConfig(time_zone=zone)


@app.command()
def plan(
    system: Annotated[
        list[str] | None, typer.Argument(help="systems (default: all enabled)")
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    details: Annotated[int, typer.Option(help="field-level changes to show per system")] = 20,
    full: FullOption = False,
) -> None:
    """Dry run: what a sync would create, update and deactivate, field by field. Writes nothing."""
    settings = _load(config)
    for name in sync_service.enabled_systems(settings, system or []):
        result = sync_service.run(settings, name, dry_run=True, full_read=full)
        render.plan_summary(console, result, f"plan for {name} (dry run: nothing written)")
        render.plan_details(console, result, details)


@app.command()
def sync(
    system: Annotated[
        list[str] | None, typer.Argument(help="systems (default: all enabled)")
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    pull_only: Annotated[
        bool, typer.Option("--pull-only", help="only bring changes into the hub")
    ] = False,
    push_only: Annotated[
        bool, typer.Option("--push-only", help="only send hub changes out")
    ] = False,
    one_at_a_time: Annotated[
        bool,
        typer.Option("--one-at-a-time", help="sync the systems one after another, not all at once"),
    ] = False,
    full: FullOption = False,
) -> None:
    """Sync the hub with each enabled system: pull, merge, push.

    Several systems sync at once, one process each: each system's push sends on what the
    others' pulls bring in, as they bring it in. ``--full`` reads every record of each
    system again (after restoring a backup, or edits made without moving the rows'
    modified times); only what differs is written.
    """
    settings = _load(config)
    names = sync_service.enabled_systems(settings, system or [])
    if len(names) > 1 and not one_at_a_time:
        _sync_together(settings, names, pull=not push_only, push=not pull_only, full_read=full)
        return
    for name in names:
        # Not while the scheduler or a worker runs the same link: the run holds its lock.
        with render.progress() as bar:
            result = sync_service.run(
                settings,
                name,
                progress=render.progress_reporter(bar, name),
                pull=not push_only,
                push=not pull_only,
                full_read=full,
            )
        render.plan_summary(console, result, f"synced {name}")


def _sync_together(
    settings: Config, names: list[str], *, pull: bool, push: bool, full_read: bool
) -> None:
    with render.progress() as bar:
        reporters = {name: render.progress_reporter(bar, name) for name in names}
        outcomes = sync_many.run_many(
            settings,
            names,
            pull=pull,
            push=push,
            progress=lambda name, *step: reporters[name](*step),
            full_read=full_read,
        )
    for outcome in outcomes:
        if outcome.plan is not None:
            render.plan_summary(console, outcome.plan, f"synced {outcome.system}")
        else:
            err.print(f"[red]error:[/red] {outcome.system}: {outcome.error}")
    if any(outcome.plan is None for outcome in outcomes):
        sys.exit(2)


@app.command()
def status(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Records in the hub and, per system, its last run, schedule, conflicts and errors."""
    settings = _load(config)
    zone = settings.hub.time_zone
    store = open_hub(settings)
    try:
        totals, systems = queries.status(store, settings)
    finally:
        store.close()
    held = ", ".join(f"{n:,} {e}" for e, n in sorted(totals.items()))
    console.print(f"hub: {held or 'empty'}")
    rows = []
    for s in systems:
        run = s.last_run
        when = local_moment(run.finished_at or run.started_at, zone) if run else ""
        last = f"#{run.id} {run.status} {when}" if run else "never"
        rows.append(
            [
                s.name,
                s.sync + (" (paused)" if s.paused else ""),
                f"push {s.schedule_push} / pull {s.schedule_pull}",
                last,
                schedule.next_runs(s),
                "sync off"
                if s.sync == "off"
                else schedule.lag_text(s.lag_seconds, s.pending_changes),
                s.linked,
                s.open_conflicts,
                s.open_errors,
            ]
        )
    console.print(
        render.rows_table(
            "systems",
            [
                "system",
                "sync",
                "schedule",
                "last run",
                "next run",
                "lag",
                "linked",
                "open conflicts",
                "open errors",
            ],
            rows,
        )
    )
    console.print(_zone_caption(zone))


def _zone_caption(zone: str) -> str:
    return f"[dim]Times shown in {zone} time.[/dim]"


@app.command()
def conflicts(
    config: ConfigOption = DEFAULT_CONFIG,
    all_: Annotated[bool, typer.Option("--all", help="also conflicts resolved by policy")] = False,
) -> None:
    """Conflicts held for review (and, with --all, those a policy resolved)."""
    store = open_hub(_load(config))
    try:
        found = queries.recent_conflicts(store, 200) if all_ else queries.open_conflicts(store)
    finally:
        store.close()
    rows = [
        [
            c.id,
            c.system,
            c.entity,
            c.record_id,
            c.field,
            c.hub_value,
            c.system_value,
            c.winner or "held",
            c.reason,
        ]
        for c in found
    ]
    console.print(
        render.rows_table(
            "conflicts",
            ["#", "system", "entity", "record", "field", "hub", "system value", "winner", "why"],
            rows,
        )
    )


@app.command()
def errors(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Open errors: the record, the field and the reason. They are retried on every run."""
    store = open_hub(_load(config))
    try:
        found = queries.open_errors(store)
    finally:
        store.close()
    rows = [
        [
            e.id,
            e.system,
            e.entity,
            e.direction,
            e.record_id or e.external_id,
            e.field or "",
            e.message,
            e.attempts,
        ]
        for e in found
    ]
    console.print(
        render.rows_table(
            "open errors",
            ["#", "system", "entity", "direction", "record", "field", "reason", "attempts"],
            rows,
        )
    )


@app.command()
def history(
    record: Annotated[str, typer.Argument(help="hub id, or system:entity:key")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Every change to a record: field, old value, new value, where from, run, time."""
    settings = _load(config)
    store = open_hub(settings)
    try:
        record_id = queries.find_record(store, record)
        current, changes = queries.history(store, record_id)
    finally:
        store.close()
    label = current.data if current else {}
    console.print(f"record {record_id}: {label}")
    zone = settings.hub.time_zone
    rows = [
        [
            local_moment(c.at, zone, seconds=True),
            c.kind,
            c.field,
            c.old,
            c.new,
            c.system,
            c.run_id or "",
        ]
        for c in changes
    ]
    console.print(
        render.rows_table("history", ["time", "kind", "field", "old", "new", "from", "run"], rows)
    )
    console.print(_zone_caption(zone))


@app.command()
def undo(
    run: Annotated[
        int, typer.Argument(help="the run whose hub changes to undo (see `accord status`)")
    ],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Put back what a sync run overwrote in the hub; the next sync sends it out again."""
    from accord.service.records import undo_run

    store = open_hub(_load(config))
    try:
        reverted, skipped = undo_run(store, run)
    finally:
        store.close()
    console.print(f"reverted {reverted} field(s) changed by run {run}")
    for line in skipped:
        console.print(f"  [yellow]kept[/yellow] {line}")


@app.command()
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="where the demo keeps its databases")
    ] = Path(".accord/demo"),
    customers: int = 2000,
    contacts: int = 5000,
) -> None:
    """Build a sandbox ERP, plan, sync, edit both sides, sync again, and explain what happened."""
    from accord.cli.demo import run_demo

    run_demo(console, directory, customers, contacts)


def main() -> None:
    try:
        app()
    except AccordError as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(2)
    except SQLAlchemyError as exc:
        # The hub (or a system's database) cannot be reached or read: say so, no traceback.
        # The driver's first line names the problem; statements and parameters stay out.
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        err.print(f"[red]database error:[/red] {first}")
        sys.exit(2)
