"""A connector for tables in any SQL database SQLAlchemy reaches (SQLite, PostgreSQL, MariaDB).

Tables and columns come from ``TableSpec`` declarations; native field names are column
names. Change detection, per table:

* ``modified``: keyset pages ordered by (modified, key). A later read starts
  ``overlap_seconds`` before the cursor, because rows committed late or stamped by a clock
  minutes behind would otherwise be skipped; the engine drops the re-read rows, whose
  versions it already holds. An index on (modified, key) keeps each page cheap.
* ``rowversion``: keyset pages ordered by (rowversion, key), no overlap.
* neither: every read scans the whole table in key order and the engine compares hashes,
  so this costs a full table read per run; use it for small tables only.

Versions are the stamp plus a hash of the declared values, so an edit within one tick of
a coarse clock still changes the version. With a fan-out, changes are found through the
child's stamp: an edit of the link row alone is seen when the child row next changes (or
on a read from no cursor). Only SQLAlchemy Core is used.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    Row,
    Select,
    delete,
    func,
    insert,
    literal,
    tuple_,
    update,
)
from sqlalchemy import exc as sa_exc

from accord.clock import Clock, SystemClock, as_utc, from_iso
from accord.connectors.base import (
    Capabilities,
    ChangeBatch,
    ExternalRecord,
    Operation,
    OperationResult,
)
from accord.connectors.sql_tables import (
    ORDER,
    BadKeyError,
    FanOut,
    Shape,
    TableSpec,
    coerce,
    reflect,
)
from accord.errors import ConfigError, ConnectorError, PermanentError, TransientError
from accord.store.database import make_engine

__all__ = ["FULL_SCAN", "FanOut", "SqlConnector", "TableSpec"]

FULL_SCAN = "full-scan"  # the cursor after a hash-mode scan: something for the engine to store
IN_CHUNK = 500  # keys per IN list; well under every driver's parameter limit
KEY_PAGE = 5000

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
    ) -> None:
        self.name = name
        self.clock = clock or SystemClock()
        self._owns_engine = engine is None
        self.engine = engine if engine is not None else make_engine(url)
        try:
            self._shapes = reflect(self.engine, tables)
        except ConfigError as exc:
            exc.system = name
            self.close()
            raise
        except sa_exc.SQLAlchemyError as exc:
            self.close()
            raise _error(name, None, exc) from exc
        dialect = self.engine.dialect
        self._sqlite = dialect.name == "sqlite"
        self._bulk_returning = dialect.insert_executemany_returning_sort_by_parameter_order

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
        for phase in self._phases(shape, cursor):
            for rows in self._pages(entity, shape.select(), phase, size):
                yield ChangeBatch([shape.record(r) for r in rows], shape.cursor(rows[-1]))

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

    def list_keys(self, entity: str) -> Iterator[str]:
        shape = self._shape(entity)
        for rows in self._pages(
            entity, shape.select_keys(), (None, shape.key_order(), None), KEY_PAGE
        ):
            yield from map(shape.row_key, rows)

    def apply(self, entity: str, operations: Sequence[Operation]) -> list[OperationResult]:
        shape = self._shape(entity)
        results = {i: r for i, op in enumerate(operations) if (r := shape.refusal(op))}
        todo = [(i, op) for i, op in enumerate(operations) if i not in results]
        if todo:
            try:
                # Optimistically one transaction for the batch; one record's database error
                # rolls it all back and the batch is redone one record per transaction.
                with self._writing() as conn:
                    results.update(self._apply_all(conn, shape, todo))
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
        self, entity: str, base: Select[Any], phase: Phase, size: int
    ) -> Iterator[Sequence[Row[Any]]]:
        """Keyset pages: each query starts strictly after the last row of the one before.

        A short connection per page: no transaction stays open while the engine works.
        """
        where, order, after = phase
        columns = [col for col, _ in order]
        while True:
            stmt = base if where is None else base.where(where)
            if after is not None:
                stmt = stmt.where(_after(columns, after))
            stmt = stmt.order_by(*columns).limit(size)
            with self._reading(entity) as conn:
                rows = conn.execute(stmt).all()
            if rows:
                yield rows
            if len(rows) < size:
                return
            after = tuple(rows[-1]._mapping[label] for _, label in order)

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
            since = self._db_time(shape, from_iso(stamp))
            overlap = shape.spec.overlap_seconds
            if overlap > 0 or not parts:
                return [(col >= since - timedelta(seconds=overlap), stamped, None)]
            return [(None, stamped, (since, *parts))]
        if not parts:
            return [(col >= int(stamp), stamped, None)]
        return [(None, stamped, (int(stamp), *parts))]

    def _db_time(self, shape: Shape, moment: datetime) -> datetime:
        """UTC, naive unless the column stores time zones (naive columns hold UTC)."""
        col = shape.order_col
        aware = col is not None and isinstance(col.type, DateTime) and col.type.timezone
        return as_utc(moment) if aware else as_utc(moment).replace(tzinfo=None)

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
                    results[i] = self._apply_one(conn, shape, op)
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
    ) -> dict[int, OperationResult]:
        results: dict[int, OperationResult] = {}
        creates: list[tuple[int, Operation]] = []
        bulk = self._bulk_returning and shape.link is None
        for i, op in todo:
            if bulk and op.kind == "create":
                creates.append((i, op))
                continue
            if creates:  # flush, so operations keep their order
                results.update(self._create_many(conn, shape, creates))
                creates = []
            results[i] = self._apply_one(conn, shape, op)
        if creates:
            results.update(self._create_many(conn, shape, creates))
        return results

    def _create_many(
        self, conn: Connection, shape: Shape, creates: list[tuple[int, Operation]]
    ) -> dict[int, OperationResult]:
        """Creates as executemany inserts whose RETURNING rows come back in order."""
        results: dict[int, OperationResult] = {}
        markers = [op.marker for _, op in creates if op.marker]
        existing = self._by_marker(conn, shape, markers)
        first: dict[str, int] = {}
        repeats: list[tuple[int, int]] = []
        groups: dict[tuple[str, ...], list[tuple[int, dict[str, Any]]]] = {}
        for i, op in creates:
            if shape.marker_col is not None and op.marker:
                if op.marker in existing:
                    results[i] = _ok(existing[op.marker])
                    continue
                if op.marker in first:
                    repeats.append((i, first[op.marker]))
                    continue
                first[op.marker] = i
            params = self._insert_params(shape, op)
            # One statement per set of columns: an executemany binds the same columns.
            groups.setdefault(tuple(sorted(params)), []).append((i, params))
        for group in groups.values():
            stmt = insert(shape.child).returning(*shape.returning(), sort_by_parameter_order=True)
            rows = conn.execute(stmt, [params for _, params in group]).all()
            for (i, _), row in zip(group, rows, strict=True):
                results[i] = _ok(shape.record(row))
        for i, earlier in repeats:
            results[i] = results[earlier]
        return results

    def _apply_one(self, conn: Connection, shape: Shape, op: Operation) -> OperationResult:
        if op.kind == "create":
            return self._create_one(conn, shape, op)
        key = op.key or ""
        missing = OperationResult(False, op.key, error=f"no {shape.spec.name} with key {key}")
        try:
            child, parent = shape.parse_key(key)
        except BadKeyError:
            return missing
        current = self._fetch(conn, shape, child, parent, lock=True)
        if current is None:
            return missing
        if op.expected_version is not None and current.version != op.expected_version:
            return OperationResult(False, op.key, error="changed since read", stale=True)
        if op.kind == "delete":
            if shape.link is not None and shape.link_child_col is not None:
                where = (shape.link_child_col == child) & (shape.parent_col == parent)
                conn.execute(delete(shape.link).where(where))
            else:
                conn.execute(delete(shape.child).where(shape.key_col == child))
            return OperationResult(True, op.key)
        fan = shape.spec.fan_out
        for name, value in ((shape.spec.key, child), (fan and fan.parent_key, parent)):
            if name in op.values and str(op.values[name]) != str(value):
                return OperationResult(False, op.key, error=f"{name} cannot change", field=name)
        child_values = {
            n: v for n, v in op.values.items() if n in shape.child_fields and n != shape.spec.key
        }
        link_values = {n: v for n, v in op.values.items() if n in shape.link_fields}
        if not child_values and not link_values:
            return _ok(current)
        if child_values:
            self._stamp(shape, child_values, creating=False)
            conn.execute(update(shape.child).where(shape.key_col == child).values(child_values))
        if link_values and shape.link is not None and shape.link_child_col is not None:
            where = (shape.link_child_col == child) & (shape.parent_col == parent)
            conn.execute(update(shape.link).where(where).values(link_values))
        written = self._fetch(conn, shape, child, parent, lock=False)
        return _ok(written) if written else missing

    def _create_one(self, conn: Connection, shape: Shape, op: Operation) -> OperationResult:
        fan = shape.spec.fan_out
        parent = op.values.get(fan.parent_key) if fan else None
        if shape.marker_col is not None and op.marker:
            found = self._by_marker(conn, shape, [op.marker], parent)
            if op.marker in found:
                return _ok(found[op.marker])
        params = self._insert_params(shape, op)
        if shape.link is None and self.engine.dialect.insert_returning:
            stmt = insert(shape.child).values(params).returning(*shape.returning())
            return _ok(shape.record(conn.execute(stmt).one()))
        result = conn.execute(insert(shape.child).values(params))
        child = params.get(shape.spec.key)
        if child is None:
            child = result.inserted_primary_key[0] if result.inserted_primary_key else None
        if fan is not None and shape.link is not None and shape.parent_col is not None:
            link_params = {n: v for n, v in op.values.items() if n in shape.link_fields}
            link_params.update({fan.child_key: child, fan.parent_key: parent})
            conn.execute(insert(shape.link).values(link_params))
            parent = coerce(shape.parent_col, parent)
        created = self._fetch(conn, shape, child, parent, lock=False)
        if created is None:
            return OperationResult(False, None, error="the created row could not be read back")
        return _ok(created)

    def _insert_params(self, shape: Shape, op: Operation) -> dict[str, Any]:
        params = {n: v for n, v in op.values.items() if n in shape.child_fields}
        if shape.marker_col is not None and op.marker:
            params[shape.marker_col.name] = op.marker
        self._stamp(shape, params, creating=True)
        return params

    def _stamp(self, shape: Shape, values: dict[str, Any], *, creating: bool) -> None:
        col = shape.order_col
        if col is None:
            return
        if shape.spec.modified is not None:
            values[col.name] = self._db_time(shape, self.clock.now())
        elif not creating:
            values[col.name] = func.coalesce(col, 0) + 1
        elif col.server_default is None:
            values[col.name] = 1  # else the database's default (or trigger) numbers it

    def _fetch(
        self, conn: Connection, shape: Shape, child: Any, parent: Any, *, lock: bool
    ) -> ExternalRecord | None:
        stmt = shape.select().where(shape.key_col == child)
        if shape.parent_col is not None:
            stmt = stmt.where(shape.parent_col == parent)
        if lock and not self._sqlite:  # SQLite write transactions are serialised already
            stmt = stmt.with_for_update()
        row = conn.execute(stmt).first()
        return shape.record(row) if row is not None else None

    def _by_marker(
        self, conn: Connection, shape: Shape, markers: list[str], parent: Any = None
    ) -> dict[str, ExternalRecord]:
        found: dict[str, ExternalRecord] = {}
        col = shape.marker_col
        if col is None:
            return found
        for start in range(0, len(markers), IN_CHUNK):
            stmt = shape.select().add_columns(col.label("accord_marker"))
            stmt = stmt.where(col.in_(markers[start : start + IN_CHUNK]))
            if shape.parent_col is not None:
                stmt = stmt.where(shape.parent_col == coerce(shape.parent_col, parent))
            for row in conn.execute(stmt):
                found.setdefault(row._mapping["accord_marker"], shape.record(row))
        return found


# -- helpers --------------------------------------------------------------------------------
def _after(columns: list[Any], values: tuple[Any, ...]) -> ColumnElement[bool]:
    bound = [literal(value, col.type) for col, value in zip(columns, values, strict=True)]
    if len(columns) == 1:
        result: ColumnElement[bool] = columns[0] > bound[0]
        return result
    return tuple_(*columns) > tuple_(*bound)


def _ok(record: ExternalRecord) -> OperationResult:
    return OperationResult(True, record.key, record.version, record.modified_at)


def _transient(exc: sa_exc.SQLAlchemyError) -> bool:
    """Connection trouble, locks, timeouts: retrying later may succeed."""
    if isinstance(exc, sa_exc.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc, sa_exc.OperationalError | sa_exc.InterfaceError
        )
    return isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError)


def _message(exc: sa_exc.SQLAlchemyError) -> str:
    # The driver's own words: the wrapper's text repeats the SQL and every parameter.
    text = str(getattr(exc, "orig", None) or exc)
    return " ".join(text.split())[:500] or type(exc).__name__


def _error(system: str, entity: str | None, exc: sa_exc.SQLAlchemyError) -> ConnectorError:
    kind = TransientError if _transient(exc) else PermanentError
    return kind(_message(exc), system=system, entity=entity)
