"""Scale-out: three `accord worker` processes on a PostgreSQL hub run 20 sandbox links."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from accord.jobs.locks import hold_link
from accord.sandbox.exo import ExoEditor
from accord.service import queries
from accord.service.records import edit_record
from accord.service.system_settings import update_system
from accord.store import HubStore
from accord.store.schema import runs
from tests.service import workers as w
from tests.service.support import count_runs, wait_for

pytestmark = pytest.mark.postgres


def _pid_running(log: str, system: str) -> int | None:
    """The process that started a pull of the system and has not finished it (per its log)."""
    state: dict[int, bool] = {}
    for line in log.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line cut short while the worker writes it
        if (
            event.get("system") == system
            and event.get("direction") == "pull"
            and event.get("event") in ("run.start", "run.finish", "run.failed")
        ):
            state[int(event["process"])] = event["event"] == "run.start"
    running = [pid for pid, started in state.items() if started]
    return running[0] if running else None


def test_three_workers_run_twenty_links_once_at_a_time_and_survive_a_killed_worker(
    tmp_path: Path, pg_schema_url: str
) -> None:
    settings = w.link_set(tmp_path, pg_schema_url, every="4s", big_first=True)
    names = list(settings.systems)
    workers = w.Workers(tmp_path)
    workers.start(3)  # all three set the schemas up at once: one does it, two wait
    store: HubStore | None = None
    try:
        store = w.hub_when_ready(pg_schema_url)
        hub = store

        # Kill the worker in the middle of the big link's first pull.
        def big_pull_running() -> bool:
            with hub.transaction() as conn:
                running = conn.execute(
                    runs.select().where(runs.c.system == "erp00", runs.c.status == "running")
                ).first()
            return running is not None and _pid_running(_logs(workers), "erp00") is not None

        wait_for(big_pull_running, 60, "the big link's first pull", every=0.05)
        victim = _pid_running(_logs(workers), "erp00")
        assert victim is not None
        doing = [
            job
            for job in w.job_rows(pg_schema_url, "accord.sync_link")
            if job.status == "doing" and job.args["system"] == "erp00"
        ]
        os.kill(victim, signal.SIGKILL)
        assert len(doing) == 1

        # A hub edit reaches all twenty ERPs.
        wait_for(
            lambda: w.hub_counts(hub)[0] >= w.CUSTOMERS * 19 + w.BIG_CUSTOMERS, 90, "every pull"
        )
        company = queries.find_record(hub, "erp05:company:2")
        edit_record(hub, company, {"name": "Harbour Freight Ltd"})

        def converged() -> bool:
            return w.unlinked_active_companies(hub, names) == 0 and w.erp_counts(
                settings
            ) == w.active_links(hub)

        wait_for(converged, 120, "every link to hold every active company", every=1.0)
        # The schedule (every 4 s) keeps every link running both ways, round after round.
        wait_for(lambda: _fewest_runs(pg_schema_url, names) >= 3, 90, "three rounds of every link")
        retried = {job.id: job for job in w.job_rows(pg_schema_url, "accord.sync_link")}
        assert retried[doing[0].id].status == "succeeded"
        assert retried[doing[0].id].attempts >= 1
    except BaseException:
        workers.stop()
        if store is not None:
            store.close()
        raise
    codes = workers.stop()
    assert store is not None
    try:
        killed = [p for p in workers.procs if p.returncode == -signal.SIGKILL]
        assert len(killed) == 1 and sorted(codes) == [-signal.SIGKILL, 0, 0], workers.log_text()
        assert w.overlapping_runs(store) == []
        with store.transaction() as conn:
            statuses = [
                r.status for r in conn.execute(runs.select().where(runs.c.system == "erp00"))
            ]
        assert "interrupted" in statuses  # the killed run, closed when the retry started
        assert _fewest_runs(pg_schema_url, names) >= 3
        # Nothing lost, nothing duplicated: every ERP row is linked exactly once, every hub
        # record from every ERP exists once, and the edit reached every ERP.
        assert w.hub_counts(store) == (
            w.CUSTOMERS * 19 + w.BIG_CUSTOMERS,
            w.CONTACTS * 19 + w.BIG_CONTACTS,
        )
        assert w.links_per_record(store) == {}
        assert w.erp_counts(settings) == w.active_links(store)
        for name, system in settings.systems.items():
            erp = ExoEditor(str(system.url))
            try:
                names_there = {c["NAME"] for c in _customers(erp)}
            finally:
                erp.close()
            assert "Harbour Freight Ltd" in names_there, name
    finally:
        store.close()


def _fewest_runs(url: str, names: list[str]) -> int:
    """The fewest successful jobs of any link in either direction."""
    done: dict[tuple[str, str], int] = {}
    for job in w.job_rows(url, "accord.sync_link"):
        if job.status == "succeeded":
            key = (job.args["system"], job.args["direction"])
            done[key] = done.get(key, 0) + 1
    return min(done.get((n, d), 0) for n in names for d in ("pull", "push"))


def _customers(erp: ExoEditor) -> list[dict[str, object]]:
    found = []
    for accno in range(1, 500):
        row = erp.customer(accno)
        if row is not None:
            found.append(row)
    return found


def _logs(workers: w.Workers) -> str:
    return "\n".join(p.read_text() for p in workers.logs if p.exists())


def test_a_running_worker_follows_settings_changed_in_the_configuration_file(
    tmp_path: Path, pg_schema_url: str
) -> None:
    # What the web app's settings page does (update_system writes the file): a worker
    # started before must act on it without a restart.
    settings = w.link_set(tmp_path, pg_schema_url, every="1s", count=2)
    update_system(settings, "erp01", sync="off")
    workers = w.Workers(tmp_path)
    workers.start(1)
    store: HubStore | None = None
    try:
        store = w.hub_when_ready(pg_schema_url)
        hub = store
        wait_for(lambda: count_runs(hub, "erp00", "ok") >= 2, 60, "erp00's first runs")
        assert count_runs(hub, "erp01") == 0

        update_system(settings, "erp01", sync="two-way")
        update_system(settings, "erp00", sync="off")
        wait_for(lambda: count_runs(hub, "erp01", "ok") >= 2, 60, "erp01's first runs")
        # Jobs of erp00 queued before the change may still finish; none start after them.
        wait_for(lambda: count_runs(hub, "erp00", "running") == 0, 30, "erp00 to settle")
        settled = count_runs(hub, "erp00")
        ran = count_runs(hub, "erp01", "ok")
        wait_for(lambda: count_runs(hub, "erp01", "ok") >= ran + 2, 60, "two more erp01 runs")
        assert count_runs(hub, "erp00") == settled
    finally:
        codes = workers.stop()
        if store is not None:
            store.close()
    assert codes == [0], workers.log_text()
    assert '"config.reloaded"' in _logs(workers)


def test_a_link_busy_with_a_run_started_elsewhere_waits_without_failing(
    tmp_path: Path, pg_schema_url: str
) -> None:
    # `accord sync erp00` by hand holds the link: the workers' jobs wait for it, using up
    # none of the retries a real failure gets, and a hub edit made meanwhile goes out after.
    settings = w.link_set(tmp_path, pg_schema_url, every="1s", count=1)
    workers = w.Workers(tmp_path)
    workers.start(1)
    store: HubStore | None = None
    try:
        store = w.hub_when_ready(pg_schema_url)
        hub = store
        wait_for(lambda: count_runs(hub, "erp00", "ok") >= 2, 60, "the first runs")
        with hold_link(hub, "erp00"):
            held = count_runs(hub, "erp00")
            company = queries.find_record(hub, "erp00:company:1")
            edit_record(hub, company, {"name": "Kauri Busy Ltd"})
            time.sleep(7)  # longer than a busy job waits (5 s): it finds the link busy again
            assert count_runs(hub, "erp00") == held
        erp = ExoEditor(str(settings.systems["erp00"].url))
        try:
            wait_for(
                lambda: "Kauri Busy Ltd" in {c["NAME"] for c in _customers(erp)},
                60,
                "the edit to reach the ERP once the link is free",
            )
        finally:
            erp.close()
        jobs = w.job_rows(pg_schema_url, "accord.sync_link")
        # No job failed or was retried (attempts counts runs): a busy link queued a fresh
        # job instead. The next scheduled job may be running now.
        assert [j for j in jobs if j.status == "failed" or j.attempts > 1] == []
        assert sum(1 for line in _logs(workers).splitlines() if "job.link_busy" in line) >= 2
    finally:
        codes = workers.stop()
        if store is not None:
            store.close()
    assert codes == [0], workers.log_text()
