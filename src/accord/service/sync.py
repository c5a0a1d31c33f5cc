"""Running syncs and dry runs for configured systems."""

from __future__ import annotations

from collections.abc import Iterable

from accord.clock import Clock, SystemClock
from accord.config import Config
from accord.engine import Plan, SyncContext, sync
from accord.engine.context import ProgressCallback
from accord.errors import ConfigError
from accord.service.systems import open_hub, open_system
from accord.store import HubStore


def enabled_systems(config: Config, names: Iterable[str] = ()) -> list[str]:
    """The systems to sync: those named (each must be enabled), or every enabled one."""
    named = list(names)
    for name in named:
        if config.system(name).sync == "off":
            raise ConfigError(
                'sync is off for this system; set sync = "two-way" or "import" to enable it',
                system=name,
            )
    if named:
        return named
    enabled = [n for n, s in config.systems.items() if s.sync != "off"]
    if not enabled:
        raise ConfigError(
            'no system has sync enabled: set sync = "two-way" or "import" for one in'
            f" {config.path or 'the configuration'}"
        )
    return enabled


def run(
    config: Config,
    name: str,
    *,
    dry_run: bool = False,
    store: HubStore | None = None,
    clock: Clock | None = None,
    progress: ProgressCallback | None = None,
    requested: Iterable[int] = (),
    pull: bool = True,
    push: bool = True,
) -> Plan:
    """Sync (or plan) one system. The caller may pass an open store to reuse it."""
    system = config.system(name)
    if system.sync == "off":
        raise ConfigError(
            'sync is off for this system; set sync = "two-way" or "import" to enable it',
            system=name,
        )
    own_store = store is None
    hub = store or open_hub(config)
    connector, profile = open_system(config, name, clock)
    try:
        ctx = SyncContext(
            hub,
            connector,
            profile,
            name,
            clock or SystemClock(),
            dry_run=dry_run,
            batch_size=system.batch_size,
            progress=progress,
            requested=set(requested),
        )
        return sync(ctx, pull=pull, push=push)
    finally:
        connector.close()
        if own_store:
            hub.close()
