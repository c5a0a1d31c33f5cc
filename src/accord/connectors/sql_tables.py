"""What a SqlConnector serves: table declarations, checked against the reflected schema.

A ``Shape`` is one declaration bound to its reflected tables. It knows what to select,
how external keys are spelled and parsed, and how a row's version is computed, so that
reading and writing agree on versions to the character.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from hashlib import blake2b
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    FromClause,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    cast,
    select,
)
from sqlalchemy import types as sqltypes
from sqlalchemy.exc import NoSuchTableError

from accord.clock import UTC_NAMES, from_iso, to_iso, zone_named
from accord.connectors.base import ExternalRecord, Operation, OperationResult
from accord.errors import ConfigError

# Labels of the bookkeeping columns in every select; value columns keep their own names.
KEY, PARENT, ORDER = "accord_key", "accord_parent", "accord_order"
ORDER_TEXT = "accord_order_text"  # a SQLite modified time as stored, see Shape.select
SQLITE_STAMP = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores and binds SQLite date-times
LINK_CHILD, MARKER = "accord_link_child", "accord_marker"


@dataclass(frozen=True)
class FanOut:
    """One child row linked to many parents through a link table."""

    table: str  # e.g. "DR_CONTACTS"
    parent_key: str  # link column pointing at the parent, exposed as a native field, "ACCNO"
    child_key: str  # link column pointing at the child row, e.g. "CONTACT_SEQNO"
    columns: tuple[str, ...] = ()  # link columns exposed as native fields, e.g. ("DEFCONTACT",)
    # Child columns the link table repeats under the same names (Exo keeps a contact's
    # names and phone on each DR_CONTACTS row): written from the child's values, never read.
    copies: tuple[str, ...] = ()
    # A child column naming the parent it belongs to first (Exo's CONTACTS.COMPANY_ACCNO):
    # set to the parent a create is made under; the links decide the rest.
    home: str | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str  # the native entity name the engine uses (EntityMap.source)
    table: str  # "CONTACTS", or "schema.CONTACTS"
    key: str  # primary key column
    columns: tuple[str, ...]  # columns read and written; native field names are column names
    modified: str | None = None  # modified-time column -> change detection by time
    rowversion: str | None = None  # integer row-version column -> change detection by version
    marker: str | None = None  # column storing a create's idempotency marker
    fan_out: FanOut | None = None
    key_generated: bool = True  # the database assigns the key on insert
    overlap_seconds: float = 300.0  # re-read window for clocks minutes apart / late commits


class BadKeyError(ValueError):
    """An external key that cannot name a row of this table."""


class Shape:
    """A TableSpec bound to its reflected tables."""

    def __init__(
        self,
        spec: TableSpec,
        child: Table,
        link: Table | None,
        stamp_zone: tzinfo = UTC,
        text_stamps: bool = False,
        pads_text: bool = False,
    ) -> None:
        self.spec = spec
        # SQLite keeps date-times as text and compares them as text: pages continue from
        # the last stamp as stored ('... 09:00:00' from another program's
        # CURRENT_TIMESTAMP sorts before the '... 09:00:00.000000' a bound datetime is).
        self.text_stamps = text_stamps and spec.modified is not None
        # The zone naive modified times are written in (see ``SqlConnector``).
        self.stamp_zone = stamp_zone
        self.child = child
        self.link = link
        self.key_col: Column[Any] = child.c[spec.key]
        stamp = spec.modified or spec.rowversion
        self.order_col: Column[Any] | None = child.c[stamp] if stamp else None
        self.marker_col: Column[Any] | None = child.c[spec.marker] if spec.marker else None
        # Native fields in hash order: the child's columns, then the link row's.
        self.fields: dict[str, Column[Any]] = {c: child.c[c] for c in spec.columns}
        self.child_fields = set(spec.columns) | {spec.key}
        self.link_fields: set[str] = set()
        self.parent_col: Column[Any] | None = None
        self.link_child_col: Column[Any] | None = None
        self.source: FromClause = child
        if link is not None and spec.fan_out is not None:
            fan = spec.fan_out
            self.parent_col = link.c[fan.parent_key]
            self.link_child_col = link.c[fan.child_key]
            self.fields[fan.parent_key] = self.parent_col
            self.fields.update({c: link.c[c] for c in fan.columns})
            self.link_fields = set(fan.columns)
            self.source = link.join(child, self.link_child_col == self.key_col)
        # Whether keys and markers that differ only by trailing blanks are one value: where
        # the database compares text so (pads_text: SQL Server, MySQL) or a column is a
        # fixed-width CHAR, which comes back padded to its width.
        matched = (self.key_col, self.parent_col, self.link_child_col, self.marker_col)
        self.blank_blind = pads_text or any(
            col is not None and isinstance(col.type, sqltypes.CHAR | sqltypes.NCHAR)
            for col in matched
        )
        writable = {**self.fields, spec.key: self.key_col}
        self.lengths = {
            name: col.type.length
            for name, col in writable.items()
            if isinstance(col.type, String) and isinstance(col.type.length, int)
        }
        self.allowed = set(writable)
        # Every select lists key, parent (fan-out), stamp, then the fields, so records are
        # built by position: this runs for every row read or written.
        self._stamp_at = 2 if self.parent_col is not None else 1
        self._fields_at = self._stamp_at + (self.order_col is not None)
        self._names = tuple(self.fields)
        # Writes see a record as two parts: the child part (key, stamp, the child's fields)
        # and, with a fan-out, the link part (parent key, the link row's fields).
        self.child_width = 1 + (self.order_col is not None) + len(spec.columns)
        # Columns an insert may set to NULL where a row has no value: leaving them out
        # would store NULL as well, and one column list for all rows makes one statement.
        self.child_nulls = frozenset(
            n for n in spec.columns if n != spec.key and _plain(child.c[n])
        )
        self.link_nulls: frozenset[str] = frozenset()
        if link is not None and spec.fan_out is not None:
            self.link_nulls = frozenset(n for n in spec.fan_out.columns if _plain(link.c[n]))

    @property
    def stamp_index(self) -> int:
        """Where a select's row holds the modified time (or row version)."""
        return self._stamp_at

    # -- modified times -------------------------------------------------------------------
    def utc(self, stamp: datetime) -> datetime:
        """A modified time as the database returns it, as an aware UTC time."""
        if stamp.tzinfo is None:
            return stamp.replace(tzinfo=self.stamp_zone).astimezone(UTC)
        return stamp.astimezone(UTC)

    def stored(self, moment: datetime, zone: tzinfo | None = None) -> datetime:
        """``moment`` as the modified column holds it: naive, in the stamp zone (or
        ``zone``, that of an older cursor), unless the column stores time zones."""
        col = self.order_col
        if col is not None and isinstance(col.type, DateTime) and col.type.timezone:
            return moment.astimezone(UTC)
        return moment.astimezone(zone or self.stamp_zone).replace(tzinfo=None)

    def step_back(self, moment: datetime, zone: tzinfo | None = None) -> timedelta:
        """How far the column's naive stamps step back if the clocks go back just after
        ``moment`` (the end of daylight saving), else nothing.

        A row written in the repeated hour is stamped earlier, as stored, than a row
        written before the change: a read continuing from ``moment`` must reach back
        that far. Only a change within two hours after it matters (no zone steps back
        more), since later stamps are past ``moment`` again.
        """
        col = self.order_col
        if col is None or (isinstance(col.type, DateTime) and col.type.timezone):
            return timedelta(0)
        local = zone or self.stamp_zone
        before = moment.astimezone(local).utcoffset() or timedelta(0)
        after = (moment + timedelta(hours=2)).astimezone(local).utcoffset() or timedelta(0)
        return max(timedelta(0), before - after)

    def zone_entry(self) -> dict[str, str]:
        """The cursor entry naming the stamp zone (none for UTC)."""
        name = _zone_name(self.stamp_zone)
        return {} if name is None else {"z": name}

    def match_text(self, value: Any) -> str:
        """A key or marker as text, for matching what was written with what comes back:
        without trailing blanks where the database treats them as padding."""
        if isinstance(value, str):
            return value.rstrip(" ") if self.blank_blind else value
        return str(value)

    def cursor_stored(self, cursor: str | None) -> str | None:
        """The cursor's modified time as the database stores it, where it keeps text."""
        if not self.text_stamps or not cursor:
            return None
        try:
            text = json.loads(cursor).get("s")
        except (ValueError, AttributeError):
            return None
        return text if isinstance(text, str) else None

    def cursor_zone(self, cursor: str | None) -> tzinfo:
        """The stamp zone a cursor was written under (UTC for cursors naming none), so a
        changed ``time_zone`` setting neither skips nor repeats what the cursor passed."""
        try:
            name = json.loads(cursor).get("z") if cursor else None
            return zone_named(name) if isinstance(name, str) else UTC
        except (ValueError, AttributeError, ConfigError):
            return UTC

    # -- selecting ----------------------------------------------------------------------
    def key_columns(self) -> list[Column[Any]]:
        """The columns that order rows by key: child key, then parent key (fan-out)."""
        return [self.key_col] + ([self.parent_col] if self.parent_col is not None else [])

    def _order_columns(self) -> list[Any]:
        """Key, parent (fan-out) and stamp: the first columns of every select."""
        cols: list[Any] = [self.key_col.label(KEY)]
        if self.parent_col is not None:
            cols.append(self.parent_col.label(PARENT))
        if self.order_col is not None:
            cols.append(self.order_col.label(ORDER))
        return cols

    def select(self) -> Select[Any]:
        cols = self._order_columns() + [col.label(name) for name, col in self.fields.items()]
        if self.marker_col is not None:
            # Last, so every other position stays as in writes' RETURNING rows.
            cols.append(self.marker_col.label(MARKER))
        return select(*cols, *self._stamp_text()).select_from(self.source)

    def select_order(self) -> Select[Any]:
        """Key, parent (fan-out) and stamp only, at the positions select() has them."""
        return select(*self._order_columns(), *self._stamp_text()).select_from(self.source)

    def _stamp_text(self) -> list[Any]:
        if not self.text_stamps or self.order_col is None:
            return []
        return [cast(self.order_col, Text).label(ORDER_TEXT)]

    def select_keys(self) -> Select[Any]:
        cols: list[Any] = [self.key_col.label(KEY)]
        if self.parent_col is not None:
            cols.append(self.parent_col.label(PARENT))
        return select(*cols).select_from(self.source)

    def child_columns(self) -> list[Any]:
        """The child part of a record: key, stamp, the child's fields (a select or RETURNING)."""
        cols: list[Any] = [self.key_col.label(KEY)]
        if self.order_col is not None:
            cols.append(self.order_col.label(ORDER))
        return cols + [self.fields[name].label(name) for name in self.spec.columns]

    def link_columns(self) -> list[Any]:
        """The link part of a record (fan-out only): parent key, the link row's fields."""
        names = self._names[len(self.spec.columns) :]
        return [self.fields[name].label(name) for name in names]

    def parts_select(self, *, outer: bool = False) -> Select[Any]:
        """Child part then link part; ``outer`` keeps children that have no link row."""
        source: FromClause = self.source
        if outer and self.link is not None and self.link_child_col is not None:
            source = self.child.outerjoin(self.link, self.link_child_col == self.key_col)
        return select(*self.child_columns(), *self.link_columns()).select_from(source)

    # -- keys ---------------------------------------------------------------------------
    def row_key(self, row: Sequence[Any]) -> str:
        return f"{row[0]}@{row[1]}" if self.parent_col is not None else str(row[0])

    def parse_key(self, key: str) -> tuple[Any, Any]:
        """``key`` -> (child key value, parent key value or None), typed for queries."""
        if self.parent_col is None:
            return coerce(self.key_col, key), None
        # Parents are account codes; a child key (if text) is likelier to hold an "@".
        child, sep, parent = key.rpartition("@")
        if not sep:
            raise BadKeyError(key)
        return coerce(self.key_col, child), coerce(self.parent_col, parent)

    # -- cursors ------------------------------------------------------------------------
    def key_order(self) -> list[tuple[Column[Any], str]]:
        """The key columns with their labels in selects, in sort order."""
        return list(zip(self.key_columns(), (KEY, PARENT), strict=False))

    def cursor(self, row: Sequence[Any], own: Sequence[str] = ()) -> str:
        """Where the last row read stands: {"t": iso, "k": [...]} or {"v": n, "k": [...]}.

        ``own``: modified times of rows the caller wrote itself (see ``own_stamps``).
        """
        parts = [row[0], row[1]] if self.parent_col is not None else [row[0]]
        parts = [p if isinstance(p, int | str) else str(p) for p in parts]
        stamp = row[self._stamp_at]
        if self.spec.modified is not None:
            iso = None if stamp is None else to_iso(self.utc(stamp))
            text = _mapping(row).get(ORDER_TEXT) if self.text_stamps else None
            if isinstance(stamp, datetime) and text == stamp.strftime(SQLITE_STAMP):
                text = None  # stored as a bound stamp is: nothing to add
            return _cursor_text(iso, parts, own, _zone_name(self.stamp_zone), text)
        return json.dumps({"v": stamp, "k": parts})

    def own_stamps(self, cursor: str | None) -> list[str]:
        """The modified times of our own writes a cursor carries (ISO, oldest first)."""
        if not cursor or self.spec.modified is None:
            return []
        try:
            own = json.loads(cursor).get("own") or []
        except (ValueError, AttributeError):
            return []
        return [s for s in own if isinstance(s, str) and own_stamp(s)]

    def parse_cursor(self, cursor: str | None) -> tuple[Any, tuple[Any, ...]] | None:
        """(stamp or None, typed key parts, possibly empty); None means read everything.

        A cursor this table cannot use (another mode's, or damaged) reads everything:
        re-reading is safe, skipping is not.
        """
        if not cursor:
            return None
        field = "t" if self.spec.modified is not None else "v"
        try:
            data = json.loads(cursor)
            stamp, raw = data[field], data.get("k") or []
            if stamp is not None and field == "t":
                from_iso(stamp)  # raises on a damaged cursor
            elif stamp is not None:
                stamp = int(stamp)
            columns = self.key_columns()
            parts = tuple(coerce(c, p) for c, p in zip(columns, raw, strict=True)) if raw else ()
        except (ValueError, TypeError, KeyError, BadKeyError):
            return None
        return stamp, parts

    # -- validation -----------------------------------------------------------------------
    def refusal(self, op: Operation) -> OperationResult | None:
        """What is wrong with ``op`` before it reaches the database; None when it may go."""

        def fail(error: str, field: str | None = None) -> OperationResult:
            return OperationResult(False, op.key, error=error, field=field)

        spec = self.spec
        if op.kind not in ("create", "update", "deactivate", "delete"):
            return fail(f"unknown operation {op.kind}")
        if op.kind != "create" and not op.key:
            return fail(f"{op.kind} needs a key")
        if op.kind == "delete":
            return None
        for name, value in op.values.items():
            if name not in self.allowed:
                return fail(f"{spec.table} has no column {name} declared for {spec.name}", name)
            limit = self.lengths.get(name)
            if limit is not None and isinstance(value, str) and len(value) > limit:
                return fail(f"{name} holds at most {limit} characters, got {len(value)}", name)
        if op.kind != "create":
            return None
        needed = [] if spec.key_generated else [(spec.key, self.key_col)]
        if spec.fan_out and self.parent_col is not None:
            needed.append((spec.fan_out.parent_key, self.parent_col))  # the link row needs it
        for name, col in needed:
            value = op.values.get(name)
            if value is None:
                return fail(f"{name} is required to create a {spec.name}", name)
            try:
                coerce(col, value)
            except BadKeyError:
                return fail(f"{name} {value!r} is not a valid key", name)
        return None

    # -- records ------------------------------------------------------------------------
    def compose(self, child: Sequence[Any], link: Sequence[Any] | None) -> ExternalRecord:
        """The record of a child part and (fan-out) a link part, as a select would read it."""
        if self.parent_col is None:
            return self.record(child)
        assert link is not None
        return self.record((child[0], link[0], *child[1:], *link))

    def record(self, row: Sequence[Any]) -> ExternalRecord:
        end = self._fields_at + len(self._names)
        found = tuple(row[self._fields_at : end])
        values = dict(zip(self._names, found, strict=True))
        # Reads carry the create marker after the fields; write results do not need it.
        marker = row[end] if self.marker_col is not None and len(row) > end else None
        # repr is exact for the types drivers return (str, int, Decimal, datetime, None).
        digest = blake2b(repr(found).encode(), digest_size=8).hexdigest()
        if self.order_col is None:
            return ExternalRecord(self.row_key(row), values, digest, marker=marker)
        stamp = row[self._stamp_at]
        modified_at = None
        if self.spec.modified is not None and stamp is not None:
            stamp = modified_at = to_iso(self.utc(stamp))
        # The stamp alone misses edits within one tick of a coarse clock; the hash does not.
        version = f"{'' if stamp is None else stamp}|{digest}"
        return ExternalRecord(self.row_key(row), values, version, modified_at, marker=marker)


