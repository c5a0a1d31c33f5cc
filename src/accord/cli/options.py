"""The ``--config`` option, given before the command (``accord -c FILE status``) or after it
(``accord status -c FILE``): every command that reads the configuration takes it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

GLOBAL_CONFIG = "config"  # the root command's parameter


def _given_before_the_command(ctx: typer.Context, param: typer.CallbackParam, value: Path) -> Path:
    # The command's own -c wins; left at its default, the one given before the command
    # applies. The source is compared by name: Typer carries its own copy of Click.
    source = ctx.get_parameter_source(param.name or "")
    if source is not None and source.name != "DEFAULT":
        return value
    given = ctx.find_root().params.get(GLOBAL_CONFIG)
    return given if isinstance(given, Path) else value


ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="configuration file", callback=_given_before_the_command),
]
GlobalConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="configuration file for the command (default: accord.toml)"
    ),
]
