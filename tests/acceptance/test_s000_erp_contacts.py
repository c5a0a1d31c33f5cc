"""S000: ERP contacts <-> sales-rep app contacts, against an Exo-shaped sandbox ERP."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from accord.config import SystemConfig, parse_duration
from accord.errors import AccordError, ConfigError
from accord.model.matching import match_key
from accord.service import monitor, queries
from accord.service import sync as sync_service
from accord.service.records import create_record, delete_record, edit_record
from accord.store import bookkeeping, records
from tests.acceptance.exo_support import ExoWorld, a_plain_contact


def test_s000_01_two_way_sync_is_off_until_enabled_then_both_lists_mirror(exo: ExoWorld) -> None:
    exo.config.systems["erp"] = exo.config.systems["erp"].model_copy(update={"sync": "off"})
    assert SystemConfig(kind="sql", preset="exo", url="sqlite://").sync == "off"  # the default
    with pytest.raises(ConfigError, match="sync is off"):
        exo.sync()
    exo.config.systems["erp"] = exo.config.systems["erp"].model_copy(update={"sync": "two-way"})
    exo.sync()
    contact = a_plain_contact(exo.erp)
    company = exo.hub_company(contact["ACCNO"])
    create_record(
        exo.store,
        "person",
        {"company": company.id, "first_name": "Rep", "last_name": "Added", "kind": "contact"},
        clock=exo.clock,
    )
    exo.sync()
    erp_pairs = {
        f"{c['SEQNO']}@{accno}" for accno in range(1, 13) for c in exo.erp.contacts_of(accno)
    }
    assert set(exo.contact_link_keys()) == erp_pairs
    [added] = [
        c
        for c in exo.erp.contacts_of(contact["ACCNO"])
        if (c["FIRSTNAME"], c["LASTNAME"]) == ("Rep", "Added")
    ]
    # Made under that customer, as Exo's own screens make a contact.
    assert added["COMPANY_ACCNO"] == contact["ACCNO"]


def test_s000_02_every_listed_field_syncs_both_ways(exo: ExoWorld) -> None:
    exo.sync()
    contact = a_plain_contact(exo.erp)
    seqno, accno = contact["SEQNO"], contact["ACCNO"]
    exo.erp.update_contact(
        seqno,
        FIRSTNAME="Maria",
        LASTNAME="Tane",
        SALUTATION="Ms",
        TITLE="Buyer",
        EMAIL="maria@tane.example",
        DIRECTPHONE="09 379 4412",
        MOBILE="021 555 0134",
        DIRECTFAX="09 379 4413",
        NOTES="Prefers mornings",
    )
    exo.erp.deactivate_contact(seqno)
    exo.sync()
    hub = exo.hub_contact(seqno, accno).data
    assert (hub["first_name"], hub["last_name"], hub["salutation"], hub["job_title"]) == (
        "Maria",
        "Tane",
        "Ms",
        "Buyer",
    )
    assert (hub["email"], hub["phone"], hub["mobile"], hub["fax"]) == (
        "maria@tane.example",
        "+6493794412",
        "+64215550134",
        "+6493794413",
    )
    assert hub["notes"] == "Prefers mornings" and hub["active"] is False
    assert hub["is_primary"] in (True, False)
    edit_record(
        exo.store,
        exo.hub_contact(seqno, accno).id,
        {
            "first_name": "Mere",
            "last_name": "Tane-Smith",
            "salutation": "Mrs",
            "job_title": "Owner",
            "email": "mere@tane.example",
            "phone": "+6493794400",
            "mobile": "+64215550100",
            "fax": "+6493794401",
            "notes": "Call first",
            "active": True,
            "is_primary": True,
        },
        clock=exo.clock,
    )
    exo.sync()
    row = exo.erp.contact(seqno)
    assert row is not None
    assert (row["FIRSTNAME"], row["LASTNAME"], row["SALUTATION"], row["TITLE"]) == (
        "Mere",
        "Tane-Smith",
        "Mrs",
        "Owner",
    )
    assert (row["EMAIL"], row["DIRECTPHONE"], row["MOBILE"], row["DIRECTFAX"]) == (
        "mere@tane.example",
        "+6493794400",
        "+64215550100",
        "+6493794401",
    )
    assert row["NOTES"] == "Call first" and row["ISACTIVE"] == "Y"
    defaults = {c["SEQNO"]: c["DEFCONTACT"] for c in exo.erp.contacts_of(accno)}
    assert defaults[seqno] == "Y"


def test_s000_02_a_primary_flag_changed_without_a_stamp_arrives_with_a_full_read(
    exo: ExoWorld,
) -> None:
    # DR_CONTACTS has no modified time: a default contact changed by a bulk fix in SQL
    # (or a screen that leaves CONTACTS.LAST_UPDATED alone) moves no change cursor.
    exo.sync()
    accno, (old, new) = next(
        (a, (c[0], c[1]))
        for a in range(1, 13)
        if len(c := [int(str(r["SEQNO"])) for r in exo.erp.contacts_of(a)]) >= 2
        and exo.hub_contact(c[0], a).data["is_primary"]
    )
    with exo.erp.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE DR_CONTACTS SET DEFCONTACT = CASE CONTACT_SEQNO WHEN :new"
                " THEN 'Y' ELSE 'N' END WHERE ACCNO = :accno"
            ),
            {"new": new, "accno": accno},
        )
    exo.clock.advance(timedelta(minutes=5))
    planned = exo.sync(dry_run=True, full_read=True)
    updates = [c for c in planned.changes if c.direction == "hub" and c.action == "update"]
    assert len(updates) == 2 and planned.writes == 2
    assert {f for c in updates for f, _, _ in c.fields} == {"is_primary"}
    exo.sync(full_read=True)
    assert exo.hub_contact(old, accno).data["is_primary"] is False
    assert exo.hub_contact(new, accno).data["is_primary"] is True
    # Every other record was read and left alone: a second full read changes nothing.
    assert exo.sync(full_read=True).total("update") == 0


def test_s000_03_a_field_only_the_hub_has_is_never_sent_nor_blanked(exo: ExoWorld) -> None:
    exo.sync()
    contact = a_plain_contact(exo.erp)
    seqno, accno = contact["SEQNO"], contact["ACCNO"]
    hub_id = exo.hub_contact(seqno, accno).id
    edit_record(exo.store, hub_id, {"department": "Logistics"}, clock=exo.clock)
    plan = exo.sync()
    assert (
        plan.count("system", "person", "update") == 0
    )  # nothing to send: the ERP has no such field
    exo.erp.update_contact(seqno, TITLE="Warehouse lead")
    exo.sync()
    hub = exo.hub_contact(seqno, accno).data
    assert hub["department"] == "Logistics" and hub["job_title"] == "Warehouse lead"


def test_two_systems_cannot_both_own_account_codes() -> None:
    from accord.config import Config

    systems = {
        name: {"kind": "sql", "preset": "exo", "url": "sqlite://", "sync": "two-way"}
        for name in ("erp1", "erp2")
    }
    with pytest.raises(ValueError, match="own account codes"):
        Config.model_validate({"systems": systems})
    systems["erp2"]["owns_codes"] = False  # type: ignore[assignment]
    assert Config.model_validate({"systems": systems}).systems["erp2"].owns_codes is False


def test_s000_04_each_direction_has_its_own_configurable_schedule(exo: ExoWorld) -> None:
    default = SystemConfig(kind="sql", preset="exo", url="sqlite://").schedule
    assert parse_duration(default.push) == timedelta(minutes=15)
    assert parse_duration(default.pull) == timedelta(minutes=60)
    custom = SystemConfig.model_validate(
        {
            "kind": "sql",
            "preset": "exo",
            "url": "sqlite://",
            "schedule": {"push": "5m", "pull": "2h"},
        }
    )
    assert parse_duration(custom.schedule.pull) == timedelta(hours=2)
    with pytest.raises(ValueError, match="not a duration"):
        SystemConfig.model_validate({"kind": "sql", "schedule": {"push": "often"}})
    # Each direction runs on its own: a pull-only run sends nothing, a push-only run reads nothing.
    exo.sync()
    contact = a_plain_contact(exo.erp)
    hub_id = exo.hub_contact(contact["SEQNO"], contact["ACCNO"]).id
    edit_record(exo.store, hub_id, {"job_title": "Hub edit"}, clock=exo.clock)
    exo.erp.update_contact(contact["SEQNO"], MOBILE="021 999 0000")
    pulled = exo.sync(push=False)
    assert (
        pulled.count("hub", "person", "update") == 1
        and pulled.count("system", "person", "update") == 0
    )
    assert exo.erp.contact(contact["SEQNO"])["TITLE"] != "Hub edit"  # type: ignore[index]
    pushed = exo.sync(pull=False)
    assert pushed.count("system", "person", "update") == 1
    assert exo.erp.contact(contact["SEQNO"])["TITLE"] == "Hub edit"  # type: ignore[index]


def test_s000_05_most_recent_edit_wins_and_the_loser_stays_in_history(exo: ExoWorld) -> None:
    exo.sync()
    contact = a_plain_contact(exo.erp)
    seqno, accno = contact["SEQNO"], contact["ACCNO"]
    hub_id = exo.hub_contact(seqno, accno).id
    # The app edits first, head office later: the ERP version is newer and wins.
    edit_record(
        exo.store, hub_id, {"email": "app@example.com", "job_title": "App title"}, clock=exo.clock
    )
    exo.clock.advance(timedelta(minutes=5))
    exo.erp.update_contact(seqno, EMAIL="office@example.com", TITLE="Office title")
    exo.sync()
    assert exo.hub_contact(seqno, accno).data["email"] == "office@example.com"
    assert exo.erp.contact(seqno)["EMAIL"] == "office@example.com"  # type: ignore[index]
    _, changes = queries.history(exo.store, hub_id)
    overwritten = [(c.field, c.old, c.new) for c in changes if c.old == "app@example.com"]
    assert overwritten == [("email", "app@example.com", "office@example.com")]
    resolved = queries.recent_conflicts(exo.store)
    assert {c.field for c in resolved} == {"email", "job_title"}
    assert all(c.winner == "system" and "record-level" in c.reason for c in resolved)
    # Now the app edits last: the hub version wins and reaches the ERP.
    exo.erp.update_contact(seqno, TITLE="Office again")
    exo.clock.advance(timedelta(minutes=5))
    edit_record(exo.store, hub_id, {"job_title": "App again"}, clock=exo.clock)
    exo.sync()
    assert exo.erp.contact(seqno)["TITLE"] == "App again"  # type: ignore[index]


def test_s000_06_erp_delete_keeps_the_app_contact_erp_deactivation_deactivates(
    exo: ExoWorld,
) -> None:
    exo.sync()
    gone, off = a_plain_contact(exo.erp, 0), a_plain_contact(exo.erp, 1)
    exo.erp.delete_contact(gone["SEQNO"])
    exo.erp.deactivate_contact(off["SEQNO"])
    exo.sync()
    kept = exo.hub_contact(gone["SEQNO"], gone["ACCNO"])
    assert not kept.deleted and kept.data["active"] is True
    assert exo.hub_contact(off["SEQNO"], off["ACCNO"]).data["active"] is False


def test_s000_06_an_erp_delete_is_shown_and_the_kept_contact_no_longer_reads_synced(
    exo: ExoWorld,
) -> None:
    exo.sync()
    gone = a_plain_contact(exo.erp)
    hub_id = exo.hub_contact(gone["SEQNO"], gone["ACCNO"]).id
    exo.erp.delete_contact(gone["SEQNO"])
    plan = exo.sync()
    [unlinked] = [c for c in plan.changes if c.action == "unlink"]
    assert unlinked.entity == "person" and "deleted in erp" in unlinked.reason
    edit_record(exo.store, hub_id, {"job_title": "Boss"}, clock=exo.clock)
    exo.sync()
    [state] = monitor.record_sync_state(exo.store, exo.config, hub_id)
    assert state.state == "deleted" and "no longer sent" in state.reasons[0]


def test_s000_07_app_delete_unticks_the_erp_active_flag(exo: ExoWorld) -> None:
    exo.sync()
    contact = a_plain_contact(exo.erp)
    delete_record(
        exo.store, exo.hub_contact(contact["SEQNO"], contact["ACCNO"]).id, clock=exo.clock
    )
    exo.sync()
    row = exo.erp.contact(contact["SEQNO"])
    assert row is not None and row["ISACTIVE"] == "N"


def test_s000_07_a_value_the_erp_refuses_does_not_keep_a_deleted_contact_active(
    exo: ExoWorld, tmp_path: Path
) -> None:
    exo.sync()
    contact = a_plain_contact(exo.erp)
    seqno, accno = contact["SEQNO"], contact["ACCNO"]
    hub_id = exo.hub_contact(seqno, accno).id
    # The ERP's database refuses this title (a trigger): its error names no field.
    db = sqlite3.connect(tmp_path / "erp.db")
    db.execute(
        "CREATE TRIGGER no_chief BEFORE UPDATE ON CONTACTS WHEN NEW.TITLE = 'Chief'"
        " BEGIN SELECT RAISE(ABORT, 'titles are kept by HR'); END"
    )
    db.commit()
    db.close()
    edit_record(exo.store, hub_id, {"job_title": "Chief"}, clock=exo.clock)
    exo.sync()  # the update is refused and reported
    delete_record(exo.store, hub_id, clock=exo.clock)
    exo.sync()
    row = exo.erp.contact(seqno)
    assert row is not None and row["ISACTIVE"] == "N" and row["TITLE"] != "Chief"


def test_s000_07_app_delete_of_one_copy_of_a_shared_contact_leaves_the_others_active(
    exo: ExoWorld,
) -> None:
    exo.sync()
    shared = exo.erp.shared_contacts()[0]
    removed_from, *others = exo.erp.accounts_of(shared)
    assert others
    with exo.store.transaction() as conn:
        errors_before = len(bookkeeping.open_errors(conn))
    # The rep removes the contact from one customer in the app.
    delete_record(exo.store, exo.hub_contact(shared, removed_from).id, clock=exo.clock)
    exo.sync()
    # The contact is no longer one of that customer's; it stays active for the others,
    # in the ERP and in their hub copies, and nothing is left to retry.
    assert exo.erp.accounts_of(shared) == others
    row = exo.erp.contact(shared)
    assert row is not None and row["ISACTIVE"] == "Y"
    exo.sync()
    assert all(exo.hub_contact(shared, a).data["active"] is True for a in others)
    assert f"{shared}@{removed_from}" not in exo.contact_link_keys()
    assert exo.sync().writes == 0
    with exo.store.transaction() as conn:
        assert len(bookkeeping.open_errors(conn)) == errors_before


def test_s000_08_same_name_under_the_same_customer_is_linked_not_duplicated(exo: ExoWorld) -> None:
    exo.sync()
    contact = a_plain_contact(exo.erp)
    accno = contact["ACCNO"]
    company = exo.hub_company(accno)
    # The rep adds the person in the app; head office adds them in the ERP, spelled loosely.
    hub_id = create_record(
        exo.store,
        "person",
        {"company": company.id, "first_name": "Hemi", "last_name": "Walker", "kind": "contact"},
        clock=exo.clock,
    )
    exo.erp.add_contact(accno, FIRSTNAME="  hemi ", LASTNAME="WALKER", ISACTIVE="Y")
    exo.sync(push=False)
    exo.sync()
    hemis = [
        c for c in exo.erp.contacts_of(accno) if str(c["LASTNAME"]).strip().lower() == "walker"
    ]
    assert len(hemis) == 1
    linked = queries.find_record(exo.store, f"erp:person:{hemis[0]['SEQNO']}@{accno}")
    assert linked == hub_id
    # The same name under another customer is a different person.
    other = a_plain_contact(exo.erp, 3)
    assert other["ACCNO"] != accno
    exo.erp.add_contact(other["ACCNO"], FIRSTNAME="Hemi", LASTNAME="Walker", ISACTIVE="Y")
    exo.sync()
    assert len([k for k in exo.contact_link_keys()]) == len(set(exo.contact_link_keys()))
    with exo.store.transaction() as conn:
        assert bookkeeping.open_conflicts(conn) == []


def test_s000_08_a_push_only_run_matches_before_it_creates(exo: ExoWorld) -> None:
    """With pushes on their own schedule (S000-04), a contact added on both sides since
    the last pull is linked, not created a second time by the push."""
    exo.sync()
    contact = a_plain_contact(exo.erp)
    accno = contact["ACCNO"]
    hub_id = create_record(
        exo.store,
        "person",
        {"company": exo.hub_company(accno).id, "first_name": "Ana", "last_name": "Tupou"},
        clock=exo.clock,
    )
    seqno = exo.erp.add_contact(accno, FIRSTNAME="Ana ", LASTNAME="tupou", ISACTIVE="Y")
    pushed = exo.sync(pull=False)
    assert pushed.count("system", "person", "create") == 0
    exo.sync()
    anas = [c for c in exo.erp.contacts_of(accno) if str(c["LASTNAME"]).lower() == "tupou"]
    assert [c["SEQNO"] for c in anas] == [seqno]
    assert queries.find_record(exo.store, f"erp:person:{seqno}@{accno}") == hub_id
    with exo.store.reading() as conn:
        person = {"company": exo.hub_company(accno).id, "first_name": "Ana", "last_name": "Tupou"}
        key = match_key("person", person)
        assert records.find_by_match_keys(conn, "person", [key])[key] == [hub_id]


def test_s000_08_a_contact_entered_again_after_a_delete_is_the_contact_the_hub_kept(
    exo: ExoWorld,
) -> None:
    exo.sync()
    contact = a_plain_contact(exo.erp)
    seqno, accno = contact["SEQNO"], contact["ACCNO"]
    kept = exo.hub_contact(seqno, accno).id
    exo.erp.delete_contact(seqno)
    exo.sync()  # S000-06: the hub keeps the contact; its link is retired
    assert f"{seqno}@{accno}" not in exo.contact_link_keys()
    again = exo.erp.add_contact(
        accno, FIRSTNAME=contact["FIRSTNAME"], LASTNAME=contact["LASTNAME"], ISACTIVE="Y"
    )
    exo.sync()
    assert queries.find_record(exo.store, f"erp:person:{again}@{accno}") == kept
    person = {
        "company": exo.hub_company(accno).id,
        "first_name": contact["FIRSTNAME"],
        "last_name": contact["LASTNAME"],
    }
    with exo.store.reading() as conn:
        key = match_key("person", person)
        assert records.find_by_match_keys(conn, "person", [key])[key] == [kept]  # one, not two
    assert exo.sync().writes == 0


def test_s000_08_a_contact_entered_again_closes_the_conflicts_held_with_the_deleted_one(
    exo: ExoWorld,
) -> None:
    """A conflict held with an ERP contact that was then deleted and entered again is
    closed when the new contact is linked: its values are compared afresh (a difference
    is held anew), and the old one's conflict no longer waits for a decision."""
    exo.config.systems["erp"].conflict = "hold"
    exo.sync()
    contact = a_plain_contact(exo.erp)
    seqno, accno = contact["SEQNO"], contact["ACCNO"]
    hub_id = exo.hub_contact(seqno, accno).id
    edit_record(exo.store, hub_id, {"job_title": "Hub title", "mobile": "021 555 0101"})
    exo.erp.update_contact(seqno, TITLE="ERP title", MOBILE="021 555 0202")
    exo.sync()
    with exo.store.reading() as conn:
        held = {c.field: c.id for c in bookkeeping.open_conflicts(conn)}
    assert set(held) == {"job_title", "mobile"}
    exo.erp.delete_contact(seqno)
    exo.sync()
    again = exo.erp.add_contact(
        accno,
        FIRSTNAME=contact["FIRSTNAME"],
        LASTNAME=contact["LASTNAME"],
        TITLE="Hub title",
        MOBILE="021 555 0303",
        ISACTIVE="Y",
    )
    exo.sync()
    assert queries.find_record(exo.store, f"erp:person:{again}@{accno}") == hub_id
    with exo.store.reading() as conn:
        still = bookkeeping.open_conflicts(conn)
    # The title agrees; the mobile differs from the new contact's: held anew, not the old.
    assert [(c.field, c.system_value) for c in still] == [("mobile", "+64215550303")]
    assert held["mobile"] not in {c.id for c in still}
    with pytest.raises(AccordError, match="another one linked"):
        monitor.resolve_conflict(exo.store, held["job_title"], "system")