def own_stamp(iso: str) -> bool:
    """Whether a modified time we wrote can tell our row apart from anybody else's.

    Only a stamp with sub-millisecond digits can: on a coarser clock (or a column that
    rounds) somebody's edit within the same tick would carry the very same stamp.
    """
    try:
        from_iso(iso)
    except ValueError:
        return False
    return iso[-4:-1] != "000"  # the microseconds' last three digits, before the "Z"


def _cursor_text(
    iso: str | None, parts: list[Any], own: Sequence[str], zone: str | None, text: Any = None
) -> str:
    data: dict[str, Any] = {"t": iso, "k": parts}
    if zone is not None:
        data["z"] = zone
    if isinstance(text, str):
        data["s"] = text  # the stamp as stored (SQLite text), to continue after exactly
    if own:
        data["own"] = list(own)
    return json.dumps(data)


def _mapping(row: Sequence[Any]) -> Any:
    return getattr(row, "_mapping", {})


def same_zone(a: tzinfo, b: tzinfo) -> bool:
    return _zone_name(a) == _zone_name(b)


def _zone_name(zone: tzinfo) -> str | None:
    """The name a cursor records for a stamp zone; None for UTC (cursors before zones)."""
    key = getattr(zone, "key", None)
    if zone is UTC or key is None or key.upper() in UTC_NAMES:
        return None
    return str(key)


