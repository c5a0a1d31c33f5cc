"""Scheduling state kept in the hub's settings table: paused links and when each runs next.

Both runners (the inline scheduler and the workers' scheduler) read and write the same
keys, so `accord status` shows the next run whichever one is in charge.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from accord.clock import from_iso, to_iso
from accord.store import HubStore, bookkeeping
from accord.store.schema import cursors, journal, runs, settings

PAUSED = "jobs.paused."
NEXT = "jobs.next."
JOURNAL_SEEN = "jobs.journal_seen"
NIGHTLY_DONE = "jobs.nightly_done."
# An immediate push that hub changes called for but that did not run (the link was paused
# or off, or a worker's push job gave up): the next look queues it, edit or no edit.
PUSH_OWED = "jobs.push_owed."


def is_paused(conn: Connection, system: str) -> bool:
    return bool(bookkeeping.get_setting(conn, PAUSED + system, False))


def set_paused(store: HubStore, system: str, paused: bool) -> None:
    with store.transaction() as conn:
        bookkeeping.set_setting(conn, PAUSED + system, paused)


def next_due(conn: Connection, system: str, direction: str) -> datetime | None:
    value = bookkeeping.get_setting(conn, f"{NEXT}{system}.{direction}")
    return from_iso(value) if value else None


def set_next_due(conn: Connection, system: str, direction: str, at: datetime) -> None:
    bookkeeping.set_setting(conn, f"{NEXT}{system}.{direction}", to_iso(at))


def nightly_done(conn: Connection, system: str) -> str | None:
    """The date (YYYY-MM-DD) the system's nightly jobs last ran."""
    value = bookkeeping.get_setting(conn, NIGHTLY_DONE + system)
    return str(value) if value else None


def set_nightly_done(conn: Connection, system: str, day: str) -> None:
    bookkeeping.set_setting(conn, NIGHTLY_DONE + system, day)


def set_push_owed(conn: Connection, system: str, owed: bool) -> None:
    bookkeeping.set_setting(conn, PUSH_OWED + system, owed)


class Snapshot:
    """Every link's scheduling keys, read in one query: the tick looks at every link each
    time (every second or two), so it reads them at once rather than two or three per link."""

    def __init__(self, conn: Connection) -> None:
        rows = conn.execute(
            select(settings.c.key, settings.c.value).where(settings.c.key.like("jobs.%"))
        )
        self._values = {str(row.key): row.value for row in rows}

    def paused(self) -> set[str]:
        return {
            k.removeprefix(PAUSED) for k, v in self._values.items() if k.startswith(PAUSED) and v
        }

    def next_due(self, system: str, direction: str) -> datetime | None:
        value = self._values.get(f"{NEXT}{system}.{direction}")
        return from_iso(value) if value else None

    def nightly_done(self, system: str) -> str | None:
        value = self._values.get(NIGHTLY_DONE + system)
        return str(value) if value else None

    def push_owed(self, system: str) -> bool:
        return bool(self._values.get(PUSH_OWED + system))


def newest_seq(conn: Connection) -> int:
    """The journal's newest sequence number: one index lookup, cheap to poll."""
    return int(conn.execute(select(func.coalesce(func.max(journal.c.seq), 0))).scalar_one())


def last_ok_finish(conn: Connection, system: str) -> datetime | None:
    row = conn.execute(
        select(func.max(runs.c.finished_at)).where(
            runs.c.system == system, runs.c.status == "ok", runs.c.dry_run.is_(False)
        )
    ).scalar_one()
    return from_iso(row) if row else None


def unpushed_changes(conn: Connection, system: str) -> int:
    """Hub changes from elsewhere past the system's push position, over the entities it
    pushes (those with a push position; sales people, kept in the ERP, have none)."""
    positions = conn.execute(
        select(cursors.c.entity, cursors.c.push_seq).where(
            cursors.c.system == system, cursors.c.push_seq > 0
        )
    ).all()
    total = 0
    for entity, position in positions:
        total += int(
            conn.execute(
                select(func.count()).where(
                    journal.c.entity == entity, journal.c.seq > position, journal.c.system != system
                )
            ).scalar_one()
        )
    return total


def get_journal_seen(conn: Connection) -> int | None:
    value = bookkeeping.get_setting(conn, JOURNAL_SEEN)
    return None if value is None else int(value)


def set_journal_seen(conn: Connection, seq: int) -> None:
    bookkeeping.set_setting(conn, JOURNAL_SEEN, seq)