def test_s000_09_a_shared_erp_contact_becomes_one_hub_contact_per_customer(exo: ExoWorld) -> None:
    exo.sync()
    shared = exo.erp.shared_contacts()[0]
    accounts = [
        a for a in range(1, 13) if any(c["SEQNO"] == shared for c in exo.erp.contacts_of(a))
    ]
    assert len(accounts) >= 2
    copies = [exo.hub_contact(shared, a) for a in accounts]
    assert len({c.id for c in copies}) == len(accounts)
    assert {c.data["company"] for c in copies} == {exo.hub_company(a).id for a in accounts}
    # An ERP edit to the shared contact reaches every copy.
    exo.erp.update_contact(shared, MOBILE="021 555 0199")
    exo.sync()
    assert {exo.hub_contact(shared, a).data["mobile"] for a in accounts} == {"+64215550199"}
    # An edit to one copy in the app writes back to the shared ERP contact, then reaches the others.
    edit_record(exo.store, copies[0].id, {"job_title": "Shared buyer"}, clock=exo.clock)
    exo.sync()
    assert exo.erp.contact(shared)["TITLE"] == "Shared buyer"  # type: ignore[index]
    exo.sync()
    assert {exo.hub_contact(shared, a).data["job_title"] for a in accounts} == {"Shared buyer"}
    assert len(sync_service.enabled_systems(exo.config)) == 1


