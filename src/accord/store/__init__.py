"""The hub's persistence: records, links and bases, journal, runs, conflicts, errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from accord.store.database import is_initialised, make_engine, migrate


class HubStore:
    """Owns the database engine; all reads and writes go through ``transaction()``."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        if create:
            migrate(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def is_initialised(self) -> bool:
        return is_initialised(self.engine)

    def close(self) -> None:
        self.engine.dispose()
