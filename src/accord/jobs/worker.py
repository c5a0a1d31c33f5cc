"""Scale-out on a PostgreSQL hub: sync jobs as Procrastinate tasks run by `accord worker`.

- ``accord.sync_link`` runs one link in one direction through the same job function as the
  inline scheduler. Its Procrastinate ``lock`` is the link, so no two jobs of a link run at
  once whichever worker takes them (the run also holds the link's advisory lock, which
  covers `accord sync` and the inline scheduler). Its ``queueing_lock`` is link and
  direction, so a link waiting in the queue is not queued twice. Failures are retried with
  exponential backoff.
- ``accord.tick`` is periodic (every few seconds). Every worker runs Procrastinate's
  periodic deferrer, but the database lets exactly one deferral per tick through, and the
  tick's own lock keeps two ticks from overlapping: the scheduling decision is made in one
  place at a time, however many workers run. The tick defers what is due, and puts the
  jobs of workers that stopped sending heartbeats (killed, machine lost) back in the queue
  so another worker retries them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from typing import Any

import procrastinate
import structlog
from procrastinate.exceptions import AlreadyEnqueued, UniqueViolation
from sqlalchemy import text
from sqlalchemy.engine import make_url

from accord.clock import SystemClock
from accord.config import Config
from accord.errors import ConfigError
from accord.jobs import due, state, tasks
from accord.jobs.locks import lock_key
from accord.store import HubStore
from accord.store.database import make_engine, migrate

SYNC_TASK = "accord.sync_link"
NIGHTLY_TASK = "accord.nightly"
TICK_TASK = "accord.tick"
SYNC_QUEUE = "accord"
TICK_QUEUE = "accord-schedule"

log = structlog.get_logger("accord.jobs")


def conninfo(hub_url: str) -> str:
    """The hub's URL as libpq wants it (no SQLAlchemy driver suffix); refuses SQLite."""
    url = make_url(hub_url)
    if url.get_backend_name() != "postgresql":
        raise ConfigError(
            "workers need a PostgreSQL hub: set ACCORD_DATABASE_URL (or [hub] database) to a"
            " postgresql:// URL; with SQLite, run `accord serve` (one process) instead"
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class _Hub:
    """One hub store per worker process, opened on first use and shared by its threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._store: HubStore | None = None
        self._guard = threading.Lock()

    def get(self) -> HubStore:
        with self._guard:
            if self._store is None:
                self._store = HubStore(self.url, create=False)
            return self._store

    def close(self) -> None:
        with self._guard:
            if self._store is not None:
                self._store.close()
                self._store = None


def build_app(
    settings: Config,
    *,
    tick_seconds: int = 2,
    stalled_after: float = 30.0,
    max_attempts: int = 5,
) -> tuple[procrastinate.App, _Hub]:
    """The Procrastinate app with Accord's tasks, bound to the configuration's hub."""
    hub_url = settings.hub.resolved_url()
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=conninfo(hub_url)),
        # A worker starting long after a missed tick should not replay it.
        periodic_defaults={"max_delay": max(30.0, tick_seconds * 5.0)},
    )
    hub = _Hub(hub_url)
    retry = procrastinate.RetryStrategy(max_attempts=max_attempts, exponential_wait=2)

    @app.task(name=SYNC_TASK, queue=SYNC_QUEUE, retry=retry)
    def sync_link(system: str, direction: str) -> dict[str, Any]:
        chosen = tasks.as_direction(direction, system)
        outcome = tasks.sync_link(settings, system, chosen, store=hub.get())
        return {"status": outcome.status, "run_id": outcome.run_id}

    @app.task(name=NIGHTLY_TASK, queue=SYNC_QUEUE, retry=retry)
    def nightly(system: str, job: str) -> str:
        return tasks.run_nightly(settings, system, job, store=hub.get())

    @app.periodic(cron=f"* * * * * */{tick_seconds}", periodic_id="schedule")
    @app.task(name=TICK_TASK, queue=TICK_QUEUE, lock="accord.tick", priority=10)
    async def tick(timestamp: int) -> None:
        await defer_due(app, settings, hub.get())
        await retry_stalled(app, stalled_after)

    return app, hub


async def defer_due(app: procrastinate.App, settings: Config, store: HubStore) -> int:
    """Queue every job that is due now; returns how many were queued."""

    def decide() -> list[tuple[str, due.Job]]:
        with store.transaction() as conn:
            seen = state.get_journal_seen(conn)
            jobs, newest = due.due_jobs(conn, settings, SystemClock().now(), seen)
            state.set_journal_seen(conn, newest)
        return jobs

    queued = 0
    for system, (kind, what) in await asyncio.to_thread(decide):
        if kind == "sync":
            task, kwargs = SYNC_TASK, {"system": system, "direction": what}
        else:
            task, kwargs = NIGHTLY_TASK, {"system": system, "job": what}
        try:
            await app.configure_task(
                task, lock=f"link:{system}", queueing_lock=f"{task}:{system}:{what}"
            ).defer_async(**kwargs)
            queued += 1
        except AlreadyEnqueued:
            pass  # the same job already waits in the queue: coalesced
    return queued


async def retry_stalled(app: procrastinate.App, stalled_after: float) -> None:
    """Jobs of workers without a recent heartbeat go back in the queue for another worker."""
    manager = app.job_manager
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
        log.warning("job.stalled_retry", job_id=job.id, task=job.task_name, args=job.task_kwargs)
        try:
            await manager.retry_job(job, retry_at=dt.datetime.now(dt.UTC))
        except UniqueViolation:
            # The same job was queued again meanwhile: the retry takes its place (only the
            # tick queues jobs, and ticks never overlap, so nothing queues it again here).
            for waiting in await manager.list_jobs_async(
                queueing_lock=job.queueing_lock, status="todo"
            ):
                assert waiting.id is not None
                await manager.cancel_job_by_id_async(waiting.id)
            await manager.retry_job(job, retry_at=dt.datetime.now(dt.UTC))


def setup_schema(settings: Config) -> None:
    """Bring the hub's and Procrastinate's schemas up; safe when several workers start."""
    url = settings.hub.resolved_url()
    libpq = conninfo(url)  # refuses a SQLite hub before touching it
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            # One worker sets the schema up at a time; the others wait, then find it done.
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_key("schema setup")})
            conn.commit()
            try:
                migrate(engine)
                exists = conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar()
                conn.commit()
                if exists is None:
                    app = procrastinate.App(
                        connector=procrastinate.SyncPsycopgConnector(conninfo=libpq)
                    )
                    with app.open():
                        app.schema_manager.apply_schema()
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key("schema setup")})
                conn.commit()
    finally:
        engine.dispose()
