"""One run of a link at a time, across threads and processes.

SQLite hub: an exclusive ``flock`` on a file beside the database (released by the kernel
if the process dies). PostgreSQL hub: a session advisory lock on a connection held for the
run (released when the connection or its process goes away).
"""

from __future__ import annotations

import fcntl
import os
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from accord.config import Config
from accord.errors import AccordError
from accord.store import HubStore

_memory_locks: dict[str, threading.Lock] = {}
_memory_guard = threading.Lock()


class LinkBusyError(AccordError):
    """Another run of this link is in progress; try again later."""


def lock_key(system: str) -> int:
    # A stable signed 32-bit key: pg advisory locks take a bigint.
    return zlib.crc32(f"accord.link:{system}".encode()) - 2**31


@contextmanager
def hold_link(store: HubStore, system: str) -> Iterator[None]:
    """Hold the link's run lock for the block, or raise LinkBusyError at once."""
    url = make_url(store.engine.url)
    if url.get_backend_name() == "postgresql":
        with _advisory(store, system):
            yield
    elif url.database and url.database != ":memory:":
        with _file_lock(Path(url.database), system):
            yield
    else:
        with _process_lock(str(url), system):
            yield


@contextmanager
def _advisory(store: HubStore, system: str) -> Iterator[None]:
    key = lock_key(system)
    with store.engine.connect() as conn:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one()
        conn.commit()
        if not got:
            raise LinkBusyError("another run of this link is in progress", system=system)
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()


@contextmanager
def _file_lock(database: Path, system: str) -> Iterator[None]:
    folder = database.parent / f"{database.name}.locks"
    folder.mkdir(exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in system)
    fd = os.open(folder / f"{safe}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LinkBusyError("another run of this link is in progress", system=system) from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _process_lock(url: str, system: str) -> Iterator[None]:
    with _memory_guard:
        lock = _memory_locks.setdefault(f"{url}|{system}", threading.Lock())
    if not lock.acquire(blocking=False):
        raise LinkBusyError("another run of this link is in progress", system=system)
    try:
        yield
    finally:
        lock.release()


@contextmanager
def hold_configured_link(settings: Config, system: str) -> Iterator[None]:
    """`hold_link` for callers without an open store (`accord sync`)."""
    from accord.service.systems import open_hub

    store = open_hub(settings)
    try:
        with hold_link(store, system):
            yield
    finally:
        store.close()