def coerce(col: Column[Any], text: Any) -> Any:
    """A key part as the column's Python type (int for Integer keys)."""
    if isinstance(col.type, Integer):
        try:
            return int(text)
        except (TypeError, ValueError):
            raise BadKeyError(str(text)) from None
    return text if isinstance(text, str) else str(text)


def _plain(col: Column[Any]) -> bool:
    """A column that holds NULL when an insert leaves it out: no default, no generation."""
    return (
        col.nullable is True
        and col.server_default is None
        and col.computed is None
        and col.identity is None
        and not col.primary_key
    )


def reflect(engine: Engine, specs: Sequence[TableSpec], zone: tzinfo = UTC) -> dict[str, Shape]:
    metadata = MetaData()
    shapes: dict[str, Shape] = {}
    for spec in specs:
        if spec.name in shapes:
            raise ConfigError(f"entity {spec.name} is declared twice", entity=spec.name)
        shapes[spec.name] = _shape(engine, metadata, spec, zone)
    return shapes


def stamp_zone(engine: Engine, col: Column[Any], zone: tzinfo) -> tzinfo:
    """The zone of the naive times ``col`` returns: ``zone`` (the system's setting),
    except MySQL's TIMESTAMP, which the session converts to UTC (see make_system_engine)."""
    mysql = engine.dialect.name in ("mysql", "mariadb")
    return UTC if mysql and isinstance(col.type, sqltypes.TIMESTAMP) else zone


