"""Many rows in one statement, with little work per row.

SQLAlchemy's executemany builds and type-processes a parameter dictionary per row, which
on a large sync costs as much as SQLite's own insert. On SQLite the rows go to the driver
as tuples instead, converted here for the hub's few column types (JSON as text; strings,
numbers and booleans as they are). Other databases keep SQLAlchemy's path, which on
PostgreSQL batches the rows into multi-row statements.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    insert,
    update,
)

from accord.store.database import json_text

Convert = Callable[[Any], Any] | None
_PLAIN = (String, Text, Integer, BigInteger, Boolean)
_WHERE = "where_"  # bind name prefix of the key column on SQLAlchemy's path


def insert_many(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT ``rows`` (each with the keys of the first) into ``table``."""
    if not rows:
        return
    names = tuple(rows[0])
    _check_names(table, names)
    if conn.dialect.name != "sqlite" or not _fast(table, names, inserting=True):
        conn.execute(insert(table), list(rows))
        return
    conn.exec_driver_sql(_insert_sql(table, names), _tuples(table, names, rows))


def update_many(
    conn: Connection,
    table: Table,
    where: tuple[str, ...],
    rows: Sequence[tuple[Mapping[str, Any], Sequence[Any]]],
) -> int:
    """UPDATE ``table`` once per (values, keys) row: set the values on the rows whose
    ``where`` columns equal the keys. Returns how many rows matched, in all."""
    if not rows:
        return 0
    names = tuple(rows[0][0])
    _check_names(table, (*names, *where))
    if conn.dialect.name == "sqlite" and _fast(table, names, inserting=False):
        sets = _tuples(table, names, [values for values, _ in rows])
        # Key columns (ids, sequence numbers) need no conversion.
        both = [values + tuple(keys) for values, (_, keys) in zip(sets, rows, strict=True)]
        return int(conn.exec_driver_sql(_update_sql(table, names, where), both).rowcount)
    stmt = update(table).where(*(table.c[w] == bindparam(_WHERE + w) for w in where))
    params = [
        {**values, **{_WHERE + w: key for w, key in zip(where, keys, strict=True)}}
        for values, keys in rows
    ]
    if conn.dialect.supports_sane_multi_rowcount:
        return int(conn.execute(stmt, params).rowcount)
    return sum(int(conn.execute(stmt, one).rowcount) for one in params)


def _tuples(
    table: Table, names: tuple[str, ...], rows: Sequence[Mapping[str, Any]]
) -> list[tuple[Any, ...]]:
    # Hot: a first load passes every record, journal entry and link through here. One
    # itemgetter per row, and the conversions of the JSON columns alone, take half the
    # time of a generator over every column.
    converts = _converters(table, names)
    if len(names) == 1:  # itemgetter of one name gives the value, not a tuple
        (name,), (one,) = names, converts
        return [(row[name] if one is None else one(row[name]),) for row in rows]
    get = itemgetter(*names)
    json_columns = [(i, convert) for i, convert in enumerate(converts) if convert is not None]
    if not json_columns:
        return [get(row) for row in rows]
    out: list[tuple[Any, ...]] = []
    for row in rows:
        values = list(get(row))
        for i, convert in json_columns:
            values[i] = convert(values[i])
        out.append(tuple(values))
    return out


@lru_cache(maxsize=256)
def _check_names(table: Table, names: tuple[str, ...]) -> None:
    # SQLAlchemy's executemany would silently leave an unknown key out.
    unknown = [name for name in names if name not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no column {', '.join(unknown)}")


@lru_cache(maxsize=256)
def _fast(table: Table, names: tuple[str, ...], *, inserting: bool) -> bool:
    """Every column is a plain or JSON column, without a Python-side default to apply."""
    for column in table.c:
        if not isinstance(column.type, (*_PLAIN, JSON)):
            return False
        default = column.default if inserting else column.onupdate
        if column.name not in names and default is not None:
            return False
    return True


@lru_cache(maxsize=256)
def _converters(table: Table, names: tuple[str, ...]) -> tuple[Convert, ...]:
    return tuple(_converter(table, name) for name in names)


def _converter(table: Table, name: str) -> Convert:
    kind = table.c[name].type
    if not isinstance(kind, JSON):
        return None
    if kind.none_as_null:
        return lambda value: None if value is None else json_text(value)
    return json_text  # None is stored as the JSON text null, as SQLAlchemy does


@lru_cache(maxsize=256)
def _insert_sql(table: Table, names: tuple[str, ...]) -> str:
    columns = ", ".join(_quote(n) for n in names)
    marks = ", ".join("?" for _ in names)
    return f"INSERT INTO {_quote(table.name)} ({columns}) VALUES ({marks})"


@lru_cache(maxsize=256)
def _update_sql(table: Table, names: tuple[str, ...], where: tuple[str, ...]) -> str:
    sets = ", ".join(f"{_quote(n)} = ?" for n in names)
    keys = " AND ".join(f"{_quote(n)} = ?" for n in where)
    return f"UPDATE {_quote(table.name)} SET {sets} WHERE {keys}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