def _copies(exo: ExoWorld, seqno: object) -> set[tuple[object, ...]]:
    """The names and phone DR_CONTACTS repeats for a contact, over all its accounts."""
    with exo.erp.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT FIRSTNAME, LASTNAME, DIRECTPHONE FROM DR_CONTACTS WHERE CONTACT_SEQNO = :s"
            ),
            {"s": seqno},
        ).all()
    return {tuple(row) for row in rows}


@pytest.mark.parametrize("batch_size", [1000, 1], ids=["one batch", "a batch each"])
@pytest.mark.parametrize("fields", [("job_title", "job_title"), ("job_title", "email")])
def test_s000_09_two_copies_edited_in_the_hub_reach_the_shared_contact_later_last(
    exo: ExoWorld, fields: tuple[str, str], batch_size: int
) -> None:
    """Two reps edit one shared ERP contact under two customers, minutes apart: the push
    sends both, in one batch or two, the later on top (S000-05), and every copy takes the
    result."""
    system = exo.config.systems["erp"]
    exo.config.systems["erp"] = system.model_copy(update={"batch_size": batch_size})
    exo.sync()
    shared = exo.erp.shared_contacts()[0]
    first, second, *_ = exo.erp.accounts_of(shared)
    copy_a, copy_b = exo.hub_contact(shared, first), exo.hub_contact(shared, second)
    earlier, later = fields
    values = {"job_title": "Earlier title", "email": "later@example.com"}
    if earlier == later:
        values = {"job_title": "Earlier title"}
    edit_record(exo.store, copy_a.id, {earlier: values[earlier]}, clock=exo.clock)
    exo.clock.advance(timedelta(minutes=5))
    final = "Later title" if later == "job_title" else values[later]
    edit_record(exo.store, copy_b.id, {later: final}, clock=exo.clock)
    exo.clock.advance(timedelta(minutes=5))
    exo.sync()
    exo.sync()
    row = exo.erp.contact(shared)
    assert row is not None
    expected = {"job_title": "Later title" if earlier == later else "Earlier title"}
    if earlier != later:
        expected["email"] = final
    columns = {"job_title": "TITLE", "email": "EMAIL"}
    assert {name: row[columns[name]] for name in expected} == expected
    for accno in (first, second):
        copy = exo.hub_contact(shared, accno)
        assert {name: copy.data.get(name) for name in expected} == expected
    assert not queries.open_conflicts(exo.store)
    assert not [e for e in queries.open_errors(exo.store) if e.record_id in (copy_a.id, copy_b.id)]


