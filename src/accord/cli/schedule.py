"""`accord pause`, `accord resume` and `accord scheduler`: running syncs on their schedules."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console

from accord import config as config_module
from accord.cli.options import ConfigOption
from accord.config import DEFAULT_CONFIG, IMMEDIATE
from accord.jobs import logs, state
from accord.service.queries import SystemStatus
from accord.service.systems import open_hub

console = Console()
SystemArgument = Annotated[
    str, typer.Argument(help="the system (link) as named in the configuration")
]


def pause(system: SystemArgument, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Pause a link: the scheduler and workers start no runs of it until it is resumed."""
    _set_paused(config, system, True)
    console.print(f"paused {system}: a run in progress finishes; no new runs start")


def resume(system: SystemArgument, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Resume a paused link: its schedule applies again from the next check."""
    _set_paused(config, system, False)
    console.print(f"resumed {system}")


def _set_paused(path: Path, system: str, paused: bool) -> None:
    settings = config_module.load(path)
    settings.system(system)  # refuse unknown names
    store = open_hub(settings)
    try:
        state.set_paused(store, system, paused)
    finally:
        store.close()


def scheduler(
    config: ConfigOption = DEFAULT_CONFIG,
    poll: Annotated[float, typer.Option(help="seconds between checks of what is due")] = 0.5,
    shutdown_timeout: Annotated[
        float, typer.Option(help="seconds to wait for running batches on SIGTERM")
    ] = 60.0,
) -> None:
    """Run every enabled link on its schedule in this process, without the web app.

    SIGTERM or Ctrl-C stops it gracefully: a running sync finishes its current batch.
    """
    from accord.jobs.inline import InlineScheduler

    logs.configure(stdlib_level=logging.WARNING)
    settings = config_module.load(config)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runner = InlineScheduler(settings, poll=poll)
    runner.start()
    while not stop.wait(1.0):
        pass
    if not runner.stop(shutdown_timeout):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(pause)
    app.command()(resume)
    app.command()(scheduler)


def next_runs(status: SystemStatus) -> str:
    """For `accord status`: when each direction runs next (times to the second).

    An immediate push runs on the next hub change, whatever time an earlier interval
    schedule left behind; a paused link runs nothing until resumed; an import link never
    pushes; a direction the scheduler has not looked at yet runs at its first check.
    """
    if status.sync == "off":
        return "off"
    if status.paused:
        return "paused: nothing until resumed"
    parts = []
    if status.sync != "import":
        parts.append(_next("push", status.schedule_push, status.next_push))
    parts.append(_next("pull", status.schedule_pull, status.next_pull))
    return " / ".join(parts)


def _next(direction: str, every: str, at: str | None) -> str:
    if every == IMMEDIATE:
        return f"{direction} on hub change"
    if at is None:
        return f"{direction} at the scheduler's first check"
    return f"{direction} {at[:19].replace('T', ' ')}"


def lag_text(seconds: float | None, pending: int) -> str:
    """For `accord status`: time since the last good run, and hub changes not yet sent."""
    if seconds is None:
        return f"no good run yet; {pending} to send"
    return f"{_duration(seconds)} ago; {pending} to send"


def _duration(seconds: float) -> str:
    whole = int(seconds)
    if whole < 120:
        return f"{whole}s"
    if whole < 7200:
        return f"{whole // 60}m"
    return f"{whole // 3600}h{(whole % 3600) // 60:02d}m"
