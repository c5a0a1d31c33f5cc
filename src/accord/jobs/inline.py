"""The inline scheduler: every link's jobs in threads of one process (`accord serve`).

One thread per link runs that link's jobs one after another (so a link never runs twice
at once here; the link lock covers other processes). A loop thread decides what is due:
each direction on its own interval (S000-04), a push within seconds of a hub change for
links with ``push = "immediate"`` (S001-03; the journal's newest sequence is polled, a
cheap index lookup, and edits arriving while a push runs are coalesced into the next one),
and the preset's nightly jobs at the configured time (S001-05).
"""

from __future__ import annotations

import threading
import time
from collections import deque

import structlog

from accord.clock import Clock, SystemClock
from accord.config import Config
from accord.jobs import due, tasks
from accord.jobs.live_config import LiveConfig
from accord.jobs.locks import LinkBusyError
from accord.service.systems import open_hub
from accord.store import HubStore

log = structlog.get_logger("accord.jobs")

Job = due.Job


class InlineScheduler:
    def __init__(
        self,
        settings: Config | LiveConfig,
        *,
        store: HubStore | None = None,
        clock: Clock | None = None,
        poll: float = 0.5,
        busy_retry: float = 2.0,
        retry_base: float = 5.0,
    ) -> None:
        # Each tick and job takes the configuration file as it is then (a system switched
        # off in the file is no longer synced); the web app hands over the one it reads.
        self._live = settings if isinstance(settings, LiveConfig) else LiveConfig(settings)
        self._own_store = store is None
        self.store = store or open_hub(self.settings)
        self.clock = clock or SystemClock()
        self.poll = poll
        self.busy_retry = busy_retry
        self.history: deque[tasks.JobOutcome] = deque(maxlen=1000)
        self._stopping = threading.Event()
        self._runners: dict[str, _LinkRunner] = {}
        self._runners_guard = threading.Lock()
        self._loop: threading.Thread | None = None
        self.retry_base = retry_base
        self._failures: dict[tuple[str, Job], int] = {}
        self._retries: dict[tuple[str, Job], float] = {}  # when to retry a failed job
        self._retry_guard = threading.Lock()

    @property
    def settings(self) -> Config:
        return self._live.get()

    @property
    def systems(self) -> list[str]:
        return [n for n, s in self.settings.systems.items() if s.sync != "off"]

    def start(self) -> None:
        if self._loop is not None:
            return
        for name in self.systems:
            self._runner(name)
        self._loop = threading.Thread(target=self._run_loop, name="accord-scheduler", daemon=True)
        self._loop.start()
        log.info("scheduler.start", systems=self.systems)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop: running jobs end after their current batch. True if all ended in time."""
        self._stopping.set()
        for runner in self._runners.values():
            runner.wake()
        threads = [t for t in (self._loop, *self._runners.values()) if t is not None]
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        ended = not any(t.is_alive() for t in threads)
        if self._own_store and ended:
            self.store.close()
        log.info("scheduler.stop", clean=ended)
        return ended

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def request(self, system: str, job: Job) -> None:
        """Queue a job for a link now (coalesced with the same job already waiting)."""
        self._runner(system).request(job)

    def _runner(self, system: str) -> _LinkRunner:
        # A system switched on in the settings while the service runs gets its runner then.
        with self._runners_guard:
            runner = self._runners.get(system)
            if runner is None:
                runner = self._runners[system] = _LinkRunner(self, system)
                runner.start()
            return runner

    # -- deciding what is due ------------------------------------------------------------
    def _run_loop(self) -> None:
        seen: int | None = None  # the first look pushes edits made while the service was down
        while not self._stopping.is_set():
            try:
                seen = self._tick(seen)
            except Exception as exc:  # a hub hiccup must not end the scheduler
                log.error("scheduler.tick_failed", error=str(exc))
            self._stopping.wait(self.poll)

    def _tick(self, seen: int | None) -> int:
        with self.store.transaction() as conn:
            jobs, newest = due.due_jobs(conn, self.settings, self.clock.now(), seen)
        for system, job in [*jobs, *self._due_retries()]:
            try:
                self.request(system, job)
            except Exception as exc:  # one link's trouble must not drop the others' jobs
                log.error("scheduler.request_failed", system=system, error=str(exc))
        return newest

    # -- running -------------------------------------------------------------------------
    def _execute(self, system: str, job: Job) -> None:
        kind, what = job
        if kind == "nightly":
            try:
                tasks.run_nightly(self.settings, system, what, store=self.store)
            except LinkBusyError:
                raise
            except Exception:
                return  # logged and counted by the job; tomorrow is another night
            return
        try:
            outcome = tasks.sync_link(
                self.settings,
                system,
                tasks.as_direction(what, system),
                store=self.store,
                stop=self._stopping.is_set,
                clock=self.clock,
            )
        except LinkBusyError:
            raise
        except Exception as exc:
            outcome = tasks.JobOutcome(system, what, "failed", message=str(exc))
            # Retry with backoff rather than wait a whole interval (or, for an immediate
            # push, for the next edit): 5 s, 10 s, 20 s ... up to 5 minutes.
            failures = self._failures.get((system, job), 0) + 1
            self._failures[(system, job)] = failures
            delay = min(300.0, self.retry_base * 2 ** (failures - 1))
            with self._retry_guard:
                self._retries[(system, job)] = time.monotonic() + delay
        else:
            self._failures.pop((system, job), None)
        self.history.append(outcome)

    def _due_retries(self) -> list[tuple[str, Job]]:
        now = time.monotonic()
        with self._retry_guard:
            ready = [key for key, at in self._retries.items() if at <= now]
            for key in ready:
                del self._retries[key]
        return ready


class _LinkRunner(threading.Thread):
    """Runs one link's jobs one at a time, in the order they were asked for."""

    def __init__(self, scheduler: InlineScheduler, system: str) -> None:
        super().__init__(name=f"accord-link-{system}", daemon=True)
        self.scheduler = scheduler
        self.system = system
        self._pending: list[Job] = []
        self._cond = threading.Condition()

    def request(self, job: Job) -> None:
        with self._cond:
            if job not in self._pending:
                self._pending.append(job)
                self._cond.notify()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self.scheduler.stopping:
                    self._cond.wait()
                if self.scheduler.stopping:
                    return
                job = self._pending.pop(0)
            try:
                self.scheduler._execute(self.system, job)
            except LinkBusyError:
                # Another process runs this link now: try again shortly.
                if self.scheduler._stopping.wait(self.scheduler.busy_retry):
                    return
                self.request(job)
