"""Number ranges (record ids, journal sequence) handed out under a row lock."""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from accord.store.schema import counters

# The hub's sequence of account numbers (S002-01); its row lock also guards code checks.
ACCOUNT_NUMBERS = "account_number"


def allocate(conn: Connection, name: str, count: int) -> range:
    """Reserve ``count`` consecutive numbers; the row lock lasts until commit."""
    if count <= 0:
        return range(0)
    conn.execute(
        update(counters).where(counters.c.name == name).values(value=counters.c.value + count)
    )
    top = conn.execute(select(counters.c.value).where(counters.c.name == name)).scalar_one()
    return range(int(top) - count + 1, int(top) + 1)


def hold(conn: Connection, name: str) -> None:
    """Take counter ``name``'s row lock until commit, changing nothing: transactions that
    check something and then write it (is this account number free?) run one at a time."""
    conn.execute(update(counters).where(counters.c.name == name).values(value=counters.c.value))


def current(conn: Connection, name: str) -> int:
    return int(conn.execute(select(counters.c.value).where(counters.c.name == name)).scalar_one())
