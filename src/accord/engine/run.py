"""One sync run of one system: pull every entity, then push every entity.

Referenced entities go first both ways (sales people, then companies, then people), so
references resolve to records linked earlier in the same run.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from accord.engine.context import SyncContext
from accord.engine.plan import Plan
from accord.engine.pull import Pull
from accord.engine.push import Push
from accord.errors import AccordError
from accord.mapping.profile import EntityMap
from accord.model.entities import SYNC_ORDER
from accord.store import bookkeeping, links


def sync(ctx: SyncContext, *, pull: bool = True, push: bool = True) -> Plan:
    """Run a sync (or, with ``ctx.dry_run``, plan one and write nothing). Returns the plan."""
    if ctx.dry_run:
        return _dry_run(ctx, pull=pull, push=push)
    with ctx.transaction() as conn:
        bookkeeping.close_interrupted_runs(conn, ctx.system, ctx.now())
        ctx.run_id = bookkeeping.start_run(conn, ctx.system, False, ctx.now())
    try:
        with _fewer_collections():
            _phases(ctx, pull=pull, push=push)
    except AccordError as exc:
        _finish(ctx, "failed", str(exc))
        raise
    except Exception as exc:
        _finish(ctx, "failed", f"{type(exc).__name__}: {exc}")
        raise
    except KeyboardInterrupt:
        # Ctrl-C at `accord sync`: every committed batch stands; the run says it stopped
        # rather than showing "running" until the link's next run.
        _finish(ctx, "stopped", "interrupted (Ctrl-C)")
        raise
    _finish(ctx, "ok")
    return ctx.plan


def _phases(ctx: SyncContext, *, pull: bool, push: bool) -> None:
    maps = [m for entity in SYNC_ORDER if (m := ctx.profile.entity_map(entity)) is not None]
    try:
        if pull:
            for emap in maps:
                if emap.pull:
                    Pull(ctx, emap).run()
                ctx.done_pulling(emap.entity)
    finally:
        # Runs following this one's pulls are told, however the pulls ended.
        for entity in SYNC_ORDER:
            ctx.done_pulling(entity)
    if push:
        for emap in maps:
            if emap.push:
                if not pull and _unconfirmed_creates(ctx, emap):
                    Pull(ctx, emap).run()
                Push(ctx, emap).run()


def _unconfirmed_creates(ctx: SyncContext, emap: EntityMap) -> bool:
    """Whether a push-only run must pull first: creates whose answer never came (pending
    links) in a system that cannot recognise a create sent twice. The pull finds the
    record the first attempt made (matching links it); sent again blindly, it would be
    made twice."""
    if not emap.pull or ctx.connector.capabilities(emap.source).idempotent_create:
        return False
    with ctx.reading() as conn:
        return bool(links.pending(conn, ctx.system, emap.entity))


_collector_lock = threading.Lock()
_collector_users = 0
_collector_default: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often while a sync runs.

    A batch allocates hundreds of thousands of small dicts and lists (reference counting
    frees them), and with the default thresholds the youngest generation is scanned every
    700 allocations, about a tenth of a large sync's time. The cycles there are (SQLAlchemy's
    statements) are collected every few batches instead (``SyncContext.report``). The
    setting is global: runs in several threads count themselves in and out.
    """
    global _collector_users, _collector_default
    with _collector_lock:
        if _collector_users == 0:
            _collector_default = gc.get_threshold()
            first, second, third = _collector_default
            gc.set_threshold(max(first, 50_000), max(second, 20), max(third, 100))
        _collector_users += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector_users -= 1
            if _collector_users == 0:
                gc.set_threshold(*_collector_default)


def _dry_run(ctx: SyncContext, *, pull: bool, push: bool) -> Plan:
    with ctx.store.engine.connect() as conn:
        outer = conn.begin()
        ctx._dry_conn = conn
        try:
            ctx.run_id = None
            with _fewer_collections():
                _phases(ctx, pull=pull, push=push)
        finally:
            ctx._dry_conn = None
            outer.rollback()
    return ctx.plan


def _finish(ctx: SyncContext, status: str, message: str = "") -> None:
    if ctx.run_id is None:
        return
    with ctx.store.transaction() as conn:
        bookkeeping.finish_run(conn, ctx.run_id, status, dict(ctx.plan.counts), ctx.now(), message)
