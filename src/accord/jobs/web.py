"""The jobs' part of the web app: Prometheus `/metrics`, and the scheduler in its lifespan."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from prometheus_client import make_asgi_app
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from accord.jobs import logs, metrics
from accord.jobs.live_config import LiveConfig
from accord.store import HubStore


def attach(
    app: FastAPI,
    settings: LiveConfig,
    store: HubStore,
    *,
    run_scheduler: bool,
    shutdown_timeout: float = 60.0,
) -> None:
    """Mount `/metrics`; with ``run_scheduler``, run the inline scheduler while the app runs.

    On shutdown (SIGTERM to `accord serve`) a running sync ends after its current batch.
    """
    metrics.watch_lag(settings.get, lambda: store)
    app.mount(
        "/metrics",
        _behind_token(make_asgi_app(registry=metrics.REGISTRY), settings.get().hub.metrics_token()),
    )
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


def _behind_token(app: ASGIApp, token: str | None) -> ASGIApp:
    """``app`` answering only requests that carry ``token`` as a bearer token (when set).

    Prometheus sends one with ``authorization: {credentials_file: ...}`` in its scrape
    config; the comparison takes the same time however much of the token matches."""
    if not token:
        return app
    expected = f"Bearer {token}".encode()

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, expected):
                refusal = PlainTextResponse(
                    "/metrics needs its bearer token\n",
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await refusal(scope, receive, send)
                return
        await app(scope, receive, send)

    return guarded
