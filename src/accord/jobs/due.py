"""What is due to run now: the one scheduling decision both runners make.

Each direction runs on its own interval (S000-04); ``push = "immediate"`` links get a push
whenever the journal moved since the last look (S001-03), or as soon as they can after
changes went by while they could not (paused, off, a push job that gave up); a preset's nightly jobs run once
a day after the configured time (S001-05), a time on the business's clock (``[hub]
time_zone``): "02:00" is two at night where the business is, not in Greenwich. Next-due times live in the hub's settings
table, so they survive restarts and `accord status` can show them.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import Connection

from accord.clock import zone_named
from accord.config import IMMEDIATE, Config, parse_duration
from accord.jobs import state, tasks

Job = tuple[str, str]  # ("sync", "pull" | "push") or ("nightly", job name)


def due_jobs(
    conn: Connection, settings: Config, now: datetime, seen: int | None
) -> tuple[list[tuple[str, Job]], int]:
    """The jobs due now, by system, and the journal's newest sequence (the next ``seen``).

    Marks what it returns as scheduled (next-due times move on), so call it from one
    place at a time: the inline scheduler's loop, or the workers' periodic tick.
    ``seen=None``: no earlier look, so immediate links get a push to catch up.
    """
    known = state.Snapshot(conn)
    paused = known.paused()
    newest = state.newest_seq(conn)
    due: list[tuple[str, Job]] = []
    moved = seen is None or newest > seen
    for name, system in settings.systems.items():
        schedule = system.schedule
        # A one-way import never writes to the system: a push would open it for nothing.
        pushes = system.sync != "import"
        immediate = pushes and schedule.push == IMMEDIATE
        if system.sync == "off" or name in paused:
            if immediate and moved and not known.push_owed(name):
                # Changes went by while it could not push: owed when it can again.
                state.set_push_owed(conn, name, True)
            continue
        for direction in ("pull", "push") if pushes else ("pull",):
            every = getattr(schedule, direction)
            if every == IMMEDIATE:
                continue
            when = known.next_due(name, direction)
            interval = parse_duration(every)
            if when is not None and when > now + interval:
                # The interval was shortened since: the old, later time no longer holds.
                when = now + interval
                state.set_next_due(conn, name, direction, when)
            if when is None or now >= when:
                due.append((name, ("sync", direction)))
                state.set_next_due(conn, name, direction, now + interval)
        owed = known.push_owed(name)
        if owed:
            state.set_push_owed(conn, name, False)
        if immediate and (moved or owed):
            due.append((name, ("sync", "push")))
        due.extend((name, ("nightly", job)) for job in _nightly(conn, known, settings, name, now))
    return due, newest


def _nightly(
    conn: Connection, known: state.Snapshot, settings: Config, name: str, now: datetime
) -> list[str]:
    jobs = tasks.nightly_jobs(settings, name)
    if not jobs:
        return []
    hour, minute = (int(part) for part in settings.system(name).schedule.nightly.split(":"))
    # Wall-clock time and date where the business is. On the night clocks go forward a
    # time that does not exist is passed, so it runs at the first moment after; on the
    # night they go back it runs once, the first time that hour comes round.
    local = now.astimezone(zone_named(settings.hub.time_zone))
    after = local.time() >= time(hour, minute)
    today = local.date().isoformat()
    done = known.nightly_done(name)
    if done is None:
        # The first look: the first run is at the next occurrence of the time, not now.
        yesterday = (local.date() - timedelta(days=1)).isoformat()
        state.set_nightly_done(conn, name, today if after else yesterday)
        return []
    if not after or done == today:
        return []
    state.set_nightly_done(conn, name, today)
    return jobs
