"""Opening a hub that does not exist yet from several connections at once: the systems of
one `accord sync` (a process each), or a worker and the web app started together."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from accord.store import HubStore
from accord.store.database import make_engine

# SQLite refuses one of two connections switching a new file to WAL together about once
# in a hundred rounds of four; three hundred rounds make a miss all but impossible.
ROUNDS, OPENERS = 300, 4
PG_OPENERS = 3


def test_connections_opening_a_new_hub_at_once_all_open_it(tmp_path: Path) -> None:
    barrier = threading.Barrier(OPENERS)
    failures: list[str] = []

    def open_each() -> None:
        for round_ in range(ROUNDS):
            barrier.wait(timeout=60)
            engine = make_engine(f"sqlite:///{tmp_path / f'hub{round_}.db'}")
            try:
                with engine.connect():
                    pass
            except Exception as exc:  # collected: the test names every failed round
                failures.append(f"round {round_}: {exc}")
            finally:
                engine.dispose()

    openers = [threading.Thread(target=open_each) for _ in range(OPENERS)]
    for opener in openers:
        opener.start()
    for opener in openers:
        opener.join(timeout=120)
    assert failures == []
    for round_ in (0, ROUNDS - 1):
        with sqlite3.connect(tmp_path / f"hub{round_}.db") as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _open_hub_when_all_ready(url: str, barrier: Any, results: Any) -> None:
    from accord.store import HubStore

    barrier.wait(timeout=60)
    try:
        HubStore(url).close()
        results.put(None)
    except Exception as exc:  # reported to the test, which names it
        results.put(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")


@pytest.mark.postgres
def test_processes_opening_a_new_postgresql_hub_at_once_all_open_it(pg_schema_url: str) -> None:
    """Three processes (the web app and two workers, say) migrate one new schema at once;
    without a lock two of them fail on tables the first one is creating."""
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(PG_OPENERS), spawn.Queue()
    processes = [
        spawn.Process(target=_open_hub_when_all_ready, args=(pg_schema_url, barrier, results))
        for _ in range(PG_OPENERS)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    assert [o for o in outcomes if o is not None] == []
    store = HubStore(pg_schema_url, create=False)
    try:
        assert store.is_initialised()
    finally:
        store.close()
