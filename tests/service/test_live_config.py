"""LiveConfig: a long-running process's view of the configuration file."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from accord import config as config_module
from accord.jobs.live_config import LiveConfig
from tests.service.support import Link, write_config


def _settings(tmp_path: Path) -> config_module.Config:
    return write_config(
        tmp_path / "accord.toml",
        f"sqlite:///{tmp_path / 'hub.db'}",
        [Link("erp", f"sqlite:///{tmp_path / 'erp.db'}")],
    )


def test_a_saved_change_is_seen_and_an_unchanged_file_is_not_read_again(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    live = LiveConfig(settings)
    assert live.get() is settings  # nothing changed: the same object, no read
    changed = config_module.load(tmp_path / "accord.toml")
    changed.systems["erp"].sync = "off"
    config_module.save(changed, tmp_path / "accord.toml")
    assert live.get().systems["erp"].sync == "off"
    assert live.get() is live.get()


def test_a_file_that_stops_loading_keeps_the_settings_in_hand_and_says_so_once(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    live = LiveConfig(settings)
    path = tmp_path / "accord.toml"
    good = path.read_text()
    with capture_logs() as logged:
        path.write_text(good.replace('sync = "two-way"', 'sync = "sideways"'))
        assert live.get() is settings
        assert live.get() is settings
    failures = [e for e in logged if e["event"] == "config.reload_failed"]
    assert len(failures) == 1 and "sync" in failures[0]["error"]
    path.write_text(good.replace('sync = "two-way"', 'sync = "import"'))
    assert live.get().systems["erp"].sync == "import"


def test_a_changed_hub_is_not_followed(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    live = LiveConfig(settings)
    moved = config_module.load(tmp_path / "accord.toml")
    moved.hub.database = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    moved.systems["erp"].sync = "off"
    config_module.save(moved, tmp_path / "accord.toml")
    fresh = live.get()
    assert fresh.hub.database == settings.hub.database
    assert fresh.systems["erp"].sync == "off"
