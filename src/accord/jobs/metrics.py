"""Prometheus metrics of sync jobs, and the lag of each link read from the hub at scrape time.

Counters are per process: with workers, scrape every worker (or sum in Prometheus). Lag is
read from the hub, so any one process reports it for all links.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from accord.clock import SystemClock
from accord.config import Config
from accord.store import HubStore

REGISTRY = CollectorRegistry(auto_describe=True)

RUNS = Counter(
    "accord_runs", "Sync jobs run, by outcome", ["system", "direction", "status"], registry=REGISTRY
)
RECORDS_READ = Counter(
    "accord_records_read", "Records read from a system by pulls", ["system"], registry=REGISTRY
)
RECORDS_WRITTEN = Counter(
    "accord_records_written",
    "Records written, to the hub (side=hub) or to the system (side=system)",
    ["system", "side"],
    registry=REGISTRY,
)
CONFLICTS = Counter("accord_conflicts", "Conflicts found", ["system"], registry=REGISTRY)
ERRORS = Counter("accord_record_errors", "Record errors found", ["system"], registry=REGISTRY)
API_CALLS = Counter(
    "accord_api_calls",
    "Calls to a system's API (connectors that count them)",
    ["system"],
    registry=REGISTRY,
)
RUN_SECONDS = Histogram(
    "accord_run_seconds", "Duration of sync jobs", ["system", "direction"], registry=REGISTRY
)
NIGHTLY = Counter(
    "accord_nightly_jobs",
    "Nightly jobs run, by outcome",
    ["system", "job", "status"],
    registry=REGISTRY,
)


class LagCollector(Collector):
    """Per link: seconds since its last successful run, and hub changes not yet pushed."""

    def __init__(
        self, settings: Callable[[], Config], store: Callable[[], HubStore | None]
    ) -> None:
        self.settings = settings  # the links as the configuration says now
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from accord.service.queries import link_lags

        store = self.store()
        if store is None:
            return
        seconds = GaugeMetricFamily(
            "accord_link_lag_seconds",
            "Seconds since the link's last successful run",
            labels=["system"],
        )
        pending = GaugeMetricFamily(
            "accord_link_pending_changes",
            "Hub changes newer than the link's push position",
            labels=["system"],
        )
        now: datetime = SystemClock().now()
        for lag in link_lags(store, self.settings(), now):
            if lag.seconds is not None:
                seconds.add_metric([lag.system], lag.seconds)
            pending.add_metric([lag.system], lag.pending_changes)
        yield seconds
        yield pending


_lag: LagCollector | None = None


def watch_lag(settings: Callable[[], Config], store: Callable[[], HubStore | None]) -> None:
    """Report link lag from this hub (replaces an earlier registration)."""
    global _lag
    if _lag is not None:
        REGISTRY.unregister(_lag)
    _lag = LagCollector(settings, store)
    REGISTRY.register(_lag)
