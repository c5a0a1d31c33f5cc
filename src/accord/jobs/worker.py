"""Scale-out on a PostgreSQL hub: sync jobs as Procrastinate tasks run by `accord worker`.

- ``accord.sync_link`` runs one link in one direction through the same job function as the
  inline scheduler. Its Procrastinate ``lock`` is the link, so no two jobs of a link run at
  once whichever worker takes them (the run also holds the link's advisory lock, which
  covers `accord sync` and the inline scheduler). Its ``queueing_lock`` is link and
  direction, so a link waiting in the queue is not queued twice. Failures are retried with
  exponential backoff. A link busy with a run started elsewhere (`accord sync` by hand,
  "Sync now" in a one-process service) is not a failure: the job ends and a fresh one,
  with all its retries, waits a few seconds for the link (``busy_wait``).
- ``accord.tick`` is periodic (every few seconds). Every worker runs Procrastinate's
  periodic deferrer, but the database lets exactly one deferral per tick through, and the
  tick's own lock keeps two ticks from overlapping: the scheduling decision is made in one
  place at a time, however many workers run (a session advisory lock, which dies with
  a killed worker's connection). The tick defers what is due, and puts the
  jobs of workers that stopped sending heartbeats (killed, machine lost) back in the queue
  so another worker retries them. Each worker process runs ticks in a Procrastinate
  worker of its own, beside the sync jobs' (``run_workers``).
- Shutdown (SIGTERM): the worker takes no new job and asks the sync job in hand to stop
  after its current batch (each batch is committed whole); the run is closed as
  "stopped" and the job goes straight back in the queue (unless the same job already
  waits there), so another worker (or this one, restarted) carries on from the link's
  cursors. A nightly job in hand finishes first.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import threading
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from typing import Any

import procrastinate
import structlog
from procrastinate.exceptions import AlreadyEnqueued, JobAborted, UniqueViolation
from procrastinate.jobs import Job
from procrastinate.retry import RetryDecision
from procrastinate.worker import Worker
from sqlalchemy import text
from sqlalchemy.engine import make_url

from accord.clock import SystemClock
from accord.config import Config
from accord.errors import ConfigError
from accord.jobs import due, state, tasks
from accord.jobs.live_config import LiveConfig
from accord.jobs.locks import LinkBusyError, hold_link, lock_key
from accord.store import HubStore
from accord.store.database import make_engine, migrate

SYNC_TASK = "accord.sync_link"
NIGHTLY_TASK = "accord.nightly"
TICK_TASK = "accord.tick"
SYNC_QUEUE = "accord"
TICK_QUEUE = "accord-schedule"
TICK_LOCK = "(scheduling tick)"  # a lock name no link can have

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


class StoppedForShutdownError(JobAborted):
    """The worker is shutting down and the run stopped after a committed batch."""


class _Retry(procrastinate.RetryStrategy):
    """Failures back off exponentially up to ``max_attempts``; a job stopped by a shutdown
    goes back in the queue at once and always (it did not fail, it was interrupted).
    ``give_up`` is told of a job that will not be tried again."""

    give_up: Callable[[Job], None] | None = None

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, StoppedForShutdownError):
            return RetryDecision(retry_in={"seconds": 0})
        decision = super().get_retry_decision(exception=exception, job=job)
        if decision is None and self.give_up is not None:
            self.give_up(job)
        return decision


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


def owe_push(store: HubStore, job: Job) -> None:
    """A push job that failed for good (the ERP down for minutes): the hub
    changes it was queued for were marked seen then, so the next tick owes the push."""
    args = job.task_kwargs
    if job.task_name == SYNC_TASK and args.get("direction") in ("push", "both"):
        with store.transaction() as conn:
            state.set_push_owed(conn, str(args["system"]), True)


def wait_for_link(app: procrastinate.App, job: Job, seconds: int) -> dict[str, Any]:
    """Queue the job afresh to run in ``seconds``, when its link was busy.

    Not a retry: waiting for another run to finish is no failure, and must not use up the
    attempts a real failure (the ERP down) gets. Where the same job already waits in the
    queue, that one will do.
    """
    log.info("job.link_busy", task=job.task_name, args=job.task_kwargs, again_in=seconds)
    with suppress(AlreadyEnqueued):  # the same job already waits: that one will do
        app.configure_task(
            job.task_name,
            lock=job.lock,
            queueing_lock=job.queueing_lock,
            schedule_in={"seconds": seconds},
        ).defer(**job.task_kwargs)
    return {"status": "busy"}


def build_app(
    settings: Config,
    *,
    tick_seconds: int = 2,
    stalled_after: float = 30.0,
    max_attempts: int = 5,
    busy_wait: int = 5,
) -> tuple[procrastinate.App, _Hub]:
    """The Procrastinate app with Accord's tasks, bound to the configuration's hub.

    Jobs and ticks take the systems' settings from the configuration file as it is when
    they start (``LiveConfig``): changes made in the web app reach running workers.
    """
    hub_url = settings.hub.resolved_url()
    live = LiveConfig(settings)
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=conninfo(hub_url)),
        # A worker starting long after a missed tick should not replay it.
        periodic_defaults={"max_delay": max(30.0, tick_seconds * 5.0)},
    )
    hub = _Hub(hub_url)
    retry = _Retry(max_attempts=max_attempts, exponential_wait=2)

    retry.give_up = lambda job: owe_push(hub.get(), job)

    @app.task(name=SYNC_TASK, queue=SYNC_QUEUE, retry=retry, pass_context=True)
    def sync_link(context: procrastinate.JobContext, system: str, direction: str) -> dict[str, Any]:
        chosen = tasks.as_direction(direction, system)
        # should_abort turns true when the worker shuts down (or the job is aborted by
        # hand): the run then stops between two batches.
        try:
            outcome = tasks.sync_link(
                live.get(), system, chosen, store=hub.get(), stop=context.should_abort
            )
        except LinkBusyError:
            return wait_for_link(app, context.job, busy_wait)
        if outcome.status == "stopped":
            if _twin_waits(hub.get(), context.job.queueing_lock):
                # The same job already waits in the queue (queued while this one ran): it
                # carries on from the cursors, and a retry could not take its place.
                return {"status": outcome.status, "run_id": outcome.run_id}
            raise StoppedForShutdownError(f"run {outcome.run_id} of {system} stopped")
        return {"status": outcome.status, "run_id": outcome.run_id}

    @app.task(name=NIGHTLY_TASK, queue=SYNC_QUEUE, retry=retry, pass_context=True)
    def nightly(context: procrastinate.JobContext, system: str, job: str) -> Any:
        try:
            return tasks.run_nightly(live.get(), system, job, store=hub.get())
        except LinkBusyError:
            return wait_for_link(app, context.job, busy_wait)

    @app.periodic(cron=f"* * * * * */{tick_seconds}", periodic_id="schedule")
    @app.task(name=TICK_TASK, queue=TICK_QUEUE, priority=10)
    async def tick(timestamp: int) -> None:
        work = asyncio.ensure_future(_tick(app, live.get(), hub.get(), stalled_after))
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            # Shutdown cancels async jobs; a decision half acted on would skip runs (their
            # next-due times moved on but the jobs were never queued), so finish it first.
            await work
            raise

    return app, hub


@dataclass
class WorkerOptions:
    concurrency: int = 1
    name: str | None = None
    heartbeat: float = 10.0
    stalled_after: float = 30.0
    poll: float = 0.5  # seconds between queue polls when notifications bring nothing
    grace: float = 0.0  # on SIGTERM, seconds a sync may go on before stopping at a batch end


def run(app: procrastinate.App, options: WorkerOptions) -> None:
    """`accord worker`'s foreground loop (see ``run_workers``)."""

    async def main() -> None:
        async with app.open_async():
            await run_workers(app, options)

    asyncio.run(main())