def _shape(engine: Engine, metadata: MetaData, spec: TableSpec, zone: tzinfo) -> Shape:
    if spec.modified and spec.rowversion:
        raise ConfigError(
            f"table {spec.table}: declare modified or rowversion, not both", entity=spec.name
        )
    child = _table(engine, metadata, spec.table, spec.name)
    home = spec.fan_out.home if spec.fan_out else None
    for name in (spec.key, *spec.columns, spec.modified, spec.rowversion, spec.marker, home):
        _need(child, spec.table, name, spec.name)
    if spec.modified and not isinstance(child.c[spec.modified].type, DateTime):
        raise ConfigError(
            f"table {spec.table}: modified column {spec.modified} is not a date-time",
            entity=spec.name,
        )
    if spec.rowversion and not isinstance(child.c[spec.rowversion].type, Integer):
        raise ConfigError(
            f"table {spec.table}: rowversion column {spec.rowversion} is not an integer",
            entity=spec.name,
        )
    link = None
    names = [*spec.columns, *([] if spec.key in spec.columns else [spec.key])]
    if spec.fan_out is not None:
        fan = spec.fan_out
        link = _table(engine, metadata, fan.table, spec.name)
        for name in (fan.parent_key, fan.child_key, *fan.columns, *fan.copies):
            _need(link, fan.table, name, spec.name)
        names += [fan.parent_key, *fan.columns]
        strays = [name for name in fan.copies if name not in spec.columns]
        if strays:
            raise ConfigError(
                f"table {fan.table}: copies of columns {spec.table} does not sync: "
                + ", ".join(strays),
                entity=spec.name,
            )
    # Native field names are bare column names, so child and link names must not clash.
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ConfigError(
            f"table {spec.table}: field names used twice: {', '.join(clashes)}", entity=spec.name
        )
    zone = stamp_zone(engine, child.c[spec.modified], zone) if spec.modified else UTC
    dialect = engine.dialect.name
    return Shape(
        spec,
        child,
        link,
        zone,
        text_stamps=dialect == "sqlite",
        pads_text=dialect in _PAD_SPACE_DIALECTS,
    )


# Databases whose default text comparison ignores trailing blanks ('A' = 'A ').
_PAD_SPACE_DIALECTS = frozenset({"mssql", "mysql", "mariadb"})


def _table(engine: Engine, metadata: MetaData, qualified: str, entity: str) -> Table:
    schema, _, name = qualified.rpartition(".")
    try:
        return Table(name, metadata, schema=schema or None, autoload_with=engine)
    except NoSuchTableError:
        raise ConfigError(f"table {qualified} does not exist", entity=entity) from None


def _need(table: Table, label: str, column: str | None, entity: str) -> None:
    if column is not None and column not in table.c:
        raise ConfigError(f"table {label} has no column {column}", entity=entity, field=column)
