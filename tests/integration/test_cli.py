"""The command line, run as a user runs it: a real process on a real configuration."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from accord.sandbox.exo import ExoEditor, generate


def accord(
    cwd: Path, *args: str, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ACCORD_DATABASE_URL"}
    env["COLUMNS"] = "160"
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "accord", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    generate(f"sqlite:///{tmp_path / 'erp.db'}", customers=20, contacts=50, seed=11)
    result = accord(tmp_path, "init", "--erp-url", f"sqlite:///{tmp_path / 'erp.db'}")
    assert result.returncode == 0, result.stderr
    return tmp_path


def test_init_plan_sync_status_errors_history(workdir: Path) -> None:
    assert (workdir / "accord.toml").exists() and (workdir / ".accord" / "hub.db").exists()
    again = accord(workdir, "init")
    assert again.returncode == 2 and "already exists" in again.stderr
    # Sync is off until enabled (S000-01): plan and sync do nothing and say nothing is enabled.
    off = accord(workdir, "sync", "erp")
    assert off.returncode == 2 and "sync is off" in off.stderr
    assert "sync off" in accord(workdir, "status").stdout  # not "no good run yet"
    config = workdir / "accord.toml"
    config.write_text(config.read_text().replace('sync = "off"', 'sync = "two-way"'))
    plan = accord(workdir, "plan")
    assert plan.returncode == 0, plan.stderr
    assert "dry run" in plan.stdout and "20 create" in plan.stdout
    status = accord(workdir, "status")
    assert "never" in status.stdout  # the plan wrote no run
    assert "hub: empty" in status.stdout
    synced = accord(workdir, "sync")
    assert synced.returncode == 0, synced.stderr
    assert "20 create" in synced.stdout
    status = accord(workdir, "status")
    assert "erp" in status.stdout and "ok" in status.stdout and "20 company" in status.stdout
    errors = accord(workdir, "errors")
    assert "email" in errors.stdout and "invalid email" in errors.stdout
    editor = ExoEditor(f"sqlite:///{workdir / 'erp.db'}")
    contact = editor.contacts_of(1)[0]
    editor.update_contact(int(str(contact["SEQNO"])), TITLE="Chief Buyer")
    editor.close()
    accord(workdir, "sync")
    history = accord(workdir, "history", f"erp:person:{contact['SEQNO']}@1")
    assert history.returncode == 0, history.stderr
    assert "Chief Buyer" in history.stdout and "job_title" in history.stdout
    # Times are the business's wall clock ([hub] time_zone), not stored UTC text.
    config.write_text(
        config.read_text().replace('time_zone = "Etc/UTC"', 'time_zone = "Pacific/Chatham"', 1)
    )
    for shown in (accord(workdir, "history", "1"), accord(workdir, "status")):
        assert "Times shown in Pacific/Chatham time." in shown.stdout, shown.stderr
        assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", shown.stdout)
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", shown.stdout)
    # Runs so far: the first sync (1) and the one that brought the new title (2).
    undone = accord(workdir, "undo", "2")
    assert undone.returncode == 0 and "reverted 1 field" in undone.stdout, undone.stderr
    conflicts = accord(workdir, "conflicts", "--all")
    assert conflicts.returncode == 0
    missing = accord(workdir, "history", "erp:person:nope")
    assert missing.returncode == 2 and "no linked person" in missing.stderr
    # A fix made in SQL without moving LAST_UPDATED: only a full read brings it.
    erp = sqlite3.connect(workdir / "erp.db")
    with erp:
        seqno, accno = erp.execute(
            "SELECT CONTACT_SEQNO, ACCNO FROM DR_CONTACTS WHERE ACCNO = 2"
        ).fetchone()
        erp.execute("UPDATE CONTACTS SET TITLE = 'Head Buyer' WHERE SEQNO = ?", (seqno,))
    erp.close()
    assert "Head Buyer" not in accord(workdir, "plan").stdout
    full = accord(workdir, "sync", "--full")
    assert full.returncode == 0, full.stderr
    history = accord(workdir, "history", f"erp:person:{seqno}@{accno}")
    assert "Head Buyer" in history.stdout


def test_sandbox_exo_fills_an_empty_database_and_refuses_a_full_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'erp.db'}"
    made = accord(tmp_path, "sandbox", "exo", url, "--customers", "30", "--contacts", "60")
    assert made.returncode == 0, made.stderr
    assert "30 customers, 60 contacts" in made.stdout
    again = accord(tmp_path, "sandbox", "exo", url, "--customers", "30", "--contacts", "60")
    assert again.returncode == 2 and "already holds rows" in again.stderr


def test_options_and_secret_names_survive_the_config_file(tmp_path: Path) -> None:
    from accord import config as config_module
    from accord.config import Config, SystemConfig
    from accord.errors import ConfigError

    settings = Config(
        systems={
            "crm": SystemConfig(
                kind="memory",
                options={"address_sync": False, "division": 42},
                secrets_env={"api_key": "ACCORD_TEST_SECRET_KEY"},
            )
        }
    )
    path = tmp_path / "accord.toml"
    path.write_text(config_module.render(settings))
    loaded = config_module.load(path).system("crm")
    assert loaded.options == {"address_sync": False, "division": 42}
    assert "ACCORD_TEST_SECRET_KEY" in path.read_text()
    with pytest.raises(ConfigError, match="ACCORD_TEST_SECRET_KEY"):
        loaded.resolved_secret("crm", "api_key")
    os.environ["ACCORD_TEST_SECRET_KEY"] = "s3cret"
    try:
        assert loaded.resolved_secret("crm", "api_key") == "s3cret"
    finally:
        del os.environ["ACCORD_TEST_SECRET_KEY"]


def test_a_saved_configuration_keeps_every_setting_and_always_loads_again(tmp_path: Path) -> None:
    from accord import config as config_module
    from accord.config import Config, Schedule, SystemConfig

    settings = Config(
        systems={
            "crm": SystemConfig(
                kind="unleashed",
                preset="crm-unleashed",
                sync="two-way",
                schedule=Schedule(push="immediate", pull=" 30m\n", nightly="03:30"),
                options={"address_sync": False, "regions": ["NZ", "AU"], "limits": {"rpm": 60}},
            )
        }
    )
    path = tmp_path / "accord.toml"
    config_module.save(settings, path)
    loaded = config_module.load(path).system("crm")
    assert loaded.schedule == Schedule(push="immediate", pull="30m", nightly="03:30")
    assert loaded.options == {"address_sync": False, "regions": ["NZ", "AU"], "limits": {"rpm": 60}}
    assert not list(tmp_path.glob(".*.tmp"))


def test_the_demo_runs_end_to_end_and_explains_itself(tmp_path: Path) -> None:
    result = accord(tmp_path, "demo", "--customers", "60", "--contacts", "150")
    assert result.returncode == 0, result.stderr
    for heading in ("1. A sandbox ERP", "2. Dry run", "3. First sync", "done in"):
        assert heading in result.stdout, heading
    assert (tmp_path / ".accord" / "demo" / "hub.db").exists()
    # The commands the demo ends with work on its databases, as printed.
    hinted = re.findall(r"^\s*accord (.+)$", result.stdout, re.MULTILINE)
    assert [command.split()[2] for command in hinted] == ["status", "history"]
    status, history = (accord(tmp_path, *command.split()) for command in hinted)
    assert status.returncode == 0, status.stderr
    assert "60 company" in status.stdout and "two-way" in status.stdout
    assert history.returncode == 0, history.stderr
    assert "erp.edit@example.com" in history.stdout


def test_secrets_and_unreachable_databases_get_a_clear_message_not_a_traceback(
    tmp_path: Path,
) -> None:
    refused = accord(tmp_path, "init", "--erp-url", "postgresql://erp:s3cretPW@127.0.0.1:1/erp")
    assert refused.returncode == 2 and "url_env" in refused.stderr
    assert "s3cretPW" not in refused.stdout + refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "accord.toml").exists()
    # A hub nobody answers for: the driver's reason, no traceback, a non-zero exit.
    (tmp_path / "accord.toml").write_text(
        '[hub]\ndatabase = "postgresql://postgres@127.0.0.1:1/hub"\ndatabase_env = ""\n'
    )
    down = accord(tmp_path, "status")
    assert down.returncode == 2 and "database error" in down.stderr, down.stderr
    assert "Traceback" not in down.stderr
    # Started from another folder, the configuration's own hub is the one opened.
    (tmp_path / "accord.toml").unlink()
    assert accord(tmp_path, "init").returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    status = accord(elsewhere, "status", "-c", str(tmp_path / "accord.toml"))
    assert status.returncode == 0, status.stderr
    assert not (elsewhere / ".accord").exists()


def test_the_configuration_is_given_before_or_after_the_command(workdir: Path) -> None:
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    config = str(workdir / "accord.toml")
    before = accord(elsewhere, "-c", config, "status")
    assert before.returncode == 0, before.stderr
    assert "erp" in before.stdout
    assert accord(elsewhere, "--config", config, "user", "list").returncode == 0
    # The command's own option wins over the one before it.
    both = accord(elsewhere, "-c", config, "status", "-c", "missing.toml")
    assert both.returncode == 2 and "missing.toml not found" in both.stderr
    assert not (elsewhere / ".accord").exists()


def test_a_new_sqlite_hub_gets_its_folder_and_a_bad_one_is_named(tmp_path: Path) -> None:
    # Written by hand, naming a folder that does not exist yet: made as init makes it.
    (tmp_path / "accord.toml").write_text('[hub]\ndatabase = "sqlite:///.accord/hub.db"\n')
    status = accord(tmp_path, "status")
    assert status.returncode == 0, status.stderr
    assert (tmp_path / ".accord" / "hub.db").exists()
    # A file that cannot be opened (here a folder): the message names the hub and the file.
    (tmp_path / "accord.toml").write_text('[hub]\ndatabase = "sqlite:///.accord"\n')
    bad = accord(tmp_path, "status")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert f"hub database {tmp_path / '.accord'}: unable to open" in " ".join(bad.stderr.split())
    # init -c into another folder: the hub is beside the file, where later commands look.
    made = accord(tmp_path, "init", "-c", "client/accord.toml")
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "client" / ".accord" / "hub.db").exists()
    assert accord(tmp_path, "-c", "client/accord.toml", "status").returncode == 0


def test_init_under_accord_database_url_records_that_the_hub_comes_from_it(
    tmp_path: Path,
) -> None:
    hub = {"ACCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'shared' / 'hub.db'}"}
    made = accord(tmp_path, "init", env_extra=hub)
    assert made.returncode == 0, made.stderr
    assert "set it wherever accord runs" in made.stdout
    from accord.config import load

    written = load(tmp_path / "accord.toml").hub
    assert written.database == "" and written.database_env == "ACCORD_DATABASE_URL"
    assert (tmp_path / "shared" / "hub.db").exists() and not (tmp_path / ".accord").exists()
    # A cron job without the variable is refused, not given an empty SQLite hub.
    bare = accord(tmp_path, "status")
    assert bare.returncode == 2 and "ACCORD_DATABASE_URL" in bare.stderr, bare.stderr
    assert "not set" in " ".join(bare.stderr.split())
    assert not (tmp_path / ".accord").exists()
    assert accord(tmp_path, "status", env_extra=hub).returncode == 0


def test_init_writes_the_business_time_zone_for_the_hub_and_the_erp(tmp_path: Path) -> None:
    erp = f"sqlite:///{tmp_path / 'erp.db'}"
    wrong = accord(tmp_path, "init", "--erp-url", erp, "--time-zone", "Mars/Olympus")
    assert wrong.returncode == 2 and "unknown time zone 'Mars/Olympus'" in wrong.stderr
    assert not (tmp_path / "accord.toml").exists()
    made = accord(tmp_path, "init", "--erp-url", erp, "--time-zone", "Pacific/Auckland")
    assert made.returncode == 0, made.stderr
    assert "time zone Pacific/Auckland" in made.stdout
    from accord.config import load

    settings = load(tmp_path / "accord.toml")
    assert settings.hub.time_zone == "Pacific/Auckland"
    assert settings.systems["erp"].time_zone == "Pacific/Auckland"
