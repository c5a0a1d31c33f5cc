"""The configuration file: secrets kept out, schedules that mean something, paths anchored."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord import config as config_module
from accord.config import Config, HubConfig, Schedule, SystemConfig, carries_password, shown_url
from accord.errors import ConfigError


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://erp:s3cret@db.example/erp",
        "postgresql://erp:pa/ss@db.example/erp",  # a slash in the password
        "postgresql://:s3cret@db.example/erp",  # no user name
        "postgresql://erp@db.example/erp?password=s3cret",
        "mssql+pyodbc://sa:s3cret@exo/EXO?driver=ODBC+Driver+18",
    ],
)
def test_a_url_with_a_password_is_refused_for_systems_and_the_hub(url: str) -> None:
    assert carries_password(url)
    with pytest.raises(ValueError, match="environment"):
        SystemConfig(kind="sql", url=url)
    with pytest.raises(ValueError, match="environment"):
        HubConfig(database=url)
    assert "s3cret" not in shown_url(url)


@pytest.mark.parametrize(
    "url",
    ["sqlite:///erp.db", "postgresql://erp@db.example/erp", "https://api.unleashedsoftware.com"],
)
def test_a_url_without_a_password_is_taken_and_shown_as_it_is(url: str) -> None:
    assert not carries_password(url) and shown_url(url) == url
    assert SystemConfig(kind="sql", url=url).url == url


def test_schedules_that_would_never_pause_are_refused() -> None:
    for text in ("0m", "0s", "00h"):
        with pytest.raises(ValueError, match="without a pause"):
            Schedule(pull=text)
    assert config_module.parse_duration("1s").total_seconds() == 1


def test_an_unknown_preset_is_refused_when_the_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "accord.toml"
    path.write_text('[systems.erp]\nkind = "sql"\npreset = "exoo"\nurl = "sqlite:///erp.db"\n')
    with pytest.raises(ConfigError, match="unknown preset 'exoo'"):
        config_module.load(path)


def test_relative_sqlite_paths_are_taken_from_the_configuration_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "client"
    folder.mkdir()
    settings = Config(
        hub=HubConfig(database="sqlite:///.accord/hub.db", database_env=None),
        systems={"erp": SystemConfig(kind="sql", preset="exo", url="sqlite:///data/erp.db")},
    )
    config_module.save(settings, folder / "accord.toml")
    monkeypatch.chdir(tmp_path)  # started from elsewhere, as with `accord -c client/...`
    loaded = config_module.load(Path("client/accord.toml"))
    assert loaded.hub.resolved_url() == f"sqlite:///{folder / '.accord' / 'hub.db'}"
    assert loaded.system("erp").resolved_url("erp") == f"sqlite:///{folder / 'data' / 'erp.db'}"
    # The file keeps what was written in it.
    assert 'database = "sqlite:///.accord/hub.db"' in (folder / "accord.toml").read_text()
    config_module.save(loaded, folder / "accord.toml")
    assert 'url = "sqlite:///data/erp.db"' in (folder / "accord.toml").read_text()
    # Absolute paths and memory databases are left alone.
    assert config_module.anchored("sqlite:////srv/hub.db", folder) == "sqlite:////srv/hub.db"
    assert config_module.anchored("sqlite://", folder) == "sqlite://"


def test_a_hub_only_in_the_environment_is_written_so_and_needs_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="no hub database"):
        HubConfig(database="", database_env="")
    path = tmp_path / "accord.toml"
    config_module.save(Config(hub=HubConfig(database="")), path)
    assert 'database_env = "ACCORD_DATABASE_URL"' in path.read_text()
    hub = config_module.load(path).hub
    monkeypatch.delenv("ACCORD_DATABASE_URL", raising=False)
    with pytest.raises(ConfigError, match=r"ACCORD_DATABASE_URL .* not set"):
        hub.resolved_url()
    monkeypatch.setenv("ACCORD_DATABASE_URL", "postgresql://accord@db/accord")
    assert hub.resolved_url() == "postgresql://accord@db/accord"
