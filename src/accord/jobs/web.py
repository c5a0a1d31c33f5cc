"""The jobs' part of the web app: Prometheus `/metrics`, and the scheduler in its lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from prometheus_client import make_asgi_app

from accord.config import Config
from accord.jobs import logs, metrics
from accord.store import HubStore


def attach(
    app: FastAPI,
    settings: Config,
    store: HubStore,
    *,
    run_scheduler: bool,
    shutdown_timeout: float = 60.0,
) -> None:
    """Mount `/metrics`; with ``run_scheduler``, run the inline scheduler while the app runs.

    On shutdown (SIGTERM to `accord serve`) a running sync ends after its current batch.
    """
    metrics.watch_lag(settings, lambda: store)
    app.mount("/metrics", make_asgi_app(registry=metrics.REGISTRY))
    if not run_scheduler:
        return
    previous = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(running: FastAPI) -> AsyncIterator[Any]:
        from accord.jobs.inline import InlineScheduler

        logs.configure()
        scheduler = InlineScheduler(settings, store=store)
        scheduler.start()
        try:
            async with previous(running) as state:
                yield state
        finally:
            await asyncio.to_thread(scheduler.stop, shutdown_timeout)

    app.router.lifespan_context = lifespan
