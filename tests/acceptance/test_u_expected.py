"""U-01..07: what any user of a sync product expects."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from accord.config import Config, SystemConfig, load
from accord.errors import ConfigError
from accord.service import queries
from accord.service.records import create_record, edit_record, undo_run
from accord.store import bookkeeping
from tests.acceptance.exo_support import ExoWorld, a_plain_contact


def test_u_01_dry_run_shows_creates_updates_deactivations_and_fields_writing_nothing(
    exo: ExoWorld,
) -> None:
    plan = exo.plan()
    assert (
        plan.count("hub", "company", "create") == 12 and plan.count("hub", "person", "create") > 0
    )
    assert exo.contact_link_keys() == []  # nothing written to the hub
    exo.sync()
    contact = a_plain_contact(exo.erp)
    hub_id = exo.hub_contact(contact["SEQNO"], contact["ACCNO"]).id
    edit_record(exo.store, hub_id, {"job_title": "Planned"}, clock=exo.clock)
    exo.erp.deactivate_contact(a_plain_contact(exo.erp, 1)["SEQNO"])
    before = exo.erp.contact(contact["SEQNO"])
    plan = exo.plan()
    assert plan.count("system", "person", "update") == 1
    assert plan.count("hub", "person", "deactivate") == 1
    update = next(c for c in plan.changes if c.direction == "system" and c.action == "update")
    assert ("job_title", None, "Planned") in update.fields or any(
        f[0] == "job_title" and f[2] == "Planned" for f in update.fields
    )
    assert exo.erp.contact(contact["SEQNO"]) == before  # nothing written to the ERP
    assert (
        exo.hub_contact(
            a_plain_contact(exo.erp, 1)["SEQNO"], a_plain_contact(exo.erp, 1)["ACCNO"]
        ).data["active"]
        is True
    )


def test_u_01_a_dry_run_plans_every_create_in_the_system(exo: ExoWorld) -> None:
    exo.sync()
    names = ("Kauri Joinery", "Tasman Freight", "Rimu Builders")
    for name in names:
        create_record(exo.store, "company", {"name": name}, clock=exo.clock)
    plan = exo.plan()
    assert plan.count("system", "company", "create") == 3
    with exo.erp.engine.connect() as conn:  # nothing written to the ERP
        assert conn.execute(text("SELECT count(*) FROM DR_ACCS WHERE ACCNO > 12")).scalar() == 0
    exo.sync()
    with exo.erp.engine.connect() as conn:
        made = conn.execute(text("SELECT NAME FROM DR_ACCS WHERE ACCNO > 12")).scalars().all()
    assert sorted(made) == sorted(names)


def test_u_02_a_second_sync_with_no_edits_writes_nothing(exo: ExoWorld) -> None:
    exo.sync()
    contact = a_plain_contact(exo.erp)
    edit_record(
        exo.store,
        exo.hub_contact(contact["SEQNO"], contact["ACCNO"]).id,
        {"notes": "x"},
        clock=exo.clock,
    )
    exo.erp.update_contact(a_plain_contact(exo.erp, 1)["SEQNO"], TITLE="Changed")
    exo.sync()
    before = [
        e.seq
        for e in queries.history(exo.store, exo.hub_contact(contact["SEQNO"], contact["ACCNO"]).id)[
            1
        ]
    ]
    plan = exo.sync()
    assert plan.writes == 0, plan.counts
    after = [
        e.seq
        for e in queries.history(exo.store, exo.hub_contact(contact["SEQNO"], contact["ACCNO"]).id)[
            1
        ]
    ]
    assert after == before


def test_u_04_a_bad_record_is_reported_and_retried_and_blocks_nothing(exo: ExoWorld) -> None:
    exo.sync()
    errors = queries.open_errors(exo.store)
    invalid = [e for e in errors if e.field == "email" and e.direction == "pull"]
    assert len(invalid) == 1 and "invalid email" in invalid[0].message
    assert invalid[0].external_id  # names the record
    # Too long for the ERP column: the field is refused, the rest of the record goes.
    contact = a_plain_contact(exo.erp)
    hub_id = exo.hub_contact(contact["SEQNO"], contact["ACCNO"]).id
    edit_record(
        exo.store, hub_id, {"job_title": "T" * 45, "mobile": "+64215550111"}, clock=exo.clock
    )
    exo.sync()
    row = exo.erp.contact(contact["SEQNO"])
    assert row is not None and row["MOBILE"] == "+64215550111" and row["TITLE"] != "T" * 45
    long = [e for e in queries.open_errors(exo.store) if e.field == "job_title"]
    assert long and "at most 30 characters" in long[0].message and long[0].record_id == hub_id
    # Retried on the next run, and closed once the value fits.
    exo.sync()
    assert [e.attempts for e in queries.open_errors(exo.store) if e.field == "job_title"] == [2]
    edit_record(exo.store, hub_id, {"job_title": "Short"}, clock=exo.clock)
    exo.sync()
    assert not [e for e in queries.open_errors(exo.store) if e.field == "job_title"]
    assert exo.erp.contact(contact["SEQNO"])["TITLE"] == "Short"  # type: ignore[index]


def test_u_04_a_bad_record_read_again_in_its_retry_run_is_one_error(exo: ExoWorld) -> None:
    exo.sync()
    [invalid] = [e for e in queries.open_errors(exo.store) if e.field == "email"]
    seqno = int(str(invalid.external_id).split("@")[0])
    bad_email = exo.erp.contact(seqno)["EMAIL"]  # type: ignore[index]
    # Still invalid, and in the next read's window: retried, then read again as it was.
    exo.erp.update_contact(seqno, TITLE="Buyer")
    plan = exo.sync()
    assert plan.count("hub", "person", "error") == 1
    [again] = [e for e in queries.open_errors(exo.store) if e.field == "email"]
    assert again.attempts == 2 and str(bad_email) in again.message
    full = exo.sync(full_read=True)
    assert full.count("hub", "person", "error") == 1
    assert [e.attempts for e in queries.open_errors(exo.store) if e.field == "email"] == [3]


def test_u_04_a_field_the_system_refuses_shows_in_the_plan_and_in_the_run(
    exo: ExoWorld,
) -> None:
    exo.sync()
    contact = a_plain_contact(exo.erp)
    hub_id = exo.hub_contact(contact["SEQNO"], contact["ACCNO"]).id
    edit_record(exo.store, hub_id, {"first_name": "R" * 40, "job_title": "Buyer"}, clock=exo.clock)
    for plan in (exo.plan(), exo.sync()):
        assert plan.count("system", "person", "update") == 1
        assert plan.count("system", "person", "error") == 1
        [refused] = [c for c in plan.changes if c.direction == "system" and c.action == "error"]
        assert refused.field == "first_name" and "at most 30 characters" in refused.reason
    assert exo.erp.contact(contact["SEQNO"])["TITLE"] == "Buyer"  # type: ignore[index]


def test_u_05_every_change_is_journaled_and_a_run_can_be_undone(exo: ExoWorld) -> None:
    exo.sync()
    contact = a_plain_contact(exo.erp)
    seqno, accno = contact["SEQNO"], contact["ACCNO"]
    old_title = exo.hub_contact(seqno, accno).data.get("job_title")
    exo.erp.update_contact(seqno, TITLE="Imported by mistake")
    exo.sync()
    _, changes = queries.history(exo.store, exo.hub_contact(seqno, accno).id)
    last = changes[-1]
    assert (last.field, last.old, last.new, last.system) == (
        "job_title",
        old_title,
        "Imported by mistake",
        "erp",
    )
    assert last.run_id is not None and last.at
    reverted, skipped = undo_run(exo.store, last.run_id, clock=exo.clock)
    assert reverted == 1 and skipped == []
    exo.sync()
    assert exo.erp.contact(seqno)["TITLE"] == old_title  # type: ignore[index]


def test_u_06_secrets_stay_out_of_the_file_and_out_of_the_output(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="url_env"):
        SystemConfig(kind="sql", preset="exo", url="postgresql://app:s3cret-pw@db.example/erp")
    config_file = tmp_path / "accord.toml"
    hub = tmp_path / "hub.db"
    config_file.write_text(
        f'[hub]\ndatabase = "sqlite:///{hub}"\n\n[systems.erp]\nkind = "sql"\npreset = "exo"\n'
        'url_env = "ERP_URL"\nsync = "two-way"\n'
    )
    loaded: Config = load(config_file)
    with pytest.raises(ConfigError, match="ERP_URL is not set"):
        loaded.systems["erp"].resolved_url("erp")
    env = {
        **os.environ,
        "ERP_URL": "postgresql://app:s3cret-pw@127.0.0.1:1/none",
        "ACCORD_DATABASE_URL": "",
    }
    result = subprocess.run(
        [sys.executable, "-m", "accord", "sync", "--config", str(config_file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode != 0
    assert "s3cret-pw" not in result.stdout + result.stderr
    assert "erp" in result.stderr


def test_u_07_long_runs_report_progress_and_errors_name_record_and_field(exo: ExoWorld) -> None:
    seen: list[tuple[str, str, int]] = []
    exo.sync(progress=lambda entity, phase, done: seen.append((entity, phase, done)))
    people = [done for entity, phase, done in seen if entity == "person" and phase == "pull"]
    assert people and people == sorted(people) and people[-1] > 0
    with exo.store.transaction() as conn:
        error = bookkeeping.open_errors(conn, "erp")[0]
    assert error.external_id and error.field == "email" and error.entity == "person"
