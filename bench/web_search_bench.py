"""Customer search on a 50,000-customer hub: time per query, against a baseline.

    .venv/bin/python bench/web_search_bench.py [--customers 50000] [--repeat 5]

Builds a hub on SQLite (in a temporary folder) with N customers written in batches through
the store (as a sync would), then times the list screen's search (S002-11) by name,
account number, phone and email, both through the service and through the REST API
(in-process HTTP). The baseline, measured in the same run, is one plain read of every
customer's id and name: the least any search that looks at every customer must do.
Target: under 300 ms per query.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from accord.clock import SystemClock, to_iso
from accord.config import Config, HubConfig
from accord.sandbox import fake_data
from accord.service import customers
from accord.service import users as user_service
from accord.store import HubStore
from accord.store import records as record_store
from accord.store.schema import records
from accord.store.types import ALL_FIELDS, RecordWrite
from accord.web.app import create_app

TARGET_MS = 300.0


def build(store: HubStore, count: int, seed: int = 11) -> dict[str, str]:
    """Write ``count`` customers; returns one customer's searchable values to look for."""
    rng = random.Random(seed)
    at = to_iso(SystemClock().now())
    probe: dict[str, str] = {}
    for start in range(0, count, 5000):
        writes = []
        with store.transaction() as conn:
            ids = record_store.new_ids(conn, min(5000, count - start))
            for n, record_id in enumerate(ids, start=start + 1):
                first, last = rng.choice(fake_data.FIRST_NAMES), rng.choice(fake_data.LAST_NAMES)
                city = rng.choice(fake_data.NZ_CITIES)
                data = {
                    "code": str(100000 + n),
                    "first_name": first,
                    "last_name": f"{last}{n}",
                    "name": f"{first} {last}{n}",
                    "phone": f"+649{rng.randrange(2000000, 9999999)}",
                    "email": f"{first.lower()}.{last.lower()}{n}@example.com",
                    "address.postal.city": city.name,
                    "home_location": "Main Street",
                    "location_group": "All",
                    "active": n % 20 != 0,
                    "price_level": "ABC"[n % 3],
                }
                if n == count // 2 + 1:
                    probe = {k: str(data[k]) for k in ("code", "last_name", "phone", "email")}
                writes.append(
                    RecordWrite(
                        record_id,
                        "company",
                        "create",
                        {k: [None, v] for k, v in data.items()},
                        "bench",
                        at,
                        data,
                        {ALL_FIELDS: ["bench", None, at]},
                    )
                )
            record_store.apply_writes(conn, writes, None, at)
    return probe


def timed(action: Callable[[], object], repeat: int) -> float:
    """Median milliseconds of ``repeat`` runs (after one warm-up)."""
    action()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'hub.db'}"
        store = HubStore(url)
        started = time.perf_counter()
        probe = build(store, args.customers)
        print(f"built {args.customers:,} customers in {time.perf_counter() - started:.1f}s")

        def baseline() -> object:
            with store.transaction() as conn:
                return conn.execute(
                    select(records.c.id, records.c.label).where(records.c.entity == "company")
                ).all()

        base_ms = timed(baseline, args.repeat)
        user_service.add_user(store, "bench", "bench-password", "viewer")
        token = user_service.create_token(store, "bench", "bench")
        settings = Config(hub=HubConfig(database=url, database_env=None))
        client = TestClient(
            create_app(settings, store=store), headers={"Authorization": f"Bearer {token}"}
        )
        queries = {
            "browse (no term)": "",
            "name fragment": probe["last_name"][:-2],
            "full name": probe["last_name"],
            "account number": probe["code"],
            "phone (national)": "0" + probe["phone"][3:],
            "email": probe["email"],
            "no match": "zzzz-nothing",
        }
        print(f"baseline: read every customer's id and name: {base_ms:.1f} ms")
        print(
            f"{'query':<20} {'hits':>7} {'service ms':>11} {'API ms':>8} {'x baseline':>11} {'target':>7}"
        )
        worst = 0.0
        for label, term in queries.items():
            hits = customers.search_customers(store, term).total

            def in_service(term: str = term) -> object:
                return customers.search_customers(store, term)

            service_ms = timed(in_service, args.repeat)

            def over_http(term: str = term) -> object:
                response = client.get("/api/v1/customers", params={"q": term})
                response.raise_for_status()
                return response

            api_ms = timed(over_http, args.repeat)
            worst = max(worst, api_ms)
            verdict = "ok" if api_ms < TARGET_MS else "SLOW"
            print(
                f"{label:<20} {hits:>7,} {service_ms:>11.1f} {api_ms:>8.1f} {api_ms / base_ms:>10.1f}x {verdict:>7}"
            )
        print(
            f"worst per-query time through the API: {worst:.1f} ms (target < {TARGET_MS:.0f} ms), {worst / base_ms:.1f}x the baseline"
        )
        client.close()
        store.close()


if __name__ == "__main__":
    main()
