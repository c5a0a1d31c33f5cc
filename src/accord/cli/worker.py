"""`accord worker`: run sync jobs as Procrastinate tasks on a PostgreSQL hub (scale-out)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from accord import config as config_module
from accord.config import DEFAULT_CONFIG
from accord.jobs import logs

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="configuration file")]


def worker(
    config: ConfigOption = DEFAULT_CONFIG,
    concurrency: Annotated[int, typer.Option(help="jobs this worker runs at once")] = 1,
    name: Annotated[str | None, typer.Option(help="worker name shown in logs")] = None,
    tick: Annotated[
        int, typer.Option(min=1, max=30, help="seconds between scheduling decisions")
    ] = 2,
    heartbeat: Annotated[float, typer.Option(help="seconds between heartbeats")] = 10.0,
    stalled_after: Annotated[
        float, typer.Option(help="seconds without heartbeat before a worker's job is retried")
    ] = 30.0,
    metrics_port: Annotated[
        int, typer.Option(help="serve this worker's Prometheus metrics on this port (0: off)")
    ] = 0,
    setup_only: Annotated[
        bool, typer.Option("--setup-only", help="create or upgrade the schemas, then exit")
    ] = False,
) -> None:
    """Run sync jobs from the hub's queue; start as many as you like, on any machine.

    Needs a PostgreSQL hub. Each worker sets up the schemas if needed, takes part in
    scheduling (one decision per tick across all workers), and stops gracefully on SIGTERM:
    the job in progress finishes first.
    """
    from accord.jobs.worker import build_app, setup_schema

    logs.configure()
    logging.basicConfig(level=logging.WARNING)
    settings = config_module.load(config)
    setup_schema(settings)
    if setup_only:
        return
    if metrics_port:
        from prometheus_client import start_http_server

        from accord.jobs import metrics

        start_http_server(metrics_port, registry=metrics.REGISTRY)
    app, hub = build_app(settings, tick_seconds=tick, stalled_after=stalled_after)
    try:
        with app.open():
            app.run_worker(
                concurrency=concurrency,
                name=name,
                update_heartbeat_interval=heartbeat,
                stalled_worker_timeout=stalled_after,
                fetch_job_polling_interval=1.0,
            )
    finally:
        hub.close()


def register(app: typer.Typer) -> None:
    app.command()(worker)
