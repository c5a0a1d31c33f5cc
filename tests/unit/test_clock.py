"""Stored UTC times shown on the business's clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from accord.clock import local_date, local_moment


@pytest.mark.parametrize(
    ("stored", "zone", "shown"),
    [
        ("2026-01-02T23:30:00.000000Z", "Pacific/Auckland", "2026-01-03 12:30"),  # NZDT +13
        ("2026-07-02T23:30:00.000000Z", "Pacific/Auckland", "2026-07-03 11:30"),  # NZST +12
        ("2026-07-02T23:30:00.000000Z", "UTC", "2026-07-02 23:30"),
        ("2026-07-02T23:30:00+02:00", "UTC", "2026-07-02 21:30"),  # an offset is honoured
        ("2026-07-02T08:05:00", "America/New_York", "2026-07-02 04:05"),  # naive: UTC
        ("2026-07-02", "Pacific/Auckland", "2026-07-02"),  # a date has no clock to turn
        ("not a time", "UTC", "not a time"),
        (None, "UTC", ""),
    ],
)
def test_a_stored_time_is_shown_on_the_business_s_clock(
    stored: str | None, zone: str, shown: str
) -> None:
    assert local_moment(stored, zone) == shown


def test_the_business_s_date_of_a_moment() -> None:
    late = datetime(2026, 6, 10, 20, 0, tzinfo=UTC)
    assert local_date(late, "Pacific/Auckland") == date(2026, 6, 11)
    assert local_date(late, "UTC") == date(2026, 6, 10)
    assert local_date(late.astimezone(timezone(timedelta(hours=-7))), "UTC") == date(2026, 6, 10)
