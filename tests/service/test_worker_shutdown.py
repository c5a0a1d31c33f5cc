"""SIGTERM to `accord worker`: the sync in hand stops between two batches and is retried."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import procrastinate
import pytest
from sqlalchemy import Connection, func, select
from sqlalchemy.engine import make_url

from accord.jobs.worker import SYNC_QUEUE, SYNC_TASK, conninfo
from accord.store import HubStore, bookkeeping
from accord.store.schema import links, records
from tests.service import workers as w
from tests.service.support import exo_link, wait_for, write_config

pytestmark = pytest.mark.postgres

CUSTOMERS = 300
CONTACTS = 800


def with_password(url: str) -> tuple[str, str]:
    """The URL with a password in it (a made-up one where the server trusts local users),
    and that password, to look for in the logs."""
    parsed = make_url(url)
    secret = parsed.password or "hub-password-7c1e9d"
    return parsed.set(password=secret).render_as_string(hide_password=False), str(secret)


@pytest.mark.parametrize("twin", [False, True], ids=["retried", "twin_waiting"])
def test_sigterm_stops_a_workers_sync_between_batches_and_another_worker_carries_on(
    tmp_path: Path, pg_schema_url: str, twin: bool
) -> None:
    """``twin``: the same job (link and direction) was queued while the run went on, so
    that job carries on instead of a retry."""
    hub_url, secret = with_password(pg_schema_url)
    link = exo_link(
        tmp_path,
        "erp00",
        customers=CUSTOMERS,
        contacts=CONTACTS,
        seed=7,
        generator=w.PLAIN,
        push="1h",
        pull="1h",
        batch_size=10,
    )
    # The password stays out of the file: the workers read the URL from the environment.
    write_config(tmp_path / "accord.toml", pg_schema_url, [link], hub_env="ACCORD_TEST_HUB_URL")
    workers = w.Workers(tmp_path, env={"ACCORD_TEST_HUB_URL": hub_url})
    workers.start(1)
    store: HubStore | None = None
    try:
        store = w.hub_when_ready(pg_schema_url)
        hub = store
        wait_for(lambda: _linked(hub) >= 50, 120, "the first pull to be under way", every=0.05)
        (doing,) = [j for j in w.job_rows(pg_schema_url, "accord.sync_link") if j.status == "doing"]
        twin_id = _queue_twin(pg_schema_url, doing.args) if twin else None
        first = workers.procs[0]
        first.send_signal(signal.SIGTERM)
        assert first.wait(60) == 0, workers.log_text()

        # The run stopped after a whole batch: part of the ERP is in the hub, every hub
        # record linked, and the job is back in the queue rather than done or failed.
        with hub.transaction() as conn:
            (stopped,) = bookkeeping.recent_runs(conn, 1, "erp00")
            linked, held = _linked_conn(conn), _records_conn(conn)
        assert stopped.status == "stopped", stopped
        assert 0 < linked < CUSTOMERS + CONTACTS
        assert linked == held
        jobs = {job.id: job for job in w.job_rows(pg_schema_url, "accord.sync_link")}
        if twin_id is None:
            assert (jobs[doing.id].status, jobs[doing.id].attempts) == ("todo", 1)
            carrying_on = doing.id
        else:
            assert jobs[doing.id].status == "succeeded"
            assert jobs[twin_id].status == "todo"
            carrying_on = twin_id

        # Another worker takes the job up and carries on from the committed batches.
        workers.start(1)
        wait_for(
            lambda: _status(pg_schema_url, carrying_on) == "succeeded", 120, "the job to go on"
        )
    except BaseException:
        workers.stop()
        if store is not None:
            store.close()
        raise
    assert workers.stop() == [0, 0], workers.log_text()
    assert store is not None
    try:
        with store.transaction() as conn:
            statuses = [r.status for r in bookkeeping.recent_runs(conn, 10, "erp00")]
        assert statuses[-1] == "stopped" and "ok" in statuses
        assert "running" not in statuses and "interrupted" not in statuses
        # Nothing lost, nothing twice: every ERP row is one hub record with one link.
        assert w.hub_counts(store) == (CUSTOMERS, CONTACTS)
        assert w.links_per_record(store) == {}
        assert w.overlapping_runs(store) == []
        # The first worker said why its run ended; no log line shows the hub's password.
        events = [json.loads(line) for line in workers.logs[0].read_text().splitlines()]
        assert any(e.get("event") == "run.finish" and e.get("status") == "stopped" for e in events)
        for log in workers.logs:
            assert secret not in log.read_text()
    finally:
        store.close()


def _queue_twin(url: str, args: dict[str, str]) -> int:
    """Queue the job the tick would queue for this link and direction; returns its id."""
    app = procrastinate.App(connector=procrastinate.SyncPsycopgConnector(conninfo=conninfo(url)))
    system, direction = args["system"], args["direction"]
    with app.open():
        return app.configure_task(
            SYNC_TASK,
            queue=SYNC_QUEUE,
            lock=f"link:{system}",
            queueing_lock=f"{SYNC_TASK}:{system}:{direction}",
        ).defer(system=system, direction=direction)


def _status(url: str, job_id: int) -> str:
    return str({job.id: job for job in w.job_rows(url, "accord.sync_link")}[job_id].status)


def _linked(store: HubStore) -> int:
    with store.transaction() as conn:
        return _linked_conn(conn)


def _linked_conn(conn: Connection) -> int:
    query = select(func.count()).where(links.c.system == "erp00", links.c.entity != "salesperson")
    return int(conn.execute(query).scalar_one())


def _records_conn(conn: Connection) -> int:
    query = select(func.count()).where(records.c.entity != "salesperson")
    return int(conn.execute(query).scalar_one())