def test_s000_09_the_names_and_phone_exo_repeats_on_each_account_link_follow_the_contact(
    exo: ExoWorld,
) -> None:
    exo.sync()
    shared = exo.erp.shared_contacts()[0]
    first, *_ = exo.erp.accounts_of(shared)
    exo.clock.advance(timedelta(minutes=1))
    edit_record(
        exo.store,
        exo.hub_contact(shared, first).id,
        {"first_name": "Renamed", "last_name": "Person", "phone": "09 555 0123"},
        clock=exo.clock,
    )
    exo.sync()
    # Every account's link row, not only the edited copy's, shows the contact as it is.
    assert _copies(exo, shared) == {("Renamed", "Person", "+6495550123")}
    # A contact created in the app gets its names on its link row too.
    create_record(
        exo.store,
        "person",
        {"company": exo.hub_company(first).id, "first_name": "Aroha", "last_name": "Ngata"},
        clock=exo.clock,
    )
    exo.sync()
    (made,) = [c for c in exo.erp.contacts_of(first) if c["LASTNAME"] == "Ngata"]
    assert _copies(exo, made["SEQNO"]) == {("Aroha", "Ngata", None)}


def test_s000_09_a_contact_linked_to_one_more_customer_gets_its_own_hub_copy(
    exo: ExoWorld,
) -> None:
    exo.sync()
    contact = a_plain_contact(exo.erp)
    seqno, home = contact["SEQNO"], contact["ACCNO"]
    other = next(a for a in range(1, 13) if a != home and a not in exo.erp.accounts_of(seqno))
    before = exo.erp.contact(seqno)
    # Exo writes only a DR_CONTACTS row: the contact's LAST_UPDATED does not move, so the
    # change cursor cannot see it; the key count does.
    exo.erp.link_contact(seqno, other)
    assert exo.erp.contact(seqno) == before
    exo.sync()
    copy = exo.hub_contact(seqno, other)
    assert copy.data["company"] == exo.hub_company(other).id
    assert copy.id != exo.hub_contact(seqno, home).id
    assert exo.sync().writes == 0


