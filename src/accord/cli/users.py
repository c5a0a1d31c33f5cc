"""``accord user add`` and ``accord token create``: who may use the web app and API."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from accord import config as config_module
from accord.config import DEFAULT_CONFIG
from accord.errors import AccordError
from accord.service import users as user_service
from accord.service.systems import open_hub

user_app = typer.Typer(help="Users of the web app and API.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="configuration file")]


def _password() -> str:
    # A prompt at a terminal (asked twice); otherwise the first line of standard input.
    if sys.stdin.isatty():
        password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return password
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise AccordError("no password on standard input")
    return line


@user_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[str, typer.Option(help="admin, editor or viewer")] = "viewer",
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Add a user; the password is asked for (or read from standard input)."""
    settings = config_module.load(config)
    store = open_hub(settings)
    try:
        user = user_service.add_user(store, name, _password(), role)
    finally:
        store.close()
    typer.echo(f"added user {user.name} ({user.role})")


@user_app.command("list")
def list_users(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """List users and their roles."""
    store = open_hub(config_module.load(config))
    try:
        for user in user_service.list_users(store):
            typer.echo(f"{user.name}\t{user.role}")
    finally:
        store.close()


@token_app.command("create")
def create(
    user: Annotated[str, typer.Option(help="the user the token acts as")],
    name: Annotated[str, typer.Option(help="what the token is for, e.g. till-1")] = "api",
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Create an API token (shown once; only its hash is stored). Send it as `Authorization: Bearer …`."""
    store = open_hub(config_module.load(config))
    try:
        token = user_service.create_token(store, user, name)
    finally:
        store.close()
    typer.echo(token)


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")
