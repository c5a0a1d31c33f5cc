"""A set of sandbox links on a PostgreSQL hub, and `accord worker` processes to run them."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text

from accord.config import Config
from accord.store import HubStore
from accord.store.database import normalise_url
from accord.store.schema import links, records, runs
from tests.service.support import ACCORD, Link, exo_link, wait_for, write_config

LINKS = 20
CUSTOMERS = 2
CONTACTS = 4
BIG_CUSTOMERS = 20
BIG_CONTACTS = 50
# No shared contacts or same-name pairs: every ERP row is one hub record, easy to count.
PLAIN = {"shared_fraction": 0.0, "duplicate_fraction": 0.0, "invalid_emails": 0, "salespersons": 2}


def link_set(
    folder: Path, hub_url: str, every: str = "3s", count: int = LINKS, big_first: bool = False
) -> Config:
    """``count`` Exo sandbox links; the first owns the account codes, the others number
    their own. ``big_first``: the first is larger and read in small batches, so its first
    pull takes seconds (long enough to kill a worker in the middle of it)."""
    made: list[Link] = [
        exo_link(
            folder,
            f"erp{i:02d}",
            customers=BIG_CUSTOMERS if big_first and i == 0 else CUSTOMERS,
            contacts=BIG_CONTACTS if big_first and i == 0 else CONTACTS,
            seed=100 + i,
            generator=PLAIN,
            push=every,
            pull=every,
            owns_codes=i == 0,
            batch_size=2 if big_first and i == 0 else 1000,
        )
        for i in range(count)
    ]
    return write_config(folder / "accord.toml", hub_url, made)


@dataclass
class Workers:
    folder: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # more environment for the workers

    def start(self, count: int, *extra: str) -> None:
        for _ in range(count):
            log = self.folder / f"worker{len(self.procs)}.log"
            with log.open("wb") as sink:
                proc = subprocess.Popen(
                    [
                        ACCORD,
                        "worker",
                        "--tick",
                        "1",
                        "--heartbeat",
                        "1",
                        "--stalled-after",
                        "4",
                        *extra,
                    ],
                    cwd=self.folder,
                    env={**os.environ, "ACCORD_DATABASE_URL": "", **self.env},
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            self.procs.append(proc)
            self.logs.append(log)

    def stop(self) -> list[int]:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(60))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait(10))
        return codes

    def log_text(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.logs)


def erp_counts(settings: Config) -> dict[str, tuple[int, int]]:
    """Per link: (customers, contacts) in its ERP."""
    counts = {}
    for name, system in settings.systems.items():
        engine = create_engine(str(system.url))
        with engine.connect() as conn:
            customers = conn.execute(text("SELECT count(*) FROM DR_ACCS")).scalar_one()
            contacts = conn.execute(text("SELECT count(*) FROM CONTACTS")).scalar_one()
        engine.dispose()
        counts[name] = (int(customers), int(contacts))
    return counts


def active_links(store: HubStore) -> dict[str, tuple[int, int]]:
    """Per link: (companies, people) it has live links for."""
    with store.transaction() as conn:
        rows = conn.execute(
            select(links.c.system, links.c.entity, func.count())
            .where(links.c.state == "active")
            .group_by(links.c.system, links.c.entity)
        ).all()
    found: dict[str, dict[str, int]] = {}
    for system, entity, n in rows:
        found.setdefault(system, {})[entity] = int(n)
    return {s: (e.get("company", 0), e.get("person", 0)) for s, e in found.items()}


def unlinked_active_companies(store: HubStore, systems: list[str]) -> int:
    """Active hub companies some link has not received yet."""
    with store.transaction() as conn:
        active = (
            conn.execute(
                select(records.c.id).where(
                    records.c.entity == "company", records.c.active.is_(True)
                )
            )
            .scalars()
            .all()
        )
        pairs = set(
            conn.execute(
                select(links.c.system, links.c.hub_id).where(
                    links.c.entity == "company", links.c.state == "active"
                )
            ).all()
        )
    return sum(1 for system in systems for hub_id in active if (system, hub_id) not in pairs)


def hub_counts(store: HubStore) -> tuple[int, int]:
    with store.transaction() as conn:
        rows = conn.execute(select(records.c.entity, func.count()).group_by(records.c.entity))
        found = {str(entity): int(n) for entity, n in rows}
    return int(found.get("company", 0)), int(found.get("person", 0))


def links_per_record(store: HubStore) -> dict[tuple[str, str], int]:
    """How many hub records have other than exactly one active link, per (system, entity)."""
    with store.transaction() as conn:
        rows = conn.execute(
            select(links.c.system, links.c.entity, links.c.hub_id, func.count())
            .where(links.c.state == "active", links.c.entity != "salesperson")
            .group_by(links.c.system, links.c.entity, links.c.hub_id)
            .having(func.count() != 1)
        ).all()
    odd: dict[tuple[str, str], int] = {}
    for row in rows:
        odd[(row[0], row[1])] = odd.get((row[0], row[1]), 0) + 1
    return odd


def overlapping_runs(store: HubStore) -> list[Any]:
    """Pairs of runs of one link whose times overlap (there must be none)."""
    with store.transaction() as conn:
        rows = conn.execute(
            select(runs.c.id, runs.c.system, runs.c.started_at, runs.c.finished_at).order_by(
                runs.c.system, runs.c.started_at, runs.c.id
            )
        ).all()
    found = []
    for before, after in pairwise(rows):
        if before.system != after.system:
            continue
        if before.finished_at is None or after.started_at < before.finished_at:
            found.append((before, after))
    return found


def job_rows(hub_url: str, task: str) -> list[Any]:
    engine = create_engine(normalise_url(hub_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, args, status, attempts, worker_id FROM procrastinate_jobs"
                    " WHERE task_name = :task ORDER BY id"
                ),
                {"task": task},
            ).all()
    finally:
        engine.dispose()
    return list(rows)


def hub_when_ready(url: str) -> HubStore:
    """The hub, once a worker has set its schemas up (Procrastinate's included)."""

    def ready() -> bool:
        try:
            job_rows(url, "accord.tick")
        except Exception:
            return False
        return True

    wait_for(ready, 60, "the schemas")
    return HubStore(url, create=False)
