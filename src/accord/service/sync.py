"""Running syncs and dry runs for configured systems."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from accord.clock import Clock, SystemClock
from accord.config import Config
from accord.engine import Plan, SyncContext, sync
from accord.engine.context import ProgressCallback
from accord.errors import ConfigError
from accord.jobs.locks import hold_link
from accord.jobs.state import is_paused
from accord.service.systems import open_hub, open_system
from accord.store import HubStore

# Runs of several systems at once: (may other runs still pull this entity?, tell them
# this run pulled it).
Follow = tuple[Callable[[str], bool], Callable[[str], None]]


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
    follow: Follow | None = None,
    full_read: bool = False,
) -> Plan:
    """Sync (or plan) one system. The caller may pass an open store to reuse it.

    ``full_read``: pull every record, not the changes since the cursor (see
    ``SyncContext.full_read``).

    ``follow``: (whether other runs may still pull an entity, told when this run pulled
    one), for runs of several systems at once (see ``sync_many``).

    Whoever asks (the command line, the web app, a retry, a "send to ERP"), the run holds
    the link's lock, so it never overlaps a scheduled run or a worker's (LinkBusyError),
    and a paused link is not synced. The scheduler and workers run the engine themselves
    under the same lock.
    """
    system = config.system(name)
    if system.sync == "off":
        raise ConfigError(
            'sync is off for this system; set sync = "two-way" or "import" to enable it',
            system=name,
        )
    own_store = store is None
    hub = store or open_hub(config)
    try:
        if not dry_run:
            with hub.reading() as conn:
                if is_paused(conn, name):
                    raise ConfigError("this link is paused: `accord resume` it first", system=name)
        with hold_link(hub, name):
            return _run(
                config,
                name,
                hub,
                dry_run,
                clock,
                progress,
                requested,
                pull,
                push,
                follow,
                full_read,
            )
    finally:
        if own_store:
            hub.close()


def _run(
    config: Config,
    name: str,
    hub: HubStore,
    dry_run: bool,
    clock: Clock | None,
    progress: ProgressCallback | None,
    requested: Iterable[int],
    pull: bool,
    push: bool,
    follow: Follow | None,
    full_read: bool,
) -> Plan:
    system = config.system(name)
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
            full_read=full_read,
        )
        if follow is not None:
            ctx.upstream, ctx.pulled = follow
        return sync(ctx, pull=pull, push=push)
    finally:
        connector.close()
