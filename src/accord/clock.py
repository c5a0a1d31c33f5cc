"""The one place time comes from, so tests can freeze it or set it.

Times are timezone-aware UTC datetimes inside the program and fixed-width ISO 8601
strings (``2026-11-24T08:33:36.000000Z``) in JSON, so stored times compare as strings.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from accord.errors import ConfigError

ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to; every reading can also step it forward."""

    def __init__(self, start: datetime | None = None, step: timedelta = timedelta(0)) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._step = step

    def now(self) -> datetime:
        current = self._now
        self._now = current + self._step
        return current

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, moment: datetime) -> None:
        self._now = moment


def to_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(ISO_FORMAT)


def from_iso(text: str) -> datetime:
    return datetime.strptime(text, ISO_FORMAT).replace(tzinfo=UTC)


def as_utc(moment: datetime) -> datetime:
    """Naive datetimes (as SQL databases return them) are taken to be UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


UTC_NAMES = frozenset({"UTC", "ETC/UTC", "Z", "GMT", "ETC/GMT"})


def zone_named(name: str) -> tzinfo:
    """An IANA time zone by name (UTC as ``datetime.UTC``)."""
    if name.upper() in UTC_NAMES:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {name!r}: give an IANA name such as Pacific/Auckland",
            field="time_zone",
        ) from None


def local_date(moment: datetime, zone: str | tzinfo) -> date:
    """The calendar date of a moment on the business's clock (``[hub] time_zone``)."""
    where = zone_named(zone) if isinstance(zone, str) else zone
    return as_utc(moment).astimezone(where).date()


def local_moment(text: str | None, zone: str, *, seconds: bool = False) -> str:
    """A stored time (ISO 8601) as the business's wall clock shows it: ``YYYY-MM-DD HH:MM``
    (``:SS`` too with ``seconds``).

    A date alone, or text that is not a time, is shown as it is.
    """
    if not text:
        return ""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None and len(text) <= 10:
        return text  # a calendar date: no clock to turn
    shown = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return as_utc(moment).astimezone(zone_named(zone)).strftime(shown)


def local_zone_name() -> str:
    """This machine's IANA time zone (TZ, else /etc/localtime's target), or "UTC"."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = os.path.realpath("/etc/localtime")
        candidates.append(target.partition("/zoneinfo/")[2])
    except OSError:
        pass
    for name in candidates:
        if not name:
            continue
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        return name
    return "UTC"