def test_s000_09_a_new_link_and_a_deletion_that_cancel_out_are_found_by_a_full_read(
    exo: ExoWorld,
) -> None:
    exo.sync()
    contact, gone = a_plain_contact(exo.erp), a_plain_contact(exo.erp, skip=1)
    seqno, home = contact["SEQNO"], contact["ACCNO"]
    other = next(a for a in range(1, 13) if a != home and a not in exo.erp.accounts_of(seqno))
    gone_key = f"{gone['SEQNO']}@{gone['ACCNO']}"
    gone_id = exo.hub_contact(gone["SEQNO"], gone["ACCNO"]).id
    exo.clock.advance(timedelta(minutes=1))
    exo.erp.link_contact(seqno, other)  # one link row more, unseen by the change cursor
    exo.erp.delete_contact(gone["SEQNO"])  # and one fewer: the key count stays the same
    exo.sync()  # so an incremental run sees neither
    # A full read sees the new link row; with it the counts differ and keys are compared.
    exo.sync(full_read=True)
    assert exo.hub_contact(seqno, other).data["company"] == exo.hub_company(other).id
    assert gone_key not in exo.contact_link_keys()
    record, _ = queries.history(exo.store, gone_id)
    assert record.data["active"] is True and not record.deleted  # S000-06: kept as it was
