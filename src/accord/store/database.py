"""Opening databases: the hub (SQLite in WAL by default, PostgreSQL by URL, schema by
Alembic) and the SQL systems Accord syncs with, whose files are not ours to reconfigure."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, String, create_engine, event, inspect
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from accord.errors import AccordError

MIGRATIONS = Path(__file__).parent / "migrations"
WAL_SWITCH_SECONDS = 30.0  # as long as the busy timeout: how long another may hold the file


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.removeprefix("postgres://")
    return url


def json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def json_value(raw: Any) -> Any:
    # SQLite gives a JSON column numeric affinity: a document that is a bare number ("5",
    # a conflict's value of a numeric field, a counter kept in settings) is stored, and
    # read back, as that number, not as its text.
    if isinstance(raw, int | float):
        return raw
    return orjson.loads(raw)


# orjson: the hub encodes and decodes a JSON document or three per record written.
JSON_CODEC: dict[str, Any] = {"json_serializer": json_text, "json_deserializer": json_value}


def make_engine(url: str) -> Engine:
    """The hub's engine; on SQLite it puts the file in WAL mode (a lasting setting)."""
    return _engine(url, _hub_pragmas)


def make_system_engine(url: str) -> Engine:
    """An engine on a system's database (an ERP's SQLite file, say).

    Only settings that last as long as the connection: the file's journal mode stays what
    its owner chose (WAL is recorded in the file and does not work on network shares
    that other programs may open it from), and writes keep SQLite's full durability.
    """
    return _engine(url, _system_pragmas)


def _engine(url: str, pragmas: Any) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **JSON_CODEC)
        event.listen(engine, "connect", pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith(("mysql", "mariadb")):
        # Accord reads and writes times in UTC; a TIMESTAMP column is converted to and from
        # the session's time zone, which is the server's unless set (DATETIME is not).
        engine = create_engine(url, pool_pre_ping=True, **JSON_CODEC)
        event.listen(engine, "connect", _utc_session)
        return engine
    return create_engine(url, pool_pre_ping=True, **JSON_CODEC)


def _utc_session(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET time_zone = '+00:00'")
    cursor.close()


# -- comparing text in any case ---------------------------------------------------------------
# SQLite's lower() folds ASCII letters only ("Ā" stays "Ā"), PostgreSQL's (in a UTF-8
# database) every letter, as Python's str.lower() does. So the hub's SQLite connections get
# a lower() of their own under another name, and queries that ignore case use folded(),
# which is that function on SQLite and lower() on PostgreSQL. Not an override of the
# built-in lower(): an index or a view using lower() (or a tool opening the file without
# our function) would then disagree with the queries. Not a folded copy of the text kept
# in the tables either: every write path, the sync's included, would have to maintain it.
FOLD_FUNCTION = "accord_lower"
LIKE_ESCAPE = "\\"


def _fold(text: object) -> object:
    return text.lower() if isinstance(text, str) else text


class _Folded(FunctionElement[str]):
    type = String()
    name = "folded"
    inherit_cache = True


@compiles(_Folded)
def _folded(element: _Folded, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(_Folded, "sqlite")
def _folded_sqlite(element: _Folded, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{FOLD_FUNCTION}({compiler.process(element.clauses, **kw)})"


def folded(text: ColumnElement[Any]) -> ColumnElement[str]:
    """``text`` in lower case, every letter, on SQLite as on PostgreSQL: compare it with
    Python's ``str.lower()`` of the other side."""
    return _Folded(text)


def contains_pattern(text: str) -> str:
    """A LIKE pattern (escape ``LIKE_ESCAPE``) for folded text containing ``text``:
    its % and _ are the characters themselves, not wildcards."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _hub_pragmas(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    _system_pragmas(dbapi_connection, record)
    dbapi_connection.create_function(FOLD_FUNCTION, 1, _fold, deterministic=True)
    cursor = dbapi_connection.cursor()
    # WAL lets the web app read while a sync writes; NORMAL is durable at checkpoints and
    # safe against corruption, which is the usual pairing with WAL (wal_autocheckpoint:
    # see _system_pragmas).
    _use_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _use_wal(cursor: Any) -> None:
    """Put the file in WAL mode, once: a lasting setting of the file.

    Switching needs the file to itself. Processes opening a new hub at once (several
    systems' syncs, a worker and the web app) each try, and SQLite answers one of two
    switching together "database is locked" at once, without waiting: the loser looks
    again, and finds the file switched by the other.
    """
    deadline = time.monotonic() + WAL_SWITCH_SECONDS
    while True:
        if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _system_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # The driver's own transaction handling (Python < 3.12) breaks savepoints; SQLAlchemy
    # takes over: the driver stays in autocommit and _sqlite_begin opens transactions.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # In WAL mode, checkpoint every 10,000 pages, not 1,000: the default checkpoints (and
    # syncs the file) at almost every batch a push commits. This connection's own setting,
    # not the file's. Durability stays FULL: a write the hub records as agreed must not
    # vanish from the system's file in a power cut.
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.close()


READ_ONLY = "accord_read_only"  # execution option of connections that only read


def _sqlite_begin(conn: Connection) -> None:
    # IMMEDIATE takes the write lock up front: a transaction that read first and wrote
    # later could otherwise fail at once with SQLITE_BUSY when another process wrote.
    # A read-only transaction takes no lock: under WAL it reads a snapshot and never waits
    # for a sync's batch (nor makes the sync wait).
    if conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("BEGIN DEFERRED")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (creates it on an empty database).

    "heads": features that add tables (web app, Exact Online, ...) branch from the core
    revision independently, so every branch is brought up.
    """
    command.upgrade(alembic_config(engine), "heads")


def create_hub(engine: Engine) -> None:
    """Bring the hub's schema up (``migrate``). A SQLite hub's folder is made first, as
    `accord init` makes .accord/, so a configuration written by hand that names a new
    folder works too; a file that cannot be opened is named (SQLite's message is not)."""
    file = sqlite_file(engine)
    if file is None:
        migrate(engine)
        return
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AccordError(f"hub database {file}: cannot create its folder: {exc}") from exc
    try:
        migrate(engine)
    except OperationalError as exc:
        raise AccordError(f"hub database {file}: {exc.orig}") from exc


def sqlite_file(engine: Engine) -> Path | None:
    """The file of a SQLite database; None for another database or one in memory."""
    url = engine.url
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return None if database.startswith("file:") else Path(database)


def is_initialised(engine: Engine) -> bool:
    return inspect(engine).has_table("records")
