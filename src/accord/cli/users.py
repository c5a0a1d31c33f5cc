"""``accord user add`` and ``accord token create``: who may use the web app and API."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from accord import config as config_module
from accord.cli.options import ConfigOption
from accord.config import DEFAULT_CONFIG
from accord.errors import AccordError
from accord.service import users as user_service
from accord.service.systems import open_hub
from accord.store import HubStore

user_app = typer.Typer(help="Users of the web app and API.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)


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


def _with_store(config: Path) -> HubStore:
    return open_hub(config_module.load(config))


@user_app.command("disable")
def disable(name: str, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Disable a user: their logins, sessions and API tokens stop working at once."""
    store = _with_store(config)
    try:
        user_service.set_active(store, name, False)
    finally:
        store.close()
    typer.echo(f"disabled {name}")


@user_app.command("enable")
def enable(name: str, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Enable a disabled user again."""
    store = _with_store(config)
    try:
        user_service.set_active(store, name, True)
    finally:
        store.close()
    typer.echo(f"enabled {name}")


@user_app.command("role")
def role(
    name: str,
    role: Annotated[str, typer.Argument(help="admin, editor or viewer")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Change a user's role (their sessions end; they log in again)."""
    store = _with_store(config)
    try:
        user_service.set_role(store, name, role)
    finally:
        store.close()
    typer.echo(f"{name} is now {role}")


@user_app.command("passwd")
def passwd(name: str, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Set a new password (asked for, or read from standard input); sessions end."""
    store = _with_store(config)
    try:
        user_service.set_password(store, name, _password())
    finally:
        store.close()
    typer.echo(f"password of {name} changed")


@token_app.command("list")
def list_tokens(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """API tokens: id, user, name, created, last used, revoked (never the token itself)."""
    store = _with_store(config)
    try:
        for t in user_service.list_tokens(store):
            state = "revoked" if t.revoked else "active"
            typer.echo(
                f"{t.id}\t{t.user}\t{t.name}\t{t.created_at}\t{t.last_used_at or '-'}\t{state}"
            )
    finally:
        store.close()


@token_app.command("revoke")
def revoke(
    token_id: Annotated[int, typer.Argument(help="the token's id from `accord token list`")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Revoke an API token: it stops working at once."""
    store = _with_store(config)
    try:
        user_service.revoke_token(store, token_id)
    finally:
        store.close()
    typer.echo(f"revoked token {token_id}")


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
