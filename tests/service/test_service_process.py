"""The scheduler as a real process: immediate pushes (S001-03) and SIGTERM mid-run."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select

from accord.sandbox.exo import ExoEditor
from accord.service import queries
from accord.service.records import edit_record
from accord.service.systems import open_hub
from accord.store import HubStore, bookkeeping
from accord.store.schema import links, records
from tests.service.support import accord, accord_run, count_runs, exo_link, wait_for, write_config


def test_s001_03_a_hub_edit_reaches_the_erp_within_seconds(tmp_path: Path) -> None:
    link = exo_link(tmp_path, "erp", push="immediate", pull="1h")
    settings = write_config(tmp_path / "accord.toml", f"sqlite:///{tmp_path / 'hub.db'}", [link])
    store = open_hub(settings)
    erp = ExoEditor(link.url)
    service = accord("scheduler", "--poll", "0.2", cwd=tmp_path)
    try:
        wait_for(lambda: count_runs(store, "erp", "ok") >= 1, 60, "the first pull")
        company = queries.find_record(store, "erp:company:3")
        edit_record(store, company, {"name": "Harbour Freight Ltd"})
        wait_for(
            lambda: (erp.customer(3) or {}).get("NAME") == "Harbour Freight Ltd",
            30,
            "the edit to reach the ERP",
        )
        # The pull runs hourly: what carried the edit was a push the journal set off.
        with store.transaction() as conn:
            assert (
                conn.execute(
                    select(func.count()).select_from(records).where(records.c.entity == "company")
                ).scalar_one()
                == 8
            )
    finally:
        service.send_signal(signal.SIGTERM)
        _, err = service.communicate(timeout=60)
        erp.close()
        store.close()
    assert service.returncode == 0, err
    assert '"scheduler.stop"' in err and '"clean": true' in err


@pytest.mark.parametrize("command", ["scheduler", "serve"])
def test_sigterm_mid_run_finishes_the_batch_and_writes_nothing_by_half(
    tmp_path: Path, command: str
) -> None:
    link = exo_link(
        tmp_path, "erp", customers=1500, contacts=4000, batch_size=20, push="1h", pull="1h"
    )
    settings = write_config(tmp_path / "accord.toml", f"sqlite:///{tmp_path / 'hub.db'}", [link])
    store = open_hub(settings)
    options = ["--poll", "0.2"] if command == "scheduler" else ["--port", str(_free_port())]
    service = accord(command, *options, cwd=tmp_path)
    try:
        wait_for(lambda: _linked(store) >= 100, 120, "the pull to be under way")
        assert count_runs(store, "erp", "running") == 1
        service.send_signal(signal.SIGTERM)
        _, err = service.communicate(timeout=90)
    finally:
        if service.poll() is None:
            service.kill()
            service.wait(10)
    # Uvicorn (serve) re-raises the signal once shut down; the scheduler exits 0.
    assert service.returncode in (0, -signal.SIGTERM), err
    assert '"scheduler.stop"' in err and '"clean": true' in err
    with store.transaction() as conn:
        (run,) = bookkeeping.recent_runs(conn, 1, "erp")
        linked, hub_records = _linked_conn(conn), _records_conn(conn)
    assert run.status == "stopped", run
    # Each batch is one transaction: what the hub holds is whole batches, every record linked.
    assert 0 < linked < 1500 + 4000
    assert linked == hub_records
    # The next run carries on; nothing is lost or duplicated.
    finished = accord_run("sync", "--pull-only", cwd=tmp_path)
    assert finished.returncode == 0, finished.stderr
    with store.transaction() as conn:
        companies = conn.execute(
            select(func.count(func.distinct(records.c.code))).where(records.c.entity == "company")
        ).scalar_one()
        assert _linked_conn(conn) == _records_conn(conn)
        assert _records_conn(conn, "company") == 1500 == companies
    store.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _linked(store: HubStore) -> int:
    with store.transaction() as conn:
        return _linked_conn(conn)


def _linked_conn(conn: Connection) -> int:
    return int(
        conn.execute(
            select(func.count()).where(links.c.system == "erp", links.c.entity != "salesperson")
        ).scalar_one()
    )


def _records_conn(conn: Connection, entity: str | None = None) -> int:
    query = select(func.count()).where(records.c.entity != "salesperson")
    if entity:
        query = query.where(records.c.entity == entity)
    return int(conn.execute(query).scalar_one())


def test_workers_refuse_a_sqlite_hub(tmp_path: Path) -> None:
    link = exo_link(tmp_path, "erp")
    write_config(tmp_path / "accord.toml", f"sqlite:///{tmp_path / 'hub.db'}", [link])
    result = accord_run("worker", cwd=tmp_path)
    assert result.returncode == 2
    assert "PostgreSQL hub" in result.stderr and "accord serve" in result.stderr
