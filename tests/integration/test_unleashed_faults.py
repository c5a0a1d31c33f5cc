"""A bad day at Unleashed: 20% of calls answered 429, 500, too slowly or not at all.

2,000 customers and 5,000 contacts are imported, then hub edits and requested contact
creates are sent, all through the faults; nothing may be lost or made twice. Prints the
API calls and retries it took (run with ``-s`` to see them).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.clock import SystemClock
from accord.connectors.unleashed import UnleashedConnector
from accord.connectors.unleashed_http import RetryPolicy
from accord.presets import preset
from accord.sandbox.unleashed import Faults, UnleashedSandbox
from accord.sandbox.unleashed_generate import generate
from accord.service.records import create_record, edit_record
from accord.store import HubStore, bookkeeping, links, records
from tests.support import run_sync

API_ID, API_KEY = "a9f3e2d1-1111-4222-8333-944455556666", "fault-test-key"
CUSTOMERS, CONTACTS = 2000, 5000
EDITS, CREATES = 200, 100
MAX_RUNS = 3  # a record whose every retry failed is retried by the next run


@pytest.fixture
def sandbox() -> Iterator[UnleashedSandbox]:
    faults = Faults(rate=0.2, seed=2026, retry_after=1, slow_seconds=1.0)
    with UnleashedSandbox(API_ID, API_KEY) as server:
        generate(server.data, customers=CUSTOMERS, contacts=CONTACTS, salespersons=8, seed=4)
        server.set_faults(faults)
        yield server


def _sync_until_clean(
    store: HubStore,
    connector: UnleashedConnector,
    requested: set[int] = frozenset(),  # type: ignore[assignment]
) -> int:
    profile = preset("crm-unleashed").profile()
    for run in range(1, MAX_RUNS + 1):
        run_sync(store, connector, profile, SystemClock(), batch_size=200, requested=requested)
        with store.transaction() as conn:
            if not bookkeeping.open_errors(conn, connector.name):
                return run
    return MAX_RUNS + 1


@pytest.mark.slow
def test_a_sync_through_20_percent_faults_loses_nothing_and_makes_nothing_twice(
    sandbox: UnleashedSandbox, tmp_path: Path
) -> None:
    started = time.monotonic()
    connector = UnleashedConnector(
        "unleashed",
        sandbox.url,
        API_ID,
        API_KEY,
        timeout=0.5,
        retry=RetryPolicy(max_retries=8, backoff_base=0.05, backoff_cap=1.0),
        page_size=200,
        seed=1,
    )
    store = HubStore(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        assert _sync_until_clean(store, connector) <= MAX_RUNS
        with store.transaction() as conn:
            assert records.totals(conn) == {
                "company": CUSTOMERS,
                "person": CONTACTS,
                "salesperson": 8,
            }
            companies = dict(links.external_ids(conn, "unleashed", "company"))
            people = dict(links.external_ids(conn, "unleashed", "person"))
        assert set(companies) == set(sandbox.data.all_customer_guids())
        erp_contacts = {f"{c['Guid']}@{owner}" for owner, c in sandbox.data.all_contacts()}
        assert set(people) == erp_contacts and len(set(people.values())) == CONTACTS

        renamed = {guid: f"Renamed {i} Ltd" for i, guid in enumerate(sorted(companies)[:EDITS])}
        for guid, name in renamed.items():
            edit_record(store, companies[guid], {"name": name})
        emails = {key: f"moved{i}@fault.example" for i, key in enumerate(sorted(people)[:EDITS])}
        for key, email in emails.items():
            edit_record(store, people[key], {"email": email})
        owners = sorted(companies)[EDITS : EDITS + CREATES]
        asked = {
            create_record(
                store,
                "person",
                {"kind": "contact", "company": companies[guid], "first_name": f"Asked{i}"},
            )
            for i, guid in enumerate(owners)
        }
        assert _sync_until_clean(store, connector, asked) <= MAX_RUNS

        for guid, name in renamed.items():
            assert sandbox.data.customer(guid)["CustomerName"] == name  # type: ignore[index]
        now = {f"{c['Guid']}@{owner}": c for owner, c in sandbox.data.all_contacts()}
        assert all(now[key]["Email"] == email for key, email in emails.items())
        made = [
            c["ContactFirstName"]
            for c in now.values()
            if str(c.get("ContactFirstName")).startswith("Asked")
        ]
        assert sorted(made) == sorted(f"Asked{i}" for i in range(CREATES))  # each once
        assert len(now) == CONTACTS + CREATES
        with store.transaction() as conn:
            linked = links.by_hub(conn, "unleashed", "person", sorted(asked))
        assert all(link.state == "active" for link in linked.values()) and len(linked) == CREATES
    finally:
        store.close()
        connector.close()
    print(
        f"\nunleashed faults: {connector.api_calls} API calls, {connector.retries} retries,"
        f" faults injected {dict(sandbox.stats.faults)} of {sandbox.stats.requests} requests,"
        f" {time.monotonic() - started:.0f} s"
    )
    # Every fault was retried (a loaded machine may add a genuine timeout or two).
    assert connector.retries >= sum(sandbox.stats.faults.values())


def test_a_retry_after_given_as_a_date_is_waited_for() -> None:
    # HTTP allows Retry-After as seconds or as a date; a date must not read as "now".
    import threading
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from accord.connectors.unleashed_http import UnleashedHttp

    answers = [429, 200]

    class Throttling(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = answers.pop(0)
            self.send_response(status)
            if status == 429:
                later = datetime.now(UTC) + timedelta(seconds=30)
                self.send_header("Retry-After", format_datetime(later, usegmt=True))
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"Items": []}')

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Throttling)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    waits: list[float] = []
    try:
        http = UnleashedHttp(
            f"http://127.0.0.1:{server.server_address[1]}", API_ID, API_KEY, sleep=waits.append
        )
        assert http.get("/Customers").ok
        http.close()
    finally:
        server.shutdown()
        server.server_close()
    assert len(waits) == 1 and 25 <= waits[0] <= 31
