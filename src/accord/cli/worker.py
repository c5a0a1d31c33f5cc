"""`accord worker`: run sync jobs as Procrastinate tasks on a PostgreSQL hub (scale-out)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from accord import config as config_module
from accord.cli.options import ConfigOption
from accord.config import DEFAULT_CONFIG
from accord.jobs import logs


def worker(
    config: ConfigOption = DEFAULT_CONFIG,
    concurrency: Annotated[
        int, typer.Option(help="sync jobs this worker runs at once (the tick runs beside them)")
    ] = 1,
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
    poll: Annotated[
        float,
        typer.Option(
            help="seconds between queue checks when no notification comes (a job whose link"
            " is busy waits at most this long after the link frees)"
        ),
    ] = 0.5,
    grace: Annotated[
        float,
        typer.Option(
            help="on SIGTERM, seconds a sync in progress may go on before it stops after its"
            " current batch (0: at the end of the current batch)"
        ),
    ] = 0.0,
    setup_only: Annotated[
        bool, typer.Option("--setup-only", help="create or upgrade the schemas, then exit")
    ] = False,
) -> None:
    """Run sync jobs from the hub's queue; start as many as you like, on any machine.

    Needs a PostgreSQL hub. Each worker sets up the schemas if needed, takes part in
    scheduling (one decision per tick across all workers), and stops gracefully on SIGTERM:
    a sync in progress stops after its current batch and goes back in the queue, where
    another worker carries on from there; a nightly job in progress finishes first.
    """
    from accord.jobs.worker import WorkerOptions, build_app, run, setup_schema

    logs.configure(stdlib_level=logging.WARNING)
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
        options = WorkerOptions(concurrency, name, heartbeat, stalled_after, poll, grace)
        run(app, options)
    finally:
        hub.close()


def register(app: typer.Typer) -> None:
    app.command()(worker)
