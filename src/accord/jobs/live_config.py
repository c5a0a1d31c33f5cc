"""A configuration that follows its file, for processes that run for days (`accord worker`,
`accord serve` with its pages and inline scheduler, `accord scheduler`).

An admin changes a system's sync mode, schedule or switches in the web app (which writes
the file) or edits the file by hand; a process started before must act on the new settings
at its next job, tick or request, not at its next restart. The file is checked by a ``stat`` per
use (its inode, size and modified time: saves replace it by a rename) and read again only
when that changed. A file that no longer loads is reported once and the settings in hand
are kept: a half-edited file must not stop the syncs that were running.
"""

from __future__ import annotations

import threading
from pathlib import Path

import structlog

from accord import config as config_module
from accord.config import Config
from accord.errors import ConfigError

log = structlog.get_logger("accord.jobs")

_Stamp = tuple[int, int, int] | None


def _stamp(path: Path) -> _Stamp:
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns


class LiveConfig:
    def __init__(self, settings: Config) -> None:
        self._settings = settings
        self._stamp = _stamp(settings.path) if settings.path is not None else None
        self._guard = threading.Lock()

    def get(self) -> Config:
        """The settings as the file says now (the ones given, for a configuration without
        a file, or while the file does not load)."""
        path = self._settings.path
        if path is None:
            return self._settings
        stamp = _stamp(path)
        with self._guard:
            if stamp == self._stamp:
                return self._settings
            self._stamp = stamp  # a file that fails to load is reported once, not per tick
            try:
                fresh = config_module.load(path)
            except (ConfigError, OSError) as exc:
                log.error("config.reload_failed", path=str(path), error=str(exc))
                return self._settings
            if fresh.hub.resolved_url() != self._settings.hub.resolved_url():
                # The queue and the runs live in the hub: moving it needs a restart.
                log.warning("config.hub_changed_needs_restart", path=str(path))
                fresh.hub = self._settings.hub
            self._settings = fresh
            log.info("config.reloaded", path=str(path), systems=sorted(fresh.systems))
            return fresh
