"""Unleashed benchmark: API calls per changed record, and hub-edit -> Unleashed latency.

Run from the repository root::

    .venv/bin/python bench/unleashed_bench.py                      # 2,000 / 5,000, 2% edits
    .venv/bin/python bench/unleashed_bench.py --customers 500 --contacts 1200 --edits 20

Against the sandbox Unleashed over real HTTP on 127.0.0.1. See bench/README.md.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from accord.clock import SystemClock
from accord.config import Config, HubConfig, Schedule, SystemConfig
from accord.connectors.base import Operation
from accord.connectors.unleashed import UnleashedConnector
from accord.engine import SyncContext, sync
from accord.presets import preset
from accord.sandbox.unleashed import UnleashedSandbox
from accord.sandbox.unleashed_generate import generate
from accord.service.records import edit_record
from accord.store import HubStore, links

API_ID, API_KEY_ENV = "0e7d5c3b-aaaa-4bbb-8ccc-1d2e3f4a5b6c", "ACCORD_BENCH_UNLEASHED_KEY"
API_KEY = "bench-key"
WRITES = ("POST", "PUT", "DELETE")
LATENCY_TARGET = 2.0  # seconds, p95 of hub edit -> visible in Unleashed


@dataclass
class Phase:
    name: str
    changed: int
    reads: int
    writes: int
    target_reads: int
    target_writes: int

    def row(self) -> str:
        per = f"{(self.reads + self.writes) / self.changed:.2f}" if self.changed else "-"
        ok = self.reads <= self.target_reads and self.writes <= self.target_writes
        return (
            f"{self.name:<34}{self.changed:>8}{self.reads:>7}{self.target_reads:>8}"
            f"{self.writes:>8}{self.target_writes:>8}{per:>10}  {'ok' if ok else 'MISSED'}"
        )


def _calls(sandbox: UnleashedSandbox) -> tuple[int, int]:
    by = sandbox.stats.by_method
    return by["GET"], sum(by[m] for m in WRITES)


def _run(store: HubStore, connector: UnleashedConnector, batch: int) -> None:
    profile = preset("crm-unleashed").profile()
    sync(SyncContext(store, connector, profile, "unleashed", SystemClock(), batch_size=batch))


def _measure(
    name: str,
    sandbox: UnleashedSandbox,
    store: HubStore,
    connector: UnleashedConnector,
    batch: int,
    *,
    changed: int,
    changed_pages: int,
    writes: int,
) -> Phase:
    reads0, writes0 = _calls(sandbox)
    _run(store, connector, batch)
    reads1, writes1 = _calls(sandbox)
    # One read per page of changes per entity, and one for the sales persons.
    return Phase(name, changed, reads1 - reads0, writes1 - writes0, 1 + changed_pages, writes)


def _pages(records: int, size: int) -> int:
    return max(1, math.ceil(records / size))


def calls_per_record(
    args: argparse.Namespace, sandbox: UnleashedSandbox, store: HubStore
) -> list[Phase]:
    connector = UnleashedConnector(
        "unleashed", sandbox.url, API_ID, API_KEY, page_size=args.page_size
    )
    size, phases = args.page_size, []
    try:
        total = args.customers
        phases.append(
            _measure(
                "initial import",
                sandbox,
                store,
                connector,
                size,
                changed=total + args.contacts,
                changed_pages=2 * _pages(total, size),
                writes=0,
            )
        )
        phases.append(
            _measure(
                "incremental, nothing changed",
                sandbox,
                store,
                connector,
                size,
                changed=0,
                changed_pages=2,
                writes=0,
            )
        )
        guids = sandbox.data.all_customer_guids()[: args.edits]
        for i, guid in enumerate(guids):
            sandbox.data.save_customer(guid, {"PhoneNumber": f"09 300 {1000 + i}"})
        contacts = sandbox.data.all_contacts()[: args.edits]
        for owner, contact in contacts:
            sandbox.data.save_contact(
                owner,
                contact["Guid"],
                {"Email": f"b{contact['Guid'][:8]}@x.example"},
                creating=False,
            )
        # A contact edit stamps its customer: the customers read covers both sets.
        touched = len(set(guids) | {owner for owner, _ in contacts})
        phases.append(
            _measure(
                "incremental, edits in Unleashed",
                sandbox,
                store,
                connector,
                size,
                changed=len(guids) + len(contacts),
                changed_pages=2 * _pages(touched, size),
                writes=0,
            )
        )
        with store.transaction() as conn:
            companies = list(links.external_ids(conn, "unleashed", "company"))[: args.edits]
            people = list(links.external_ids(conn, "unleashed", "person"))[: args.edits]
        for i, (_, hub_id) in enumerate(companies):
            edit_record(store, hub_id, {"name": f"Bench Renamed {i} Ltd"})
        for i, (_, hub_id) in enumerate(people):
            edit_record(store, hub_id, {"last_name": f"Bench{i}"})
        # The pull before the push re-reads the edits of the previous phase's overlap only.
        phases.append(
            _measure(
                "incremental, edits in the hub",
                sandbox,
                store,
                connector,
                size,
                changed=len(companies) + len(people),
                changed_pages=2 * _pages(touched, size),
                writes=len(companies) + len(people),
            )
        )
    finally:
        connector.close()
    return phases


def latency(
    args: argparse.Namespace, sandbox: UnleashedSandbox, hub_url: str
) -> tuple[list[float], float] | None:
    try:
        from accord.jobs.inline import InlineScheduler
    except ImportError:
        return None
    config = Config(
        hub=HubConfig(database=hub_url, database_env=None),
        systems={
            "unleashed": SystemConfig(
                kind="unleashed",
                preset="crm-unleashed",
                url=sandbox.url,
                sync="two-way",
                schedule=Schedule(push="immediate", pull="12h"),
                options={"api_id": API_ID},
                secrets_env={"api_key": API_KEY_ENV},
            )
        },
    )
    store = HubStore(hub_url)
    scheduler = InlineScheduler(config, store=store)
    scheduler.start()
    try:
        _wait(lambda: any(o.direction == "pull" for o in scheduler.history), 120)
        with store.transaction() as conn:
            pairs = list(links.external_ids(conn, "unleashed", "company"))[-args.latency_edits :]
        seconds = []
        for i, (guid, hub_id) in enumerate(pairs):
            name = f"Latency {i} Ltd"
            start = time.perf_counter()
            edit_record(store, hub_id, {"name": name})
            if not _wait(
                lambda g=guid, n=name: (sandbox.data.customer(g) or {}).get("CustomerName") == n, 30
            ):
                raise SystemExit(f"edit {i} never reached Unleashed")
            seconds.append(time.perf_counter() - start)
    finally:
        scheduler.stop()
        store.close()
    # Baseline: one direct write round trip over the same HTTP, in the same run.
    connector = UnleashedConnector("unleashed", sandbox.url, API_ID, API_KEY)
    direct = []
    for i, (guid, _) in enumerate(pairs[:10]):
        start = time.perf_counter()
        assert connector.apply("customers", [Operation("update", guid, {"Notes": f"n{i}"})])[0].ok
        direct.append(time.perf_counter() - start)
    connector.close()
    return seconds, statistics.median(direct)


def _wait(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.005)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--edits", type=int, default=40, help="records edited on each side")
    parser.add_argument("--page-size", type=int, default=200)
    parser.add_argument("--latency-edits", type=int, default=20)
    args = parser.parse_args(argv)
    os.environ[API_KEY_ENV] = API_KEY
    with tempfile.TemporaryDirectory() as tmp, UnleashedSandbox(API_ID, API_KEY) as sandbox:
        generate(sandbox.data, customers=args.customers, contacts=args.contacts, salespersons=8)
        hub_url = f"sqlite:///{Path(tmp) / 'hub.db'}"
        store = HubStore(hub_url)
        try:
            phases = calls_per_record(args, sandbox, store)
        finally:
            store.close()
        print(
            f"Unleashed API calls ({args.customers:,} customers, {args.contacts:,} contacts,"
            f" page size {args.page_size}); target: reads <= 1 per page of changes per entity"
            " + 1 for sales persons, writes = 1 per changed hub record"
        )
        print(
            f"{'phase':<34}{'changed':>8}{'reads':>7}{'target':>8}{'writes':>8}{'target':>8}{'calls/rec':>10}"
        )
        for phase in phases:
            print(phase.row())
        measured = latency(args, sandbox, hub_url)
    failed = any(p.reads > p.target_reads or p.writes != p.target_writes for p in phases)
    if measured is None:
        print("latency: the immediate-push scheduler (accord.jobs.inline) is not installed")
        return 1 if failed else 0
    seconds, direct = measured
    cuts = statistics.quantiles(seconds, n=20)
    p50, p95 = statistics.median(seconds), cuts[18]
    print(
        f"hub edit -> Unleashed (immediate push, {len(seconds)} edits): p50 {p50:.3f} s,"
        f" p95 {p95:.3f} s (target < {LATENCY_TARGET:.0f} s: {'ok' if p95 < LATENCY_TARGET else 'MISSED'});"
        f" direct write round trip {direct * 1000:.1f} ms, p95/direct {p95 / direct:.0f}x"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
