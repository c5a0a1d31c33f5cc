"""The hub's persistence: records, links and bases, journal, runs, conflicts, errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from accord.store.database import READ_ONLY, create_hub, is_initialised, make_engine


class HubStore:
    """Owns the database engine; writes go through ``transaction()``, pure reads may use
    ``reading()``, which never waits behind a writer."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        if create:
            create_hub(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A consistent read that writes nothing (on PostgreSQL: a READ ONLY transaction)."""
        with self.engine.connect() as raw:
            conn = raw.execution_options(**{READ_ONLY: True})
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                yield conn

    def is_initialised(self) -> bool:
        return is_initialised(self.engine)

    def close(self) -> None:
        self.engine.dispose()
