"""A connector for tables in any SQL database SQLAlchemy reaches (SQLite, PostgreSQL, MariaDB).

Tables and columns come from ``TableSpec`` declarations; native field names are column
names. Change detection, per table:

* ``modified``: keyset pages ordered by (modified, key). A later read starts
  ``overlap_seconds`` before the cursor, because rows committed late or stamped by a clock
  minutes behind would otherwise be skipped; the engine drops the re-read rows, whose
  versions it already holds. An index on (modified, key) keeps each page cheap. Rows we
  write ourselves are stamped once per batch; the cursor carries those stamps
  (``note_writes``), so the next read leaves such rows out without building their
  records, unless somebody changed them since (which changes the stamp). Only stamps
  with sub-millisecond digits are used that way: on a coarse clock, somebody's edit in the
  same tick could carry our stamp, and only the version's hash tells it apart.
* ``rowversion``: keyset pages ordered by (rowversion, key), no overlap.
* neither: every read scans the whole table in key order and the engine compares hashes,
  so this costs a full table read per run; use it for small tables only.

Versions are the stamp plus a hash of the declared values, so an edit within one tick of
a coarse clock still changes the version. With a fan-out, changes are found through the
child's stamp: an edit of the link row alone is seen when the child row next changes (or
on a read from no cursor). Writes take a few statements per batch rather than per record
and return the versions a later read sees (``_Batch``). A marker column wants an index:
every batch of creates looks its markers up. Only SQLAlchemy Core is used.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    Select,
    Text,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy import exc as sa_exc

from accord.clock import Clock, SystemClock, from_iso, to_iso, zone_named
from accord.connectors.base import (
    Capabilities,
    ChangeBatch,
    ExternalRecord,
    Operation,
    OperationResult,
)
from accord.connectors.sql_tables import (
    LINK_CHILD,
    MARKER,
    ORDER,
    ORDER_TEXT,
    BadKeyError,
    FanOut,
    Shape,
    TableSpec,
    coerce,
    own_stamp,
    reflect,
    same_zone,
)
from accord.errors import ConfigError, ConnectorError, PermanentError, TransientError
from accord.store.database import make_system_engine

__all__ = ["FULL_SCAN", "FanOut", "SqlConnector", "TableSpec"]

FULL_SCAN = "full-scan"  # the cursor after a hash-mode scan: something for the engine to store
IN_CHUNK = 500  # keys per IN list; well under every driver's parameter limit
KEY_PAGE = 5000
# Own-write stamps a cursor keeps at most (one per written batch; dropping some is safe:
# those rows are read again and recognised by their versions).
MAX_OWN = 2000
# Own stamps a read leaves out in SQL (NOT IN): SQL Server takes 2,100 parameters at most.
SQL_EXCLUDED_STAMPS = 500
# Names of the bound key values in the WHERE of an UPDATE whose SET takes the column names.
WHERE_KEY, WHERE_PARENT = "accord_where_key", "accord_where_parent"

Order = list[tuple[Any, str]]  # (column, label in the select) in sort order
Phase = tuple[ColumnElement[bool] | None, Order, tuple[Any, ...] | None]  # where, order, after


class SqlConnector:
    def __init__(
        self,
        name: str,
        url: str,
        tables: Sequence[TableSpec],
        clock: Clock | None = None,
        *,
        engine: Engine | None = None,
        time_zone: str = "UTC",
    ) -> None:
        """``time_zone``: the IANA zone of the naive date-times the database holds (an
        on-premises ERP usually stamps rows in its server's local time)."""
        self.name = name
        self.clock = clock or SystemClock()
        try:
            self.zone = zone_named(time_zone)
        except ConfigError as exc:
            exc.system = name
            raise
        self._owns_engine = engine is None
        self.engine = engine if engine is not None else make_system_engine(url)
        try:
            self._shapes = reflect(self.engine, tables, self.zone)
        except ConfigError as exc:
            exc.system = name
            self.close()
            raise
        except sa_exc.SQLAlchemyError as exc:
            self.close()
            raise _error(name, None, exc) from exc
        dialect = self.engine.dialect
        self._sqlite = dialect.name == "sqlite"
        # What the database can return from writes (SQLite >= 3.35, PostgreSQL, MariaDB
        # inserts); without it, written rows are read back.
        self._bulk_returning = bool(dialect.insert_executemany_returning)
        self._bulk_returning_ordered = bool(
            dialect.insert_executemany_returning_sort_by_parameter_order
        )
        self._update_returning = bool(dialect.update_returning)
        # Modified times of committed batches by whether the batch wrote every record of
        # every row it stamped (see ``note_writes``).
        self._stamps_whole: set[str] = set()
        self._stamps_partial: set[str] = set()
        # Shared (fan-out) child rows this connector wrote, by (entity, child key): the
        # row before its first write, and the modified times written to it since. A later
        # batch then tells a record moved only by our writes from one somebody changed.
        self._written_rows: dict[tuple[str, str], _WrittenRow] = {}

    # -- the connector protocol ----------------------------------------------------------
    def entities(self) -> Sequence[str]:
        return list(self._shapes)

    def capabilities(self, entity: str) -> Capabilities:
        spec = self._shape(entity).spec
        return Capabilities(
            idempotent_create=spec.marker is not None,
            list_keys=True,
            modified_time=spec.modified is not None,
            conditional_update=True,
        )

    def read_changes(
        self, entity: str, cursor: str | None, batch_size: int
    ) -> Iterator[ChangeBatch]:
        shape, size = self._shape(entity), max(1, batch_size)
        if shape.order_col is None:
            # Hash mode: the engine stores no cursor until the whole table has been read.
            records: list[ExternalRecord] | None = None
            for rows in self._pages(entity, shape.select(), (None, shape.key_order(), None), size):
                if records is not None:
                    yield ChangeBatch(records, None)
                records = [shape.record(row) for row in rows]
            yield ChangeBatch(records or [], FULL_SCAN)
            return
        own = shape.own_stamps(cursor) if shape.parse_cursor(cursor) is not None else []
        if not own:
            horizon = self._horizon(entity, shape)
            for phase in self._phases(shape, cursor):
                for rows in self._pages(entity, shape.select(), phase, size):
                    last = self._last_before(shape, rows, horizon)
                    position = None if last is None else shape.cursor(last)
                    yield ChangeBatch([shape.record(r) for r in rows], position)
            return
        yield from self._changes_past_own(entity, shape, cursor, own, size)

    def _horizon(self, entity: str, shape: Shape) -> str | None:
        """The latest stamp a cursor may move to: a little past now, by the database's
        clock (the one that stamps its rows, or closest to it)."""
        if shape.spec.modified is None:
            return None
        with self._reading(entity) as conn:
            now = conn.execute(select(func.current_timestamp())).scalar_one()
        if isinstance(now, str):  # SQLite answers text: 'YYYY-MM-DD HH:MM:SS'
            now = datetime.fromisoformat(now)
        if not isinstance(now, datetime):
            return None
        if now.tzinfo is None:
            # SQLite's clock is UTC, as is our MySQL session's; others answer local time.
            utc_clock = self.engine.dialect.name in ("sqlite", "mysql", "mariadb")
            now = now.replace(tzinfo=UTC if utc_clock else self.zone)
        return to_iso(now.astimezone(UTC) + timedelta(seconds=shape.spec.overlap_seconds))

    @staticmethod
    def _last_before(shape: Shape, rows: Sequence[Any], horizon: str | None) -> Any | None:
        """The last of ``rows`` (in cursor order) stamped before the horizon: the cursor
        moves to it, not past it.

        A row stamped in the future (a wrong clock, a typo in an import) would move the
        cursor past every edit made until then; it is read again each run instead (and
        dropped by version) until its time comes. None: keep the cursor before ``rows``.
        """
        at = shape.stamp_index
        for row in reversed(rows):
            stamp = row[at]
            if horizon is None or stamp is None or to_iso(shape.utc(stamp)) <= horizon:
                return row
        return None

    def _changes_past_own(
        self, entity: str, shape: Shape, cursor: str | None, own: list[str], size: int
    ) -> Iterator[ChangeBatch]:
        """Changes since a cursor, leaving out rows still as our own writes left them.

        A row whose modified time is one we wrote (see ``own_stamp``) has not been
        changed since, by anybody: its record is not even built. Skipped pages only move
        the cursor, carried by the next batch (or an empty one at the end).
        """
        zone = shape.cursor_zone(cursor)
        ours = {shape.stored(from_iso(stamp), zone): stamp for stamp in own}
        if not same_zone(zone, shape.stamp_zone):
            own = []  # stamps named in another zone: not carried into the new cursor
        at = shape.stamp_index
        overlap = timedelta(seconds=shape.spec.overlap_seconds)
        waiting: str | None = None
        horizon = self._horizon(entity, shape)

        def position_at(row: Any) -> str | None:
            bounded = self._last_before(shape, [row], horizon)
            if bounded is None:
                return None
            last = bounded[at]
            # Stamps the next read's window has left behind are of no more use.
            floor = to_iso(shape.utc(last) - overlap) if last is not None else ""
            return shape.cursor(bounded, [stamp for stamp in own if stamp >= floor])

        # The database leaves our rows out (the newest stamps, up to a bound that keeps
        # every database's parameter limit): after a large push of ours, a read of the
        # window passes them in the index instead of in pages. Rows of older own stamps
        # are read narrow (keys and stamps) first, and skipped here.
        excluded = sorted(ours, key=lambda value: ours[value])[-SQL_EXCLUDED_STAMPS:]
        skippable = (shape.select_order(), lambda row: row[at] in ours)
        col = shape.order_col
        assert col is not None
        phases = self._phases(shape, cursor)
        last_read: Row[Any] | None = None
        for where, order, after in phases:
            left_out = or_(col.is_(None), col.not_in(excluded))  # NULL NOT IN: not true
            phase = (left_out if where is None else and_(where, left_out), order, after)
            last_read = None
            for rows in self._pages(entity, shape.select(), phase, size, skippable):
                bounded = self._last_before(shape, rows, horizon)
                if bounded is not None:  # a row stamped in the future pins nothing
                    last_read = bounded
                position = None if bounded is None else position_at(bounded)
                records = [shape.record(r) for r in rows if r[at] not in ours]
                if records:
                    waiting = None
                    yield ChangeBatch(records, position)
                elif position is not None:
                    waiting = position
        # Every row left out is ours: past the last read, the cursor moves on to the last
        # of them (not to any later row, which may be somebody's write made meanwhile).
        where, order, after = phases[-1]
        ours_only = col.in_(excluded)
        phase = (ours_only if where is None else and_(where, ours_only), order, after)
        tail = self._last_row(entity, shape, phase)
        labels = [label for _, label in order]
        if tail is not None and (
            last_read is None or _sort_key(tail, labels) > _sort_key(last_read, labels)
        ):
            waiting = position_at(tail) or waiting
        if waiting is not None:
            yield ChangeBatch([], waiting)

    def _last_row(self, entity: str, shape: Shape, phase: Phase) -> Row[Any] | None:
        """The last row of a read ``phase`` (keys and stamp), or None when it has none."""
        where, order, after = phase
        columns = [col for col, _ in order]
        stmt = shape.select_order()
        if where is not None:
            stmt = stmt.where(where)
        if after is not None:
            stmt = stmt.where(_after(columns, after))
        with self._reading(entity) as conn:
            return conn.execute(stmt.order_by(*(c.desc() for c in columns)).limit(1)).first()

    def full_read_cursor(self, entity: str, cursor: str | None) -> str | None:
        return None  # every row, from the start (own-write stamps dropped too)

    def note_writes(
        self, entity: str, cursor: str | None, results: Sequence[OperationResult]
    ) -> str | None:
        shape = self._shape(entity)
        if shape.spec.modified is None or (cursor and shape.parse_cursor(cursor) is None):
            return cursor  # a cursor we cannot read is left for read_changes to refuse
        if cursor and not same_zone(shape.cursor_zone(cursor), shape.stamp_zone):
            return cursor  # its stamps are in another zone; the next read rewrites it
        written = {r.modified_at for r in results if r.ok and r.modified_at}
        # A fan-out row shared by several records, written for one of them, shows the
        # write in the others too, whose bases did not move: only stamps of batches that
        # wrote every record of every row they stamped can be skipped.
        fresh = {
            stamp
            for stamp in written
            if own_stamp(stamp)
            and stamp in self._stamps_whole
            and stamp not in self._stamps_partial
        }
        if not fresh:
            return cursor
        own = sorted(set(shape.own_stamps(cursor)) | fresh)[-MAX_OWN:]
        # No cursor yet (nothing read so far, say an empty table): one that still reads
        # everything next time, but knows our writes.
        data = json.loads(cursor) if cursor else {"t": None, "k": [], **shape.zone_entry()}
        data["own"] = own
        return json.dumps(data)

    def read_by_keys(self, entity: str, keys: Sequence[str]) -> list[ExternalRecord]:
        shape = self._shape(entity)
        children: dict[Any, None] = {}
        for key in keys:
            try:
                children[shape.parse_key(key)[0]] = None
            except BadKeyError:
                continue  # no row can have it: reported as deleted below
        wanted, found = list(children), dict[str, ExternalRecord]()
        for start in range(0, len(wanted), IN_CHUNK):
            stmt = shape.select().where(shape.key_col.in_(wanted[start : start + IN_CHUNK]))
            with self._reading(entity) as conn:
                rows = conn.execute(stmt).all()
            found.update((rec.key, rec) for rec in map(shape.record, rows))
        return [found.get(key) or ExternalRecord(key, {}, deleted=True) for key in keys]

    def count(self, entity: str) -> int:
        shape = self._shape(entity)
        query = select(func.count()).select_from(shape.source)
        with self._reading(entity) as conn:
            return int(conn.execute(query).scalar_one())

    def list_keys(self, entity: str) -> Iterator[str]:
        shape = self._shape(entity)
        for rows in self._pages(
            entity, shape.select_keys(), (None, shape.key_order(), None), KEY_PAGE
        ):
            yield from map(shape.row_key, rows)

    def refusals(
        self, entity: str, operations: Sequence[Operation]
    ) -> list[OperationResult | None]:
        shape = self._shape(entity)
        return [shape.refusal(op) for op in operations]

    def apply(self, entity: str, operations: Sequence[Operation]) -> list[OperationResult]:
        shape = self._shape(entity)
        refused = enumerate(self.refusals(entity, operations))
        results = {i: r for i, r in refused if r is not None}
        todo = [(i, op) for i, op in enumerate(operations) if i not in results]
        if todo:
            try:
                # Optimistically one transaction for the batch; one record's database error
                # rolls it all back and the batch is redone one record per transaction.
                with self._writing() as conn:
                    batch = self._apply_all(conn, shape, todo)
                self._committed(batch)
                results.update(batch.results)
            except sa_exc.SQLAlchemyError as exc:
                if _transient(exc):
                    raise _error(self.name, entity, exc) from exc
                results.update(self._one_by_one(entity, shape, todo))
        return [results[i] for i in range(len(operations))]

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    # -- reading ----------------------------------------------------------------------------
    def _shape(self, entity: str) -> Shape:
        try:
            return self._shapes[entity]
        except KeyError:
            raise ConfigError(f"unknown entity {entity}", system=self.name) from None

    @contextmanager
    def _reading(self, entity: str) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except sa_exc.SQLAlchemyError as exc:
            raise _error(self.name, entity, exc) from exc

    def _pages(
        self,
        entity: str,
        base: Select[Any],
        phase: Phase,
        size: int,
        skippable: tuple[Select[Any], Callable[[Row[Any]], bool]] | None = None,
    ) -> Iterator[Sequence[Row[Any]]]:
        """Keyset pages: each query starts strictly after the last row of the one before.

        A short connection per page: no transaction stays open while the engine works.
        With ``skippable`` (a narrower select of the order columns, and which of its rows
        the caller will skip), a page is read narrow first, and in full only if it holds a
        row the caller wants: a page it skips whole comes back narrow.
        """
        where, order, after = phase
        columns = [col for col, _ in order]

        def page(select: Select[Any]) -> Sequence[Row[Any]]:
            stmt = select if where is None else select.where(where)
            if after is not None:
                stmt = stmt.where(_after(columns, after))
            with self._reading(entity) as conn:
                return conn.execute(stmt.order_by(*columns).limit(size)).all()

        while True:
            if skippable is None:
                rows = page(base)
            else:
                narrow, skipped = skippable
                rows = page(narrow)
                if not all(map(skipped, rows)):
                    rows = page(base)
            if rows:
                yield rows
            if len(rows) < size:
                return
            last = rows[-1]._mapping
            after = tuple(_stored(last, label) for _, label in order)

    def _phases(self, shape: Shape, cursor: str | None) -> list[Phase]:
        """Rows without a stamp come first (as if stamped at the epoch), then the rest."""
        col = shape.order_col
        assert col is not None
        keys = shape.key_order()
        stamped: Order = [(col, ORDER), *keys]
        nulls: Phase = (col.is_(None), keys, None)
        everything: Phase = (col.is_not(None), stamped, None)
        state = shape.parse_cursor(cursor)
        if state is None:
            return [nulls, everything]
        stamp, parts = state
        if stamp is None:  # stopped among the unstamped rows
            return [(col.is_(None), keys, parts) if parts else nulls, everything]
        if shape.spec.modified is not None:
            moment, zone = from_iso(stamp), shape.cursor_zone(cursor)
            since = shape.stored(moment, zone)
            window = timedelta(seconds=shape.spec.overlap_seconds)
            window += shape.step_back(moment, zone)  # clocks going back: the hour again
            if window:
                return [(col >= since - window, stamped, None)]
            # No window: continue from the stamp exactly as stored, where it is text.
            text = shape.cursor_stored(cursor)
            exact: Any = since if text is None else literal(text, Text())
            if not parts:
                return [(col >= exact, stamped, None)]
            return [(None, stamped, (exact, *parts))]
        if not parts:
            return [(col >= int(stamp), stamped, None)]
        return [(None, stamped, (int(stamp), *parts))]

    # -- writing ----------------------------------------------------------------------------
    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            if self._sqlite and not getattr(
                conn.connection.dbapi_connection, "in_transaction", True
            ):
                # Legacy pysqlite begins no transaction before a SELECT: take the write lock
                # first, so a version check and its write cannot interleave with a writer.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn

    def _one_by_one(
        self, entity: str, shape: Shape, todo: list[tuple[int, Operation]]
    ) -> dict[int, OperationResult]:
        results: dict[int, OperationResult] = {}
        committed = False
        for n, (i, op) in enumerate(todo):
            try:
                with self._writing() as conn:
                    batch = self._apply_all(conn, shape, [(i, op)])
                self._committed(batch)
                results.update(batch.results)
            except sa_exc.SQLAlchemyError as exc:
                if not _transient(exc):
                    results[i] = OperationResult(False, op.key, error=_message(exc))
                    continue
                if not committed:
                    raise _error(self.name, entity, exc) from exc
                # Raising would hide what is already committed; the rest is retried later.
                for j, rest in todo[n:]:
                    results[j] = OperationResult(
                        False, rest.key, error=_message(exc), transient=True
                    )
                break
            committed = True
        return results

    def _apply_all(
        self, conn: Connection, shape: Shape, todo: list[tuple[int, Operation]]
    ) -> _Batch:
        batch = _Batch(self, conn, shape)
        batch.run(todo)
        return batch

    def _committed(self, batch: _Batch) -> None:
        entity = batch.shape.spec.name
        for child, before in batch.before_write.items():
            row = self._written_rows.setdefault((entity, child), _WrittenRow(before))
            row.stamps.add(batch.now)
        stamp = to_iso(batch.shape.utc(batch.now))
        if batch.wrote_whole_rows():
            self._stamps_whole.add(stamp)
        else:
            self._stamps_partial.add(stamp)

    def _now(self, shape: Shape) -> datetime:
        return shape.stored(self.clock.now())


# -- writing a batch --------------------------------------------------------------------------
_UNSET = object()  # a column a change did not write


@dataclass(eq=False)
class _WrittenRow:
    """A shared child row as it was before our first write, and the stamps we wrote."""

    before: tuple[Any, ...]
    stamps: set[Any] = field(default_factory=set)


@dataclass(eq=False)
class _NewChild:
    """A child row to insert; ``key`` (and ``part``: key, stamp, fields) once written."""

    params: dict[str, Any]
    marker: str | None
    part: tuple[Any, ...] | None = None
    key: Any = None
    norm: str | None = None  # the key normalised, once known


@dataclass(eq=False)
class _NewLink:
    """A link row to insert for a child that exists or is about to."""

    child: _NewChild | str  # the new child, or the normalised key of an existing one
    parent: str  # normalised parent key
    params: dict[str, Any]


class _Batch:
    """One ``apply`` batch on one connection, in a few statements whatever its size.

    The rows the batch touches are read up front: one IN query per chunk of the keys to
    change (locked where the database locks rows) and one per chunk of the creates'
    markers. Changes are then written in order, one UPDATE or DELETE per row and table;
    their new versions come from RETURNING rather than from reading the rows again.
    Creates are planned as they come and written together at the end: one executemany
    INSERT of child rows, then one of link rows (one per set of columns given), each
    RETURNING what a later read sees, server defaults and the database's own types and
    padding included. Created rows are matched to their operations by marker (link rows:
    by child key), so the driver may send many rows per statement; creates without a
    marker rely on ordered RETURNING, which SQLAlchemy runs a row at a time where it
    cannot be sure of the order. A change of a row that a planned create is to insert
    writes the planned creates first. Without RETURNING (UPDATE on MariaDB and MySQL),
    updated rows are read back together at the end, one IN query per chunk, or sooner if a
    later operation of the batch touches them.

    The batch keeps the current parts of the rows: ``children`` (normalised child key ->
    child part) and ``links`` ((child, parent) -> link part). A record is a child part
    plus, with a fan-out, a link part, so a change of a shared child row shows in every
    record of that child (and makes their expected versions stale, as it should).
    """

    def __init__(self, connector: SqlConnector, conn: Connection, shape: Shape) -> None:
        self.db = connector
        self.conn = conn
        self.shape = shape
        self.norm = shape.match_text  # keys and markers as matched within the batch
        self.fan = shape.spec.fan_out if shape.link is not None else None
        self.results: dict[int, OperationResult] = {}
        self.children: dict[str, tuple[Any, ...]] = {}
        self.links: dict[tuple[str, str], tuple[Any, ...]] = {}
        self.parents: dict[str, set[str]] = {}  # child -> the parents in ``links``
        self.markers: dict[str, str] = {}  # normalised marker -> normalised child key
        self.new_children: list[_NewChild] = []
        self.new_links: list[_NewLink] = []
        self.by_marker: dict[str, _NewChild] = {}  # markers of the children to insert
        self.planned: dict[tuple[int | str, str], _NewLink] = {}  # link rows to insert
        self.given_keys: set[str] = set()  # child keys given by the creates to insert
        self.waiting: list[tuple[int, _NewChild | str, str]] = []  # creates to answer
        # Updates written without RETURNING, to read back: index -> (child, parent, raw key, op key)
        self.unread: dict[int, tuple[str, str, Any, str | None]] = {}
        self.unread_children: set[str] = set()
        # One modified time for every row the batch writes: a handful of stamps per push
        # then names all of our own writes (``note_writes``).
        self.now = connector._now(shape)
        self.stamped: set[str] = set()  # normalised keys of the child rows written
        # Shared child rows changed for several records (two copies of one contact edited
        # in the hub): each row's part before the batch wrote it, the changes of its
        # records (operation, child values written), and the values the row ends with.
        self.before_write: dict[str, tuple[Any, ...]] = {}
        self.changes: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.final: dict[str, dict[str, Any]] = {}
        self.superseded: set[int] = set()

    def run(self, todo: list[tuple[int, Operation]]) -> dict[int, OperationResult]:
        shape = self.shape
        keys: list[Any] = []
        for _, op in todo:
            if op.kind != "create":
                try:
                    keys.append(shape.parse_key(op.key or "")[0])
                except BadKeyError:
                    continue
        self._load(shape.key_col, keys, lock=True)
        if shape.marker_col is not None:
            markers = [op.marker for _, op in todo if op.kind == "create" and op.marker]
            self._load(shape.marker_col, markers, lock=False, marker=True)
        for i, op in todo:
            if op.kind == "create":
                self._create(i, op)
            elif (result := self._change(i, op)) is not None:
                self.results[i] = result
        self._flush()
        self._read_back()
        self._forget_moved_versions()
        return self.results

    def _forget_moved_versions(self) -> None:
        """Records whose shared row another change of the batch wrote other values to get
        no version: the next read compares them in full, so they take those values too
        (the later change's, where two wrote a field)."""
        for child, changes in self.changes.items():
            final = self.final.get(child)
            if final is None or len(changes) < 2:
                continue
            for i, written in changes:
                if any(written.get(n, _UNSET) != value for n, value in final.items()):
                    self.superseded.add(i)
        for i in self.superseded:
            result = self.results.get(i)
            if result is not None and result.ok:
                self.results[i] = replace(result, version=None)

    def wrote_whole_rows(self) -> bool:
        """Whether every record of every child row the batch wrote is among its writes
        with the row as it now is (none was moved on by a later write of the row)."""
        if self.fan is None or not self.stamped:
            return True
        if self.superseded:
            return False
        written: set[tuple[str, str]] = set()
        for result in self.results.values():
            if result.ok and result.key:
                child, parent = self.shape.parse_key(result.key)
                written.add((self.norm(child), self.norm(parent)))
        return all(pair in written for pair in self.links if pair[0] in self.stamped)

    def _read_back(self) -> None:
        """Answer the updates written without RETURNING from the rows as they now are."""
        if not self.unread:
            return
        self._load(self.shape.key_col, [raw for _, _, raw, _ in self.unread.values()], lock=False)
        for i, (k, p, _, key) in self.unread.items():
            written = self._current(k, p)
            error = f"no {self.shape.spec.name} with key {key}"
            self.results[i] = _ok(written) if written else OperationResult(False, key, error=error)
        self.unread, self.unread_children = {}, set()

    # -- reading --------------------------------------------------------------------------
    def _load(self, col: Any, values: list[Any], *, lock: bool, marker: bool = False) -> None:
        """Keep the parts of the rows whose ``col`` is one of ``values``."""
        shape, width = self.shape, self.shape.child_width
        wanted = list(dict.fromkeys(values))
        base = shape.parts_select(outer=marker)
        if marker:
            base = base.add_columns(col.label(MARKER))
        for start in range(0, len(wanted), IN_CHUNK):
            stmt = base.where(col.in_(wanted[start : start + IN_CHUNK]))
            if lock and not self.db._sqlite:  # SQLite write transactions are serialised
                stmt = stmt.with_for_update()
            for row in self.conn.execute(stmt):
                child = tuple(row[:width])
                key = self.norm(child[0])
                self.children[key] = child
                if self.fan is not None:
                    link = tuple(row[width : width + 1 + len(self.fan.columns)])
                    if link[0] is not None:  # an outer join's child without link rows
                        self._link(key, self.norm(link[0]), link)
                if marker:
                    self.markers.setdefault(self.norm(row[-1]), key)

    def _current(self, child: str, parent: str) -> ExternalRecord | None:
        part = self.children.get(child)
        if part is None:
            return None
        if self.fan is None:
            return self.shape.compose(part, None)
        link = self.links.get((child, parent))
        return None if link is None else self.shape.compose(part, link)

    # -- changes ----------------------------------------------------------------------------
    def _change(self, i: int, op: Operation) -> OperationResult | None:
        """Write one update or delete; None when its answer waits for ``_read_back``."""
        shape, conn = self.shape, self.conn
        key = op.key or ""
        missing = OperationResult(False, op.key, error=f"no {shape.spec.name} with key {key}")
        try:
            child, parent = shape.parse_key(key)
        except BadKeyError:
            return missing
        k, p = self.norm(child), self.norm(parent) if self.fan is not None else ""
        if k in self.given_keys or (k, p) in self.planned:
            self._flush()  # it is among the creates not written yet
        if k in self.unread_children:
            self._read_back()  # an earlier operation of this batch wrote it
        current = self._current(k, p)
        if current is None:
            return missing
        expected = op.expected_version
        if expected not in (None, current.version):
            moved = self._moved_by_us(k, p, expected)
            if moved is None:
                return OperationResult(False, op.key, error="changed since read", stale=True)
            if moved == "earlier":
                self.superseded.add(i)  # its record holds what an earlier batch wrote
        if op.kind == "delete" or (op.kind == "deactivate" and self._shared(k, p)):
            # A deactivation of one copy of a child row other parents still link to (a
            # contact of several accounts, removed from one) takes that parent's link row
            # away only: deactivating the shared row would take it from the others too.
            if shape.link is not None and shape.link_child_col is not None:
                where = (shape.link_child_col == child) & (shape.parent_col == parent)
                conn.execute(delete(shape.link).where(where))
                del self.links[k, p]
                self.parents[k].discard(p)
            else:
                conn.execute(delete(shape.child).where(shape.key_col == child))
                del self.children[k]
            return OperationResult(True, op.key)
        fan = self.fan
        for name, value in ((shape.spec.key, child), (fan and fan.parent_key, parent)):
            if name in op.values and str(op.values[name]) != str(value):
                return OperationResult(False, op.key, error=f"{name} cannot change", field=name)
        child_values = {
            n: v for n, v in op.values.items() if n in shape.child_fields and n != shape.spec.key
        }
        link_values = {n: v for n, v in op.values.items() if n in shape.link_fields}
        if not child_values and not link_values:
            return _ok(current)
        if fan is not None:  # only shared rows are written for several records
            self.changes.setdefault(k, []).append((i, child_values))
            if child_values:
                self.final.setdefault(k, {}).update(child_values)
                self.before_write.setdefault(k, self.children[k])
        returning = self.db._update_returning
        if child_values:
            stamp = {}
            if shape.spec.modified is not None and shape.order_col is not None:
                stamp = {shape.order_col.name: self.now}
            result = conn.execute(self._update_child, {**child_values, **stamp, WHERE_KEY: child})
            self.stamped.add(k)
            self._update_copies(child, child_values)
            if returning:
                if (row := result.first()) is None:
                    return missing
                self.children[k] = tuple(row)
        if link_values:
            params = {**link_values, WHERE_KEY: child, WHERE_PARENT: parent}
            result = conn.execute(self._update_link, params)
            if returning:
                if (row := result.first()) is None:
                    return missing
                self.links[k, p] = tuple(row)
        if not returning:  # read the row back later, with the others
            self.unread[i] = (k, p, child, op.key)
            self.unread_children.add(k)
            return None
        written = self._current(k, p)
        return _ok(written) if written else missing

    def _update_copies(self, child: Any, values: dict[str, Any]) -> None:
        """Keep the link rows' copies of the child's columns equal to them, on every
        parent's link row (the copies are of the child, not of one link)."""
        shape, fan = self.shape, self.fan
        copied = {n: v for n, v in values.items() if fan is not None and n in fan.copies}
        if not copied or shape.link is None or shape.link_child_col is None:
            return
        where = shape.link_child_col == child
        self.conn.execute(update(shape.link).where(where).values(copied))

    def _moved_by_us(self, child: str, parent: str, expected: str) -> str | None:
        """Whether the record was at ``expected`` before our own writes of its shared
        child row for other records: "batch" (this batch wrote it), "earlier" (an earlier
        batch of this run did, and nobody since), or None (somebody else changed it).
        The later of two hub edits of one shared contact then goes on top."""
        link = self.links.get((child, parent))
        before = self.before_write.get(child)
        moved = "batch"
        if before is None:
            earlier = self.db._written_rows.get((self.shape.spec.name, child))
            if earlier is None or not self._last_written_by_us(child, earlier):
                return None
            before, moved = earlier.before, "earlier"
        if link is None or self.shape.compose(before, link).version != expected:
            return None
        return moved

    def _last_written_by_us(self, child: str, row: _WrittenRow) -> bool:
        """Whether the row's modified time is one we wrote (a row without one: unknown)."""
        if self.shape.spec.modified is None or self.shape.order_col is None:
            return False
        return self.children[child][1] in row.stamps  # the child part: key, stamp, fields

    def _shared(self, child: str, parent: str) -> bool:
        """Whether other parents link to this child row too (``_load`` read them all)."""
        if self.fan is None:
            return False
        return bool(self.parents.get(child, set()) - {parent})

    def _link(self, child: str, parent: str, row: tuple[Any, ...]) -> None:
        self.links[child, parent] = row
        self.parents.setdefault(child, set()).add(parent)

    @cached_property
    def _update_child(self) -> Any:
        """UPDATE of one child row by key; the columns set are those of the parameters."""
        shape = self.shape
        stmt = update(shape.child).where(shape.key_col == bindparam(WHERE_KEY))
        col = shape.order_col
        if shape.spec.rowversion is not None and col is not None:
            stmt = stmt.values({col.name: func.coalesce(col, 0) + 1})
        return stmt.returning(*shape.child_columns()) if self.db._update_returning else stmt

    @cached_property
    def _update_link(self) -> Any:
        shape = self.shape
        assert shape.link is not None and shape.link_child_col is not None
        assert shape.parent_col is not None
        where = (shape.link_child_col == bindparam(WHERE_KEY)) & (
            shape.parent_col == bindparam(WHERE_PARENT)
        )
        stmt = update(shape.link).where(where)
        return stmt.returning(*shape.link_columns()) if self.db._update_returning else stmt

    # -- creates ----------------------------------------------------------------------------
    def _create(self, i: int, op: Operation) -> None:
        """Answer from a row that exists, or plan the rows to insert; written by _flush."""
        shape, fan = self.shape, self.fan
        parent: Any = None
        if fan is not None and shape.parent_col is not None:
            parent = coerce(shape.parent_col, op.values.get(fan.parent_key))
        p = self.norm(parent) if fan is not None else ""
        marker = op.marker if shape.marker_col is not None and op.marker else None
        m = "" if marker is None else self.norm(marker)
        child: _NewChild | str | None = None
        if marker is not None:
            child = self.by_marker.get(m)
            if child is None and self.markers.get(m) in self.children:
                child = self.markers[m]  # created before, and still there
        if child is None:
            params = self._child_params(op, marker)
            if fan is not None and fan.home is not None:
                params[fan.home] = parent
            child = _NewChild(params, marker)
            self.new_children.append(child)
            if marker is not None:
                self.by_marker[m] = child
            given = child.params.get(shape.spec.key)
            if given is not None:
                self.given_keys.add(self.norm(given))
        elif isinstance(child, str):
            found = self._current(child, p)
            if found is not None:  # the earlier record: an idempotent create changes nothing
                self.results[i] = _ok(found)
                return
        if fan is not None:
            plan = (child if isinstance(child, str) else id(child), p)
            if plan not in self.planned:
                params = {n: v for n, v in op.values.items() if n in shape.link_fields}
                params.update((n, op.values[n]) for n in fan.copies if n in op.values)
                params[fan.parent_key] = parent
                self.planned[plan] = link = _NewLink(child, p, params)
                self.new_links.append(link)
        self.waiting.append((i, child, p))

    def _child_params(self, op: Operation, marker: str | None) -> dict[str, Any]:
        shape = self.shape
        params = {n: v for n, v in op.values.items() if n in shape.child_fields}
        if marker is not None and shape.marker_col is not None:
            params[shape.marker_col.name] = marker
        col = shape.order_col
        if col is not None:
            if shape.spec.modified is not None:
                params[col.name] = self.now
            elif col.server_default is None:
                params[col.name] = 1  # else the database's default (or trigger) numbers it
        return params

    def _flush(self) -> None:
        """Insert the planned rows and answer the creates waiting for them."""
        if self.new_children:
            self._insert_children(self.new_children)
        if self.new_links:
            self._insert_links(self.new_links)
        for i, child, p in self.waiting:
            key = child if isinstance(child, str) else child.norm
            found = None if key is None else self._current(key, p)
            error = "the created row could not be read back"
            self.results[i] = _ok(found) if found else OperationResult(False, None, error=error)
        self.new_children, self.new_links, self.waiting = [], [], []
        self.by_marker, self.planned, self.given_keys = {}, {}, set()

    def _insert_children(self, rows: list[_NewChild]) -> None:
        shape, conn, db = self.shape, self.conn, self.db
        marker_col = shape.marker_col
        _even([row.params for row in rows], shape.child_nulls)
        groups: dict[tuple[str, ...], list[_NewChild]] = {}
        for row in rows:
            # One statement per set of columns: an executemany binds the same columns.
            groups.setdefault(tuple(sorted(row.params)), []).append(row)
        written: list[_NewChild] = []
        reread: list[Any] = []
        for group in groups.values():
            params = [row.params for row in group]
            if db._bulk_returning and marker_col is not None and group[0].marker is not None:
                # Markers tell the rows apart, so the rows need not come back in order:
                # multi-row inserts even where no sentinel column makes the order certain.
                stmt = insert(shape.child).returning(
                    marker_col.label(MARKER), *shape.child_columns()
                )
                back = {self.norm(r[0]): tuple(r[1:]) for r in conn.execute(stmt, params)}
                for row in group:
                    row.part = back.get(self.norm(row.marker))
            elif db._bulk_returning_ordered:
                stmt = insert(shape.child).returning(
                    *shape.child_columns(), sort_by_parameter_order=True
                )
                for row, part in zip(group, conn.execute(stmt, params), strict=True):
                    row.part = tuple(part)
            else:
                for row in group:
                    result = conn.execute(insert(shape.child).values(row.params))
                    key = row.params.get(shape.spec.key)
                    if key is None and result.inserted_primary_key:
                        key = result.inserted_primary_key[0]
                    row.key = key
                    reread.append(key)
            written += group
        for row in written:
            if row.part is not None:
                row.key = row.part[0]
            if row.key is None:
                continue
            row.norm = self.norm(row.key)
            self.stamped.add(row.norm)
            if row.part is not None:
                self.children[row.norm] = row.part
            if row.marker is not None:
                self.markers[self.norm(row.marker)] = row.norm
        if reread and self.fan is None:  # with a fan-out, once the link rows are in
            self._load(shape.key_col, reread, lock=False)

    def _insert_links(self, rows: list[_NewLink]) -> None:
        shape, conn, fan = self.shape, self.conn, self.fan
        assert fan is not None and shape.link is not None and shape.link_child_col is not None
        # One statement per set of columns, and each child at most once per statement, so
        # the rows RETURNING gives back are told apart by their child key.
        _even([row.params for row in rows], shape.link_nulls)
        groups: dict[tuple[Any, ...], list[tuple[str, _NewLink]]] = {}
        rounds: dict[str, int] = {}
        for row in rows:
            if isinstance(row.child, str):
                child, key = row.child, self.children[row.child][0]
            elif row.child.norm is not None:
                child, key = row.child.norm, row.child.key
            else:
                continue  # its child row could not be read back: the create says so
            row.params[fan.child_key] = key
            n = rounds[child] = rounds.get(child, -1) + 1
            groups.setdefault((n, *sorted(row.params)), []).append((child, row))
        reread: list[Any] = []
        for group in groups.values():
            params = [row.params for _, row in group]
            if self.db._bulk_returning:
                stmt = insert(shape.link).returning(
                    shape.link_child_col.label(LINK_CHILD), *shape.link_columns()
                )
                back = {self.norm(r[0]): tuple(r[1:]) for r in conn.execute(stmt, params)}
                for child, row in group:
                    if child in back:
                        self._link(child, row.parent, back[child])
            else:
                conn.execute(insert(shape.link), params)
                reread += [row.params[fan.child_key] for _, row in group]
        if reread:
            self._load(shape.key_col, reread, lock=False)


# -- helpers --------------------------------------------------------------------------------
def _stored(row: Any, label: str) -> Any:
    """A page's last value of ``label`` to continue after: the modified time as stored
    where the shape reads it as text too (SQLite), else the value as read."""
    if label == ORDER and ORDER_TEXT in row and row[ORDER_TEXT] is not None:
        return literal(row[ORDER_TEXT], Text())
    return row[label]


def _sort_key(row: Row[Any], labels: list[str]) -> tuple[Any, ...]:
    """Where ``row`` stands in a read's order (the order's columns, by their labels)."""
    return tuple(row._mapping[label] for label in labels)


def _after(columns: list[Any], values: tuple[Any, ...]) -> ColumnElement[bool]:
    bound = [
        value if isinstance(value, ColumnElement) else literal(value, col.type)
        for col, value in zip(columns, values, strict=True)
    ]
    if len(columns) == 1:
        result: ColumnElement[bool] = columns[0] > bound[0]
        return result
    return tuple_(*columns) > tuple_(*bound)


def _even(rows: list[dict[str, Any]], nulls: frozenset[str]) -> None:
    """Give every row the ``nulls`` columns some row sets, as NULL where it sets none."""
    given = {name for row in rows for name in row if name in nulls}
    if given:
        for row in rows:
            for name in given:
                row.setdefault(name, None)


def _ok(record: ExternalRecord) -> OperationResult:
    return OperationResult(True, record.key, record.version, record.modified_at)


# MySQL/MariaDB error codes worth a retry: lock wait timeout, deadlock, too many
# connections, server shutting down, connection killed or lost, can't connect.
_MYSQL_TRANSIENT = frozenset({1040, 1053, 1205, 1213, 1927, 2002, 2003, 2006, 2013})


def _transient(exc: sa_exc.SQLAlchemyError) -> bool:
    """Connection trouble, locks, timeouts: retrying later may succeed."""
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        code = _mysql_code(exc.orig)
        if code is not None:
            # MySQL drivers raise OperationalError for refused values too (a CHECK
            # constraint, an impossible date): those fail their record, not the batch.
            return code in _MYSQL_TRANSIENT
        return isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)
    return isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError)


def _mysql_code(error: BaseException | None) -> int | None:
    if error is None or not type(error).__module__.startswith(("pymysql", "MySQLdb", "mysql")):
        return None
    args = getattr(error, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _message(exc: sa_exc.SQLAlchemyError) -> str:
    # The driver's own words: the wrapper's text repeats the SQL and every parameter.
    text = str(getattr(exc, "orig", None) or exc)
    return " ".join(text.split())[:500] or type(exc).__name__


def _error(system: str, entity: str | None, exc: sa_exc.SQLAlchemyError) -> ConnectorError:
    kind = TransientError if _transient(exc) else PermanentError
    return kind(_message(exc), system=system, entity=entity)
