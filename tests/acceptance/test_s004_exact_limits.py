"""Exact Online's rate limits, read from the response headers and respected: the client
paces itself instead of earning 429s, reports the budget it used, and stops clearly when
the day's budget is spent. Limits and windows are small so this runs in seconds."""

from __future__ import annotations

import logging

import pytest

from accord.errors import TransientError
from accord.sandbox.exact import Fault
from accord.store import bookkeeping, links
from tests.acceptance.exact_support import SYSTEM, WorldFactory


def test_s004_a_sync_of_1000_accounts_paces_itself_without_a_single_429(
    make_exact: WorldFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # Small pages make many cheap calls: far more than 8 in a second's window.
    world = make_exact(
        accounts=1000, max_contacts=0, sync_page_size=10, minutely_limit=8, minute_seconds=1.0
    )
    caplog.set_level(logging.INFO, logger="accord.connectors.exact")
    world.sync()
    server = world.sandbox.server
    with world.store.transaction() as conn:
        assert links.count_active(conn, SYSTEM, "company") == 1000
    # Far more calls than one window allows, and not one refused.
    assert server.stats["api_calls"] > 100
    assert server.stats["429"] == 0
    (summary,) = [r.getMessage() for r in caplog.records if "API call(s)" in r.getMessage()]
    assert "paused" in summary and "daily budget" in summary


def test_s004_the_daily_limit_stops_the_run_before_exact_refuses(
    make_exact: WorldFactory,
) -> None:
    world = make_exact(accounts=300, sync_page_size=20, daily_limit=6)
    with pytest.raises(TransientError, match="daily limit of 6 calls is used up"):
        world.sync()
    server = world.sandbox.server
    assert server.stats["429"] == 0
    with world.store.transaction() as conn:
        run = bookkeeping.recent_runs(conn, 1, SYSTEM)[0]
    assert run.status == "failed" and "daily limit" in run.message


def test_s004_a_passing_server_error_is_retried(make_exact: WorldFactory) -> None:
    world = make_exact(accounts=10)
    world.sandbox.server.inject(Fault("sync/CRM/Accounts", 503, times=2))
    world.sync()
    with world.store.transaction() as conn:
        assert links.count_active(conn, SYSTEM, "company") == 10
    assert world.sandbox.server.stats["503"] == 2