async def run_workers(app: procrastinate.App, options: WorkerOptions) -> None:
    """Run the sync jobs and, beside them, the scheduling tick, until SIGTERM or SIGINT.

    The tick has a worker (one job at a time) of its own: were it queued with the syncs,
    it would wait for a free slot whenever every slot runs a long sync, and while it ran it
    would keep a sync waiting. Both stop on the first signal; a second one ends the process.
    """
    common: dict[str, Any] = {
        "install_signal_handlers": False,
        "update_heartbeat_interval": options.heartbeat,
        "stalled_worker_timeout": options.stalled_after,
        "fetch_job_polling_interval": options.poll,
    }
    syncs = Worker(
        app,
        queues=[SYNC_QUEUE],
        name=options.name,
        concurrency=options.concurrency,
        shutdown_graceful_timeout=options.grace,
        **common,
    )
    # A tick in progress finishes (it is short): half a decision would skip runs.
    ticks = Worker(app, queues=[TICK_QUEUE], name=f"{options.name or 'worker'}-schedule", **common)
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        log.info("worker.stopping")
        syncs.stop()  # type: ignore[no-untyped-call]
        ticks.stop()  # type: ignore[no-untyped-call]

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
    try:
        await asyncio.gather(
            syncs.run(),  # type: ignore[no-untyped-call]
            ticks.run(),  # type: ignore[no-untyped-call]
        )
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def _tick(
    app: procrastinate.App, settings: Config, store: HubStore, stalled_after: float
) -> None:
    # Ticks never overlap. Not through a Procrastinate job lock: the tick job of a worker
    # killed mid-tick would stay "doing" and hold that lock for good, and the only thing
    # that puts stalled jobs back, the next tick, could never run. A session advisory
    # lock goes away with the killed worker's connection.
    with ExitStack() as held:
        try:
            await asyncio.to_thread(held.enter_context, hold_link(store, TICK_LOCK))
        except LinkBusyError:
            return  # the tick before this one is still at work
        await defer_due(app, settings, store)
        await retry_stalled(app, stalled_after)


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
        except Exception as exc:
            # Decided (next-due times moved on, changes marked seen) but not queued: make
            # it due again at the next tick rather than skip it until its next interval.
            log.error("job.defer_failed", system=system, job=what, error=str(exc))
            if kind == "sync":
                await asyncio.to_thread(_due_again, store, system, what)
    return queued


def _due_again(store: HubStore, system: str, direction: str) -> None:
    with store.transaction() as conn:
        state.set_next_due(conn, system, direction, SystemClock().now())
        if direction in ("push", "both"):
            state.set_push_owed(conn, system, True)


def _twin_waits(store: HubStore, queueing_lock: str | None) -> bool:
    if queueing_lock is None:
        return False
    with store.transaction() as conn:
        found = conn.execute(
            text("SELECT 1 FROM procrastinate_jobs WHERE queueing_lock = :q AND status = 'todo'"),
            {"q": queueing_lock},
        ).first()
    return found is not None


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
