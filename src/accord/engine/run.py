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
from accord.engine.push import PullFirstError, Push
from accord.errors import AccordError
from accord.mapping.profile import EntityMap
from accord.model.entities import SYNC_ORDER
from accord.store import bookkeeping


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
        pulled = {m.entity for m in maps} if pull else set()
        for emap in maps:
            if not emap.push:
                continue
            first = Push(ctx, emap, match_first=emap.entity not in pulled)
            try:
                first.run()
            except PullFirstError:
                _pull_up_to(ctx, maps, emap, pulled)
                Push(ctx, emap, sent=first.sent).run()


def _pull_up_to(ctx: SyncContext, maps: list[EntityMap], last: EntityMap, pulled: set[str]) -> None:
    """Pull, for a push-only run about to create in the system, ``last`` and the entities
    it references that this run has not pulled: a record added on both sides since the
    last pull is then matched and linked, not created a second time. So is one whose
    create was sent before but whose answer never came (a pending link)."""
    for emap in maps[: maps.index(last) + 1]:
        if emap.pull and emap.entity not in pulled:
            Pull(ctx, emap).run()
        pulled.add(emap.entity)


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
