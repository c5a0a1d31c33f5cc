"""What the scheduler decides is due: intervals, immediate pushes, nightly jobs, pauses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from accord.config import Config, HubConfig, Schedule, SystemConfig
from accord.jobs import due, state
from accord.presets import exo
from accord.store import HubStore

T0 = datetime(2026, 5, 6, 1, 0, tzinfo=UTC)


def _settings(schedule: Schedule, time_zone: str = "UTC") -> Config:
    return Config(
        hub=HubConfig(database="sqlite://", database_env=None, time_zone=time_zone),
        systems={
            "erp": SystemConfig(
                kind="sql", preset="exo", url="sqlite://", sync="two-way", schedule=schedule
            ),
            "idle": SystemConfig(kind="sql", preset="exo", url="sqlite://", owns_codes=False),
        },
    )


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubStore]:
    store = HubStore(f"sqlite:///{tmp_path / 'hub.db'}")
    yield store
    store.close()


def _due(
    store: HubStore, settings: Config, at: datetime, seen: int | None = 0
) -> list[tuple[str, due.Job]]:
    with store.transaction() as conn:
        jobs, _ = due.due_jobs(conn, settings, at, seen)
    return jobs


def test_s000_04_each_direction_is_due_on_its_own_interval(hub: HubStore) -> None:
    settings = _settings(Schedule(push="15m", pull="60m"))
    both = [("erp", ("sync", "pull")), ("erp", ("sync", "push"))]
    assert _due(hub, settings, T0) == both  # never ran: both at once; "idle" is off
    assert _due(hub, settings, T0 + timedelta(minutes=14)) == []
    assert _due(hub, settings, T0 + timedelta(minutes=15)) == [("erp", ("sync", "push"))]
    assert _due(hub, settings, T0 + timedelta(minutes=31)) == [("erp", ("sync", "push"))]
    assert _due(hub, settings, T0 + timedelta(minutes=46)) == [("erp", ("sync", "push"))]
    assert _due(hub, settings, T0 + timedelta(minutes=60)) == [("erp", ("sync", "pull"))]
    assert _due(hub, settings, T0 + timedelta(minutes=61)) == [("erp", ("sync", "push"))]
    assert _due(hub, settings, T0 + timedelta(minutes=121)) == both


def test_s001_03_an_immediate_push_is_due_when_the_journal_moved(hub: HubStore) -> None:
    settings = _settings(Schedule(push="immediate", pull="60m"))
    push = ("erp", ("sync", "push"))
    assert push in _due(hub, settings, T0, seen=None)  # first look: catch up
    with hub.transaction() as conn:
        newest = state.newest_seq(conn)
    assert push not in _due(hub, settings, T0, seen=newest)
    from accord.service.records import create_record

    create_record(hub, "company", {"name": "Tui Traders"})
    assert push in _due(hub, settings, T0, seen=newest)


def test_a_paused_link_is_never_due(hub: HubStore) -> None:
    settings = _settings(Schedule(push="immediate", pull="1m"))
    state.set_paused(hub, "erp", True)
    assert _due(hub, settings, T0, seen=None) == []
    state.set_paused(hub, "erp", False)
    assert len(_due(hub, settings, T0 + timedelta(hours=1), seen=None)) == 2


def test_hub_changes_made_while_a_link_was_paused_are_pushed_after_resume(
    hub: HubStore,
) -> None:
    from accord.service.records import create_record

    settings = _settings(Schedule(push="immediate", pull="1d"))
    push = ("erp", ("sync", "push"))
    with hub.transaction() as conn:
        seen = state.newest_seq(conn)
    assert _due(hub, settings, T0, seen=None)  # the first look
    state.set_paused(hub, "erp", True)
    create_record(hub, "company", {"name": "Tui Traders"})
    with hub.transaction() as conn:
        newest = state.newest_seq(conn)
    assert newest > seen
    assert _due(hub, settings, T0, seen=seen) == []  # paused: nothing, but owed
    assert _due(hub, settings, T0, seen=newest) == []
    state.set_paused(hub, "erp", False)
    # No edit since: the change made while paused still goes out, once.
    assert _due(hub, settings, T0, seen=newest) == [push]
    assert _due(hub, settings, T0, seen=newest) == []


def test_a_push_job_that_gave_up_is_owed_to_the_next_tick(hub: HubStore) -> None:
    from procrastinate.jobs import Job

    from accord.jobs import worker

    settings = _settings(Schedule(push="immediate", pull="1d"))
    push = ("erp", ("sync", "push"))
    assert _due(hub, settings, T0, seen=None)
    with hub.transaction() as conn:
        newest = state.newest_seq(conn)
    retry = worker._Retry(max_attempts=2, exponential_wait=2)
    retry.give_up = lambda job: worker.owe_push(hub, job)
    job = Job(
        id=1, queue="accord", lock=None, queueing_lock=None, task_name=worker.SYNC_TASK,
        task_kwargs={"system": "erp", "direction": "push"}, attempts=1,
    )  # fmt: skip
    assert retry.get_retry_decision(exception=RuntimeError("ERP down"), job=job) is not None
    assert _due(hub, settings, T0, seen=newest) == []  # a retry is coming: nothing owed
    last = job.evolve(attempts=2)
    assert retry.get_retry_decision(exception=RuntimeError("ERP down"), job=last) is None
    assert _due(hub, settings, T0, seen=newest) == [push]  # given up: owed, queued again
    assert _due(hub, settings, T0, seen=newest) == []


def test_a_one_way_import_link_is_never_due_a_push(hub: HubStore) -> None:
    for hours, push in enumerate(("15m", "immediate")):
        settings = _settings(Schedule(push=push, pull="60m"))
        erp = settings.systems["erp"]
        settings.systems["erp"] = erp.model_copy(update={"sync": "import"})
        at = T0 + timedelta(hours=hours)
        assert _due(hub, settings, at, seen=None) == [("erp", ("sync", "pull"))]


def test_s001_05_nightly_jobs_are_due_once_a_night_after_their_time(
    hub: HubStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(exo.PRESET.nightly_jobs, "fix", lambda config, system: "done")
    settings = _settings(Schedule(push="1d", pull="1d", nightly="02:00"))
    nightly = ("erp", ("nightly", "fix"))
    assert nightly not in _due(hub, settings, T0)  # 01:00, first look
    assert nightly in _due(hub, settings, T0 + timedelta(hours=1))  # 02:00
    assert nightly not in _due(hub, settings, T0 + timedelta(hours=5))  # same night
    assert nightly in _due(hub, settings, T0 + timedelta(days=1, hours=1, minutes=30))


def test_s001_05_first_start_after_the_time_waits_for_the_next_night(
    hub: HubStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(exo.PRESET.nightly_jobs, "fix", lambda config, system: "done")
    settings = _settings(Schedule(push="1d", pull="1d", nightly="00:30"))
    nightly = ("erp", ("nightly", "fix"))
    assert nightly not in _due(hub, settings, T0)  # started at 01:00: not tonight
    assert nightly not in _due(hub, settings, T0 + timedelta(hours=20))
    assert nightly in _due(hub, settings, T0 + timedelta(hours=23, minutes=31))


def test_s001_05_the_nightly_time_is_the_business_s_clock_not_utc(
    hub: HubStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Auckland is UTC+12 in May: two at night there is 14:00 UTC.
    monkeypatch.setitem(exo.PRESET.nightly_jobs, "fix", lambda config, system: "done")
    settings = _settings(Schedule(push="1d", pull="1d", nightly="02:00"), "Pacific/Auckland")
    nightly = ("erp", ("nightly", "fix"))
    night = datetime(2026, 5, 6, 13, 0, tzinfo=UTC)  # 01:00 on 7 May in Auckland
    assert nightly not in _due(hub, settings, night)  # first look, before the time
    assert nightly in _due(hub, settings, night + timedelta(hours=1))  # 02:00 there
    # 02:00 UTC next day is the Auckland afternoon: the business's night has been.
    assert nightly not in _due(hub, settings, night + timedelta(hours=13))
    assert nightly in _due(hub, settings, night + timedelta(days=1, hours=1))


def test_s001_05_nightly_jobs_run_once_on_the_nights_clocks_change(
    hub: HubStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(exo.PRESET.nightly_jobs, "fix", lambda config, system: "done")
    settings = _settings(Schedule(push="1d", pull="1d", nightly="02:30"), "Pacific/Auckland")
    nightly = ("erp", ("nightly", "fix"))
    # 5 April 2026: 03:00 goes back to 02:00, so 02:30 comes twice; it runs at the first.
    assert nightly not in _due(hub, settings, datetime(2026, 4, 4, 12, 0, tzinfo=UTC))
    assert nightly in _due(hub, settings, datetime(2026, 4, 4, 13, 30, tzinfo=UTC))
    assert nightly not in _due(hub, settings, datetime(2026, 4, 4, 14, 30, tzinfo=UTC))
    # 27 September 2026: 02:00 goes forward to 03:00, so 02:30 never comes; it runs at 03:00.
    assert nightly not in _due(hub, settings, datetime(2026, 9, 26, 13, 59, tzinfo=UTC))
    assert nightly in _due(hub, settings, datetime(2026, 9, 26, 14, 0, tzinfo=UTC))


def test_schedules_refuse_what_they_cannot_mean() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="not a duration"):
        Schedule(pull="immediate")  # a pull needs an interval
    with pytest.raises(ValidationError, match="not a time of day"):
        Schedule(nightly="2am")


def test_a_nightly_job_queued_before_a_pause_waits_like_a_sync(
    hub: HubStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accord.jobs import tasks

    calls: list[str] = []
    monkeypatch.setitem(
        exo.PRESET.nightly_jobs, "fix", lambda config, system: calls.append(system) or "done"
    )
    settings = _settings(Schedule(push="1d", pull="1d"))
    state.set_paused(hub, "erp", True)
    assert tasks.run_nightly(settings, "erp", "fix", store=hub) == "skipped: the link is paused"
    state.set_paused(hub, "erp", False)
    off = settings.model_copy(deep=True)
    off.systems["erp"].sync = "off"
    assert tasks.run_nightly(off, "erp", "fix", store=hub) == "skipped: sync is off"
    assert calls == []
    assert tasks.run_nightly(settings, "erp", "fix", store=hub) == "done" and calls == ["erp"]


def test_a_shortened_interval_takes_effect_at_once(hub: HubStore) -> None:
    daily = _settings(Schedule(push="1d", pull="1d"))
    assert len(_due(hub, daily, T0)) == 2
    assert _due(hub, daily, T0 + timedelta(minutes=10)) == []
    every_five = _settings(Schedule(push="1d", pull="5m"))
    assert _due(hub, every_five, T0 + timedelta(minutes=11)) == []  # next: 5 min from now
    assert _due(hub, every_five, T0 + timedelta(minutes=16)) == [("erp", ("sync", "pull"))]
    assert _due(hub, every_five, T0 + timedelta(minutes=22)) == [("erp", ("sync", "pull"))]


def test_jobs_decided_but_not_queued_are_due_again_at_the_next_tick(hub: HubStore) -> None:
    import asyncio

    from accord.jobs import worker

    class RefusingQueue:  # the queue's database refusing the insert (a lost connection)
        def configure_task(self, *args: object, **kwargs: object) -> RefusingQueue:
            return self

        async def defer_async(self, **kwargs: object) -> None:
            raise RuntimeError("queue unavailable")

    settings = _settings(Schedule(push="immediate", pull="1h"))
    assert asyncio.run(worker.defer_due(RefusingQueue(), settings, hub)) == 0  # type: ignore[arg-type]
    with hub.transaction() as conn:
        seen = state.get_journal_seen(conn)
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert sorted(_due(hub, settings, later, seen=seen)) == [
        ("erp", ("sync", "pull")),
        ("erp", ("sync", "push")),
    ]
