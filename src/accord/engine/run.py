"""One sync run of one system: pull every entity, then push every entity.

Referenced entities go first both ways (sales people, then companies, then people), so
references resolve to records linked earlier in the same run.
"""

from __future__ import annotations

from accord.engine.context import SyncContext
from accord.engine.plan import Plan
from accord.engine.pull import Pull
from accord.engine.push import Push
from accord.errors import AccordError
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
        _phases(ctx, pull=pull, push=push)
    except AccordError as exc:
        _finish(ctx, "failed", str(exc))
        raise
    except Exception as exc:
        _finish(ctx, "failed", f"{type(exc).__name__}: {exc}")
        raise
    _finish(ctx, "ok")
    return ctx.plan


def _phases(ctx: SyncContext, *, pull: bool, push: bool) -> None:
    maps = [m for entity in SYNC_ORDER if (m := ctx.profile.entity_map(entity)) is not None]
    if pull:
        for emap in maps:
            if emap.pull:
                Pull(ctx, emap).run()
    if push:
        for emap in maps:
            if emap.push:
                Push(ctx, emap).run()


def _dry_run(ctx: SyncContext, *, pull: bool, push: bool) -> Plan:
    with ctx.store.engine.connect() as conn:
        outer = conn.begin()
        ctx._dry_conn = conn
        try:
            ctx.run_id = None
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
