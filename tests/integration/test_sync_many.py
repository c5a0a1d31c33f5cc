"""Several systems synced at once (`accord sync` with more than one system enabled).

Two Exo-shaped ERPs: erp1 a generated sandbox, erp2 empty. Each system syncs in its own
process; erp2's push sends on what erp1's pull brings in, while erp1 is still pulling.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from accord.config import render
from accord.sandbox.exo import create_schema, generate
from accord.service.sync_many import Outcome, run_many
from accord.store import HubStore
from accord.store.database import make_system_engine
from accord.store.schema import links, runs
from tests.support import exo_erps_config

CUSTOMERS, CONTACTS = 600, 1500


@pytest.fixture
def erps(tmp_path: Path) -> Path:
    generate(f"sqlite:///{tmp_path / 'erp1.db'}", customers=CUSTOMERS, contacts=CONTACTS, seed=5)
    engine = make_system_engine(f"sqlite:///{tmp_path / 'erp2.db'}")
    create_schema(engine)
    engine.dispose()
    with sqlite3.connect(tmp_path / "erp2.db") as conn:  # each ERP keeps its own staff list
        conn.execute("ATTACH DATABASE ? AS src", (str(tmp_path / "erp1.db"),))
        conn.execute("INSERT INTO STAFF SELECT * FROM src.STAFF")
    return tmp_path


def _erp_count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _runs(tmp_path: Path) -> dict[str, list[tuple[str, str, str | None]]]:
    store = HubStore(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        with store.reading() as conn:
            found: dict[str, list[tuple[str, str, str | None]]] = {}
            for row in conn.execute(select(runs).order_by(runs.c.id)):
                found.setdefault(row.system, []).append(
                    (row.status, row.started_at, row.finished_at)
                )
            return found
    finally:
        store.close()


def _first_link(tmp_path: Path, system: str, entity: str) -> str:
    """When ``system`` first confirmed a create of ``entity`` (its oldest live link)."""
    store = HubStore(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        with store.reading() as conn:
            query = select(links.c.updated_at).where(
                links.c.system == system, links.c.entity == entity, links.c.state == "active"
            )
            return str(min(row.updated_at for row in conn.execute(query)))
    finally:
        store.close()


def test_a_push_sends_on_what_another_system_pulls_while_it_pulls(erps: Path) -> None:
    outcomes = run_many(exo_erps_config(erps, "erp1", "erp2"), ["erp1", "erp2"])
    assert [(o.system, o.error) for o in outcomes] == [("erp1", None), ("erp2", None)]
    erp1, erp2 = (o.plan for o in outcomes)
    assert erp1 is not None and erp1.counts["hub.company.create"] == CUSTOMERS
    assert erp2 is not None
    created = erp2.counts["system.company.create"]
    # One run each carried everything: erp2 holds every company it was sent.
    assert created > CUSTOMERS * 0.9 and _erp_count(erps / "erp2.db", "DR_ACCS") == created
    people = erp2.counts["system.person.create"]
    assert people > 0 and _erp_count(erps / "erp2.db", "DR_CONTACTS") == people
    ran = _runs(erps)
    assert {name: [r[0] for r in found] for name, found in ran.items()} == {
        "erp1": ["ok"],
        "erp2": ["ok"],
    }
    # Pipelined, not one after the other: erp2 had companies before erp1's run ended.
    erp1_finished = ran["erp1"][0][2]
    assert erp1_finished is not None
    assert _first_link(erps, "erp2", "company") < erp1_finished


def test_a_system_that_fails_holds_up_nobody(erps: Path) -> None:
    (erps / "broken.db").write_text("this is not a database")
    config = exo_erps_config(erps, "erp1", "broken", "erp2")
    outcomes = run_many(config, ["erp1", "broken", "erp2"])
    by_name = {o.system: o for o in outcomes}
    assert by_name["erp1"].error is None and by_name["erp2"].error is None
    failed = by_name["broken"]
    assert failed.plan is None and failed.error and "broken" in failed.error
    assert _erp_count(erps / "erp2.db", "DR_ACCS") > CUSTOMERS * 0.9


def test_a_sync_process_killed_is_reported_and_the_others_finish(erps: Path) -> None:
    """erp1's process is killed mid-pull: erp2 stops following it and ends."""
    killed: list[int] = []

    def kill_erp1(name: str, entity: str, phase: str, done: int) -> None:
        if name == "erp1" and phase == "pull" and not killed:
            for child in multiprocessing.active_children():
                if child.name == "accord-sync-erp1" and child.pid is not None:
                    os.kill(child.pid, signal.SIGKILL)
                    killed.append(child.pid)

    outcomes: list[Outcome] = run_many(
        exo_erps_config(erps, "erp1", "erp2"), ["erp1", "erp2"], progress=kill_erp1
    )
    assert killed
    erp1, erp2 = outcomes
    assert erp1.plan is None and erp1.error and "exit code -9" in erp1.error
    assert erp2.error is None and erp2.plan is not None
    # The next sync picks up where the killed run stopped: everything reaches erp2.
    again = run_many(exo_erps_config(erps, "erp1", "erp2"), ["erp1", "erp2"])
    assert all(o.error is None for o in again)
    assert _erp_count(erps / "erp2.db", "DR_ACCS") > CUSTOMERS * 0.9
    assert [status for status, _, _ in _runs(erps)["erp1"]] == ["interrupted", "ok"]


def test_accord_sync_runs_the_systems_together_or_one_at_a_time(erps: Path) -> None:
    (erps / "accord.toml").write_text(render(exo_erps_config(erps, "erp1", "erp2")))
    env = {k: v for k, v in os.environ.items() if k != "ACCORD_DATABASE_URL"}
    env["COLUMNS"] = "160"

    def accord(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "accord", *args]
        return subprocess.run(command, cwd=erps, capture_output=True, text=True, env=env)

    together = accord("sync")
    assert together.returncode == 0, together.stderr
    assert "synced erp1" in together.stdout and "synced erp2" in together.stdout
    assert f"{CUSTOMERS:,} create" in together.stdout
    with sqlite3.connect(erps / "erp1.db") as conn:
        conn.execute("UPDATE CONTACTS SET TITLE = 'Chief Buyer', LAST_UPDATED = "
                     "strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE SEQNO = 1")  # fmt: skip
    apart = accord("sync", "--one-at-a-time")
    assert apart.returncode == 0, apart.stderr
    assert "synced erp1" in apart.stdout and "synced erp2" in apart.stdout
    with sqlite3.connect(erps / "erp2.db") as conn:
        titles = [row[0] for row in conn.execute("SELECT TITLE FROM CONTACTS")]
    assert "Chief Buyer" in titles
