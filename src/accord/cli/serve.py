"""``accord serve``: the web app and REST API."""

from __future__ import annotations

from typing import Annotated

import typer

from accord import config as config_module
from accord.cli.options import ConfigOption
from accord.config import DEFAULT_CONFIG


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    config: ConfigOption = DEFAULT_CONFIG,
    secure_cookies: Annotated[
        bool | None,
        typer.Option(
            "--secure-cookies/--no-secure-cookies",
            help="mark the session cookie Secure (default: when served over HTTPS)",
        ),
    ] = None,
    scheduler: Annotated[
        bool,
        typer.Option(
            "--scheduler/--no-scheduler",
            help="run every link on its schedule in this process (off when workers run them)",
        ),
    ] = True,
) -> None:
    """Run the web app and REST API (OpenAPI document at /api/v1/openapi.json)."""
    import uvicorn

    from accord.web.app import create_app

    settings = config_module.load(config)
    app = create_app(settings, secure_cookies=secure_cookies, scheduler=scheduler)
    typer.echo(f"Accord on http://{host}:{port}/ (API: /api/v1, docs: /api/v1/docs)")
    uvicorn.run(app, host=host, port=port, proxy_headers=True, log_level="info")


def register(app: typer.Typer) -> None:
    app.command()(serve)
