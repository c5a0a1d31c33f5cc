"""Opening a hub that does not exist yet from several connections at once: the systems of
one `accord sync` (a process each), or a worker and the web app started together."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from accord.store.database import make_engine

# SQLite refuses one of two connections switching a new file to WAL together about once
# in a hundred rounds of four; three hundred rounds make a miss all but impossible.
ROUNDS, OPENERS = 300, 4


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
