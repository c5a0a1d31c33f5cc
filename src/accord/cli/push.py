"""``accord push contact`` (send one hub contact to Unleashed) and ``accord nightly``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from accord import config as config_module
from accord.cli.options import ConfigOption
from accord.config import DEFAULT_CONFIG, Config
from accord.errors import ConfigError
from accord.presets.unleashed import NAME as UNLEASHED_PRESET
from accord.service import queries
from accord.service import unleashed as unleashed_service
from accord.service.systems import open_hub

console = Console()
SystemOption = Annotated[
    str | None,
    typer.Option("--system", "-s", help="the system to send to (default: the only Unleashed one)"),
]

push_app = typer.Typer(
    help="Send a hub record to a system on request (where it is not created by itself).",
    no_args_is_help=True,
)


def _unleashed_system(config: Config, name: str | None) -> str:
    if name is not None:
        config.system(name)
        return name
    found = [n for n, s in config.systems.items() if s.preset == UNLEASHED_PRESET]
    if len(found) != 1:
        raise ConfigError(
            f"name the system with --system ({len(found)} systems use {UNLEASHED_PRESET})"
        )
    return found[0]


@push_app.command("contact")
def contact(
    ref: Annotated[str, typer.Argument(help="hub id (42) or system:person:key")],
    system: SystemOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Create a hub contact in Unleashed now ("Sync to Unleashed"), then show its state."""
    settings = config_module.load(config)
    name = _unleashed_system(settings, system)
    store = open_hub(settings)
    try:
        record_id = queries.find_record(store, ref)
        state = unleashed_service.push_contact(settings, name, record_id, store=store)
    finally:
        store.close()
    console.print(state.describe())
    if state.state != "synced":
        raise typer.Exit(1)


def nightly(
    system: Annotated[str, typer.Argument(help="the system as named in the configuration")],
    job: Annotated[str | None, typer.Argument(help="one job (default: all of them)")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Run a system's nightly jobs now (e.g. the Unleashed account-manager fix)."""
    from accord.jobs import tasks

    settings = config_module.load(config)
    names = [job] if job else tasks.nightly_jobs(settings, system)
    if not names:
        console.print(f"{system} has no nightly jobs (or its sync is off)")
        return
    store = open_hub(settings)
    try:
        for each in names:
            console.print(f"{each}: {tasks.run_nightly(settings, system, each, store=store)}")
    finally:
        store.close()


def register(app: typer.Typer) -> None:
    app.add_typer(push_app, name="push")
    app.command()(nightly)
