"""The inline scheduler: intervals per direction (S000-04), pause and resume, stopping."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select

from accord.config import Config
from accord.jobs import state, tasks
from accord.jobs.inline import InlineScheduler
from accord.jobs.locks import LinkBusyError, hold_link
from accord.service.systems import open_hub
from accord.store import HubStore, bookkeeping
from accord.store.schema import links, records
from tests.service.support import accord_run, count_runs, exo_link, wait_for, write_config


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[Config, HubStore]]:
    link = exo_link(tmp_path, "erp", push="1s", pull="1h")
    settings = write_config(tmp_path / "accord.toml", f"sqlite:///{tmp_path / 'hub.db'}", [link])
    store = open_hub(settings)
    yield settings, store
    store.close()


def _directions(scheduler: InlineScheduler, status: str = "ok") -> list[str]:
    return [o.direction for o in scheduler.history if o.status == status]


def test_s000_04_each_direction_runs_on_its_own_interval(hub: tuple[Config, HubStore]) -> None:
    settings, store = hub
    scheduler = InlineScheduler(settings, store=store, poll=0.1)
    scheduler.start()
    try:
        wait_for(lambda: _directions(scheduler).count("push") >= 4, 30, "four pushes")
    finally:
        assert scheduler.stop(30)
    done = _directions(scheduler)
    # Pull every hour: only the first one in the seconds that four 1s pushes take.
    assert done.count("pull") == 1
    assert done.count("push") >= 4
    assert count_runs(store, "erp", "ok") == len(done)
    with store.transaction() as conn:
        next_pull = state.next_due(conn, "erp", "pull")
        next_push = state.next_due(conn, "erp", "push")
        totals = bookkeeping.count_open(conn, "erp")
    assert next_pull is not None and next_push is not None
    assert (next_pull - next_push).total_seconds() > 3000
    assert totals == (0, 1)  # the sandbox's one invalid email, nothing else


def test_pause_and_resume_a_link_from_the_command_line(
    hub: tuple[Config, HubStore], tmp_path: Path
) -> None:
    settings, store = hub
    scheduler = InlineScheduler(settings, store=store, poll=0.1)
    scheduler.start()
    try:
        wait_for(lambda: len(_directions(scheduler)) >= 2, 30, "the first runs")
        paused = accord_run("pause", "erp", cwd=tmp_path)
        assert paused.returncode == 0, paused.stderr
        with store.transaction() as conn:
            assert state.is_paused(conn, "erp")
        # A run already queued may still finish; after it, nothing new starts.
        wait_for(lambda: _settled(scheduler), 10, "the queue to settle")
        before = count_runs(store, "erp")
        history = len(scheduler.history)
        # Three push intervals pass: no run starts while paused.
        _sleep_through(scheduler, 3.5)
        assert count_runs(store, "erp") == before
        assert len(scheduler.history) == history
        resumed = accord_run("resume", "erp", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        wait_for(lambda: count_runs(store, "erp") > before, 30, "a run after resuming")
    finally:
        assert scheduler.stop(30)
    status = accord_run("status", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "next run" in status.stdout and "push 1s / pull 1h" in status.stdout


def _settled(scheduler: InlineScheduler) -> bool:
    first = len(scheduler.history)
    _sleep_through(scheduler, 1.2)
    return len(scheduler.history) == first


def _sleep_through(scheduler: InlineScheduler, seconds: float) -> None:
    time.sleep(seconds)


def test_a_stop_request_ends_a_run_after_a_whole_batch(tmp_path: Path) -> None:
    link = exo_link(tmp_path, "erp", customers=60, contacts=150, batch_size=10)
    settings = write_config(tmp_path / "accord.toml", f"sqlite:///{tmp_path / 'hub.db'}", [link])
    store = open_hub(settings)
    try:
        asked = iter(range(1000))
        outcome = tasks.sync_link(
            settings, "erp", "pull", store=store, stop=lambda: next(asked) >= 3
        )
        assert outcome.status == "stopped"
        with store.transaction() as conn:
            (run,) = bookkeeping.recent_runs(conn, 1, "erp")
            linked = _linked(conn)
            records = _hub_records(conn)
        assert run.status == "stopped" and run.id == outcome.run_id
        # Whole batches only: every hub record written is linked, in batches of ten.
        assert 0 < linked < 60 + 150 and linked == records
        finished = tasks.sync_link(settings, "erp", "both", store=store)
        assert finished.status == "ok"
        with store.transaction() as conn:
            assert _linked(conn) == _hub_records(conn)
            companies = _hub_records(conn, "company")
        assert companies == 60
    finally:
        store.close()


def test_a_link_never_runs_twice_at_once(hub: tuple[Config, HubStore], tmp_path: Path) -> None:
    settings, store = hub
    with hold_link(store, "erp"):
        with pytest.raises(LinkBusyError):
            tasks.sync_link(settings, "erp", "pull", store=store)
        # Another process (here `accord sync`) is refused too, at once.
        other = accord_run("sync", "erp", cwd=tmp_path)
        assert other.returncode == 2
        assert "another run of this link is in progress" in other.stderr
    assert count_runs(store, "erp") == 0
    assert tasks.sync_link(settings, "erp", "pull", store=store).status == "ok"


def _linked(conn: Connection) -> int:
    return int(
        conn.execute(
            select(func.count()).where(links.c.system == "erp", links.c.entity != "salesperson")
        ).scalar_one()
    )


def _hub_records(conn: Connection, entity: str | None = None) -> int:
    query = select(func.count()).where(records.c.entity != "salesperson")
    if entity:
        query = query.where(records.c.entity == entity)
    return int(conn.execute(query).scalar_one())


def test_s001_05_a_preset_nightly_job_runs_once_at_the_configured_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from accord.clock import ManualClock
    from accord.presets import exo
    from accord.sandbox.exo import ExoEditor

    link = exo_link(tmp_path, "erp", push="1h", pull="1h")
    settings = write_config(
        tmp_path / "accord.toml", f"sqlite:///{tmp_path / 'hub.db'}", [link], nightly="02:00"
    )
    erp = ExoEditor(link.url)
    ran: list[str] = []

    def fix_account_managers(config: Config, system: str) -> str:
        # Stands for the preset's real job: writes the ERP, says what it did.
        assert config is settings
        erp.update_customer(1, SALESNO=2)
        ran.append(system)
        return "1 account manager set"

    monkeypatch.setitem(exo.PRESET.nightly_jobs, "fix_account_managers", fix_account_managers)
    clock = ManualClock(datetime(2026, 3, 4, 1, 59, 30, tzinfo=UTC))
    store = open_hub(settings)
    scheduler = InlineScheduler(settings, store=store, clock=clock, poll=0.1)
    scheduler.start()
    try:
        wait_for(lambda: len(_directions(scheduler)) >= 2, 30, "the first runs")
        assert ran == []  # 01:59: not yet
        clock.advance(timedelta(minutes=1))
        wait_for(lambda: ran == ["erp"], 30, "the nightly job")
        clock.advance(timedelta(hours=3))  # later the same night: not again
        wait_for(lambda: len(_directions(scheduler)) >= 4, 30, "the hourly runs")
        assert ran == ["erp"]
        clock.advance(timedelta(days=1))  # the next night: once more
        wait_for(lambda: ran == ["erp", "erp"], 30, "the next night's job")
    finally:
        assert scheduler.stop(30)
        store.close()
        erp.close()
    check = ExoEditor(link.url)
    try:
        assert (check.customer(1) or {}).get("SALESNO") == 2
    finally:
        check.close()


def test_a_failed_run_is_retried_with_backoff_not_after_a_whole_interval(
    tmp_path: Path,
) -> None:
    link = exo_link(tmp_path, "erp", push="1h", pull="1h")
    settings = write_config(tmp_path / "accord.toml", f"sqlite:///{tmp_path / 'hub.db'}", [link])
    erp_file = tmp_path / "erp.db"
    erp_file.rename(tmp_path / "away.db")
    erp_file.write_bytes(b"this is not a database")
    store = open_hub(settings)
    scheduler = InlineScheduler(settings, store=store, poll=0.1, retry_base=0.5)
    scheduler.start()
    try:
        wait_for(lambda: "pull" in _directions(scheduler, "failed"), 30, "a failed pull")
        (tmp_path / "away.db").replace(erp_file)
        wait_for(lambda: "pull" in _directions(scheduler), 30, "the retried pull")
    finally:
        assert scheduler.stop(30)
        store.close()
    assert count_runs(store, "erp", "ok") >= 1


def test_a_system_switched_on_while_the_service_runs_gets_synced(tmp_path: Path) -> None:
    first = exo_link(tmp_path, "erp", push="1s", pull="1h")
    later = exo_link(tmp_path, "erp2", push="1s", pull="1h", owns_codes=False)
    settings = write_config(tmp_path / "accord.toml", f"sqlite:///{tmp_path / 'hub.db'}", [first])
    store = open_hub(settings)
    scheduler = InlineScheduler(settings, store=store, poll=0.1)
    scheduler.start()
    try:
        wait_for(lambda: count_runs(store, "erp", "ok") >= 1, 30, "a run of erp")
        # An admin enables a second system in the settings: the running service picks it up.
        enabled = write_config(
            tmp_path / "accord.toml", f"sqlite:///{tmp_path / 'hub.db'}", [first, later]
        )
        settings.systems["erp2"] = enabled.systems["erp2"]
        wait_for(lambda: count_runs(store, "erp2", "ok") >= 1, 30, "a run of erp2")
        before = count_runs(store, "erp", "ok")
        wait_for(lambda: count_runs(store, "erp", "ok") > before, 30, "erp still running")
    finally:
        assert scheduler.stop(30)
        store.close()
