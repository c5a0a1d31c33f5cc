"""Everything one sync run of one system needs, and the one way it opens transactions."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection

from accord.clock import Clock, to_iso
from accord.connectors.base import Connector
from accord.engine.plan import Plan
from accord.mapping.profile import Profile
from accord.store import HubStore

ProgressCallback = Callable[[str, str, int], None]  # (entity, phase, records done)
# Batches between full garbage collections during a run: SQLAlchemy statements built per
# batch form reference cycles that hold the keys bound into them, and with the young
# generation scanned rarely (for speed) they would otherwise pile up until the run ends.
COLLECT_EVERY = 20


@dataclass(frozen=True)
class SettledRange:
    """Journal sequence numbers ``lo..hi`` that one pull batch wrote (one contiguous block,
    as every transaction's are), where the hub and the system agreed afterwards except for
    the records at ``unsettled``: the push that follows need not read the others again."""

    lo: int
    hi: int
    unsettled: tuple[int, ...] = ()


@dataclass
class SyncContext:
    store: HubStore
    connector: Connector
    profile: Profile
    system: str
    clock: Clock
    dry_run: bool = False
    batch_size: int = 500
    # Read every record again, not the changes since the cursor: for what a system
    # changes without moving its change stamp (a restored backup, a bulk fix in SQL, a
    # link-table flag). Unchanged records are dropped by version; the cursor moves on
    # with the read, so a read cut short is carried on by the next run.
    full_read: bool = False
    run_id: int | None = None
    # Hub records the user asked to send to the system (create policy "on_request").
    requested: set[int] = field(default_factory=set)
    progress: ProgressCallback | None = None
    # Per entity, what this run's pull wrote in agreement with the system (in seq order).
    settled: dict[str, list[SettledRange]] = field(default_factory=dict)
    plan: Plan = field(init=False)
    _batches: int = 0
    _dry_conn: Connection | None = None
    # Crash injection for tests: called with a step name between the steps of a run.
    checkpoint: Callable[[str], None] | None = None
    # Runs of other systems going on at the same time (`accord sync` of several systems):
    # whether one may still bring changes of an entity into the hub. The push of that
    # entity goes on sending what they write until none may.
    upstream: Callable[[str], bool] | None = None
    # Told of each entity this run will pull no more (pulled, failed, or not pulling).
    pulled: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        self.plan = Plan(self.system, self.dry_run)

    def now(self) -> str:
        return to_iso(self.clock.now())

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A unit of work. In a dry run all units share one transaction rolled back at the end."""
        if self._dry_conn is not None:
            savepoint = self._dry_conn.begin_nested()
            try:
                yield self._dry_conn
            except BaseException:
                savepoint.rollback()
                raise
            else:
                savepoint.commit()
            return
        with self.store.transaction() as conn:
            yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read that writes nothing: on SQLite it takes no write lock, so another run
        writing the hub meanwhile (a second system's sync) is not held up."""
        if self._dry_conn is not None:
            with self.transaction() as conn:
                yield conn
            return
        with self.store.reading() as conn:
            yield conn

    def step(self, name: str) -> None:
        if self.checkpoint is not None:
            self.checkpoint(name)

    def others_pulling(self, entity: str) -> bool:
        return self.upstream is not None and self.upstream(entity)

    def done_pulling(self, entity: str) -> None:
        if self.pulled is not None:
            self.pulled(entity)

    def report(self, entity: str, phase: str, done: int) -> None:
        """Called after every batch: tells the progress callback, and now and then
        collects cyclic garbage (see ``engine.run._fewer_collections``)."""
        self._batches += 1
        if self._batches % COLLECT_EVERY == 0:
            gc.collect()
        if self.progress is not None:
            self.progress(entity, phase, done)
