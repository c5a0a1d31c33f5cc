"""The jobs both runners call: sync one link in one direction, run a nightly job.

The inline scheduler (one process, SQLite) and the Procrastinate workers (PostgreSQL) call
these same functions; they differ only in how jobs are queued and retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import structlog

from accord.clock import Clock, SystemClock, to_iso
from accord.config import Config
from accord.engine import SyncContext, sync
from accord.errors import AccordError
from accord.jobs import logs, metrics, state
from accord.jobs.locks import hold_link
from accord.presets import preset
from accord.service.systems import open_system
from accord.store import HubStore, bookkeeping

Direction = Literal["pull", "push", "both"]
DIRECTIONS: tuple[Direction, ...] = ("pull", "push", "both")

log = structlog.get_logger("accord.jobs")


class RunStoppedError(AccordError):
    """The process is shutting down: the run stopped after its last committed batch."""


def as_direction(value: str, system: str) -> Direction:
    for direction in DIRECTIONS:
        if value == direction:
            return direction
    raise AccordError(f"unknown direction {value!r} (pull, push or both)", system=system)


@dataclass
class JobOutcome:
    system: str
    direction: str
    status: str  # ok | failed | stopped | paused | off
    run_id: int | None = None
    started: float = 0.0  # monotonic
    finished: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    message: str = ""


def sync_link(
    settings: Config,
    system: str,
    direction: Direction,
    *,
    store: HubStore,
    stop: Callable[[], bool] | None = None,
    clock: Clock | None = None,
) -> JobOutcome:
    """One run of a link in one direction (or both), unless the link is off or paused.

    Raises LinkBusyError when another run of the link holds its lock, and the run's error when
    it fails (so a queue can retry it); a stop request ends it cleanly between batches.
    """
    as_direction(direction, system)
    outcome = JobOutcome(system, direction, "ok", started=time.monotonic())
    config = settings.system(system)
    if config.sync == "off":
        outcome.status = "off"
        return _done(outcome)
    with store.transaction() as conn:
        if state.is_paused(conn, system):
            outcome.status = "paused"
            return _done(outcome)
    with hold_link(store, system), logs.job_context(system=system, direction=direction):
        try:
            _run(settings, system, direction, store, stop, clock or SystemClock(), outcome)
        except Exception as exc:
            if outcome.run_id is None:  # failed before its run began (opening the system)
                log.error("job.failed", error=str(exc))
            raise
    return _done(outcome)


class _LoggedRunContext(SyncContext):
    """Binds the run id to the log context as soon as the engine opens the run row.

    The engine assigns ``run_id`` right after writing the row, before the first batch; so
    the run's first line (``run.start``) and every later one carry it, with no change to
    the engine.
    """

    def __setattr__(self, name: str, value: object) -> None:
        super().__setattr__(name, value)
        if name == "run_id" and isinstance(value, int):
            logs.bind_run(value)
            log.info("run.start")


def _run(
    settings: Config,
    system: str,
    direction: Direction,
    store: HubStore,
    stop: Callable[[], bool] | None,
    clock: Clock,
    outcome: JobOutcome,
) -> None:
    connector, profile = open_system(settings, system, clock)
    read: dict[str, int] = {}
    ctx = _LoggedRunContext(
        store, connector, profile, system, clock, batch_size=settings.system(system).batch_size
    )

    def between_batches(entity: str, phase: str, done: int) -> None:
        # Called after each committed batch: the one safe place to stop a run.
        if phase == "pull":
            read[entity] = done
        if stop is not None and stop():
            raise RunStoppedError("stopped for shutdown after a completed batch", system=system)

    ctx.progress = between_batches
    try:
        sync(ctx, pull=direction != "push", push=direction != "pull")
    except RunStoppedError as exc:
        outcome.status, outcome.message = "stopped", exc.message
        _mark_stopped(store, ctx, clock, exc.message)
    except Exception as exc:
        outcome.status, outcome.message = "failed", str(exc)
        _observe(outcome, ctx, read, connector)
        log.error("run.failed", error=str(exc))
        raise
    finally:
        outcome.run_id = ctx.run_id
        connector.close()
    _observe(outcome, ctx, read, connector)
    log.info("run.finish", status=outcome.status, **outcome.counts)


def _mark_stopped(store: HubStore, ctx: SyncContext, clock: Clock, message: str) -> None:
    if ctx.run_id is None:
        return
    with store.transaction() as conn:
        bookkeeping.finish_run(
            conn, ctx.run_id, "stopped", dict(ctx.plan.counts), to_iso(clock.now()), message
        )


def _observe(
    outcome: JobOutcome, ctx: SyncContext, read: dict[str, int], connector: object
) -> None:
    plan = ctx.plan
    outcome.counts = dict(plan.counts)
    system = outcome.system
    written = {"hub": 0, "system": 0}
    for key, n in plan.counts.items():
        side, _, action = key.split(".", 2)
        if action not in ("conflict", "error", "read") and side in written:
            written[side] += n
    for side, n in written.items():
        metrics.RECORDS_WRITTEN.labels(system, side).inc(n)
    metrics.RECORDS_READ.labels(system).inc(sum(read.values()))
    metrics.CONFLICTS.labels(system).inc(plan.total("conflict"))
    metrics.ERRORS.labels(system).inc(plan.total("error"))
    calls = getattr(connector, "api_calls", None)
    if isinstance(calls, int):
        metrics.API_CALLS.labels(system).inc(calls)


def _done(outcome: JobOutcome) -> JobOutcome:
    outcome.finished = time.monotonic()
    metrics.RUNS.labels(outcome.system, outcome.direction, outcome.status).inc()
    if outcome.status in ("ok", "failed", "stopped"):
        metrics.RUN_SECONDS.labels(outcome.system, outcome.direction).observe(
            outcome.finished - outcome.started
        )
    return outcome


def run_nightly(settings: Config, system: str, job: str, *, store: HubStore) -> str:
    """Run one of the system's preset nightly jobs (S001-05) under the link's lock."""
    config = settings.system(system)
    if config.preset is None:
        raise AccordError("the system has no preset, so no nightly jobs", system=system)
    jobs = preset(config.preset).nightly_jobs
    if job not in jobs:
        known = ", ".join(jobs) or "none"
        raise AccordError(f"no nightly job {job!r} (known: {known})", system=system)
    # Queued before the link was paused or switched off, it waits for it like a sync does.
    if config.sync == "off":
        log.info("nightly.skipped", system=system, job=job, reason="sync is off")
        return "skipped: sync is off"
    with store.reading() as conn:
        if state.is_paused(conn, system):
            log.info("nightly.skipped", system=system, job=job, reason="paused")
            return "skipped: the link is paused"
    with hold_link(store, system), logs.job_context(system=system, job=job):
        try:
            said = jobs[job](settings, system)
        except Exception as exc:
            metrics.NIGHTLY.labels(system, job, "failed").inc()
            log.error("nightly.failed", error=str(exc))
            raise
        metrics.NIGHTLY.labels(system, job, "ok").inc()
        log.info("nightly.finish", result=said)
    return said


def nightly_jobs(settings: Config, system: str) -> list[str]:
    config = settings.system(system)
    if config.preset is None or config.sync == "off":
        return []
    return list(preset(config.preset).nightly_jobs)
