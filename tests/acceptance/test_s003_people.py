"""S003: person accounts, contact persons, linking and merging, codes, card customisation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from accord.clock import ManualClock
from accord.config import Config, HubConfig, SyncMode, SystemConfig
from accord.errors import AccordError, ValidationError
from accord.service import accounts, card_layout, merges, people, person_links
from accord.service.card_layout import FieldAccessError, FieldRule
from accord.service.records import create_record, edit_record
from accord.store import HubStore, links, records
from accord.store import people as people_store
from accord.store.types import HubRecord, Link


@pytest.fixture
def hub(sqlite_url: str) -> Iterator[HubStore]:
    store = HubStore(sqlite_url)
    yield store
    store.close()


def _get(store: HubStore, record_id: int) -> HubRecord:
    with store.transaction() as conn:
        record = records.get(conn, record_id)
    assert record is not None
    return record


def _company(store: HubStore, clock: ManualClock, name: str, code: str) -> int:
    return create_record(store, "company", {"name": name, "code": code}, clock=clock)


def _account(store: HubStore, clock: ManualClock, **data: Any) -> int:
    kind = data.pop("account_type", "customer")
    return people.create_person_account(store, data, account_type=kind, clock=clock)


def _link(store: HubStore, record_id: int, system: str, key: str, base: dict[str, Any]) -> None:
    with store.transaction() as conn:
        links.save(conn, [Link(None, system, "person", key, record_id, base=base)], "t")


def test_s003_01_person_accounts_and_contact_persons(hub: HubStore, clock: ManualClock) -> None:
    company = _company(hub, clock, "Tane Logistics", "TL01")
    kinds = {}
    for kind in people.ACCOUNT_TYPES:
        rid = _account(hub, clock, first_name="Ana", last_name=kind.title(), account_type=kind)
        kinds[kind] = _get(hub, rid).data
    assert {d["account_type"] for d in kinds.values()} == set(people.ACCOUNT_TYPES)
    assert all(d["kind"] == "account" and "company" not in d for d in kinds.values())

    contact = people.create_contact(
        hub, company, {"first_name": "Rua", "last_name": "Kahu", "job_title": "Buyer"}, clock=clock
    )
    assert (
        _get(hub, contact).data | {"kind": "contact", "company": company} == _get(hub, contact).data
    )

    with pytest.raises(ValidationError, match="account type") as bad_type:
        _account(hub, clock, first_name="X", account_type="partner")
    assert bad_type.value.field == "account_type"
    with pytest.raises(ValidationError, match="belongs to no company"):
        _account(hub, clock, first_name="X", company=company)
    with pytest.raises(ValidationError, match="contact person has no code") as coded:
        people.create_contact(hub, company, {"first_name": "Y", "code": "C9"}, clock=clock)
    assert coded.value.field == "code"
    with pytest.raises(AccordError, match=r"no company with hub id \d+: it is a person"):
        people.create_contact(hub, contact, {"first_name": "Z"}, clock=clock)


def test_s003_02_a_linked_contact_detail_change_asks_then_copies_or_aborts(
    hub: HubStore, clock: ManualClock
) -> None:
    company = _company(hub, clock, "Kahu Ltd", "KL01")
    own = _account(hub, clock, first_name="Mere", last_name="Kahu", email="mere@home.example")
    other = _account(hub, clock, first_name="Mere", last_name="Kahu", account_type="supplier")
    contact = people.create_contact(
        hub,
        company,
        {"first_name": "Mere", "last_name": "Kahu", "phone": "09 300 1000"},
        clock=clock,
    )
    assert person_links.link_people(hub, own, contact, clock=clock).status == "linked"
    assert person_links.link_people(hub, contact, other, clock=clock).status == "linked"
    assert {r.id for r in people.linked_records(hub, own)} == {contact, other}

    new = {"email": "mere@kahu.example", "mobile": "021 555 0101"}
    asked = people.edit_person(hub, own, new, clock=clock)
    assert asked.status == "needs_confirmation"
    assert {r.id for r in asked.linked} == {contact, other}
    assert _get(hub, own).data["email"] == "mere@home.example"  # nothing written yet

    no = people.edit_person(hub, own, new, copy_to_linked=False, clock=clock)
    assert no.status == "aborted" and no.changes == {}
    assert [_get(hub, r).data.get("email") for r in (own, contact, other)] == [
        "mere@home.example",
        None,
        None,
    ]

    yes = people.edit_person(hub, own, new, copy_to_linked=True, actor="alice", clock=clock)
    assert yes.status == "applied" and set(yes.changes) == {own, contact, other}
    for rid in (own, contact, other):
        data = _get(hub, rid).data
        assert (data["email"], data["mobile"]) == ("mere@kahu.example", "+64215550101")
    with hub.transaction() as conn:
        entry = records.history(conn, contact)[-1]
    assert entry.actor == "alice" and entry.changes["email"] == [None, "mere@kahu.example"]

    # Fields that are not copied, or a value the others already hold, need no question.
    assert people.edit_person(hub, contact, {"job_title": "Owner"}, clock=clock).status == (
        "applied"
    )
    assert people.edit_person(hub, other, {"email": "mere@kahu.example"}, clock=clock).changes == {}


def test_s003_03_linking_two_person_accounts_chooses_the_fixed_fields_for_all(
    hub: HubStore, clock: ManualClock
) -> None:
    company = _company(hub, clock, "Ruru Ltd", "RR01")
    first = _account(
        hub,
        clock,
        salutation="Mr",
        first_name="Hemi",
        last_name="Ruru",
        language="en",
        **{"address.postal.line1": "1 Queen St", "address.postal.city": "Auckland"},
    )
    second = _account(
        hub,
        clock,
        salutation="Dr",
        first_name="Hemi",
        middle_name="T",
        last_name="Ruru-Smith",
        language="mi",
    )
    contact = people.create_contact(
        hub, company, {"first_name": "H", "last_name": "Ruru"}, clock=clock
    )
    person_links.link_people(
        hub, second, contact, choices={"first_name": second, "last_name": second}, clock=clock
    )

    asked = person_links.link_people(hub, first, second, clock=clock)
    assert asked.status == "needs_choice"
    assert {d.group for d in asked.differences} == {"title", "last_name", "language"}
    assert _get(hub, first).data["salutation"] == "Mr"  # nothing written

    choices = {"title": second, "last_name": first, "language": second}
    done = person_links.link_people(hub, first, second, choices=choices, clock=clock)
    assert done.status == "linked"
    for rid in (first, second, contact):
        data = _get(hub, rid).data
        assert (data["salutation"], data["first_name"], data.get("middle_name")) == (
            "Dr",
            "Hemi",
            "T",
        )
        assert (data["last_name"], data["language"]) == ("Ruru", "mi")
        assert data["address.postal.line1"] == "1 Queen St"  # only one had an address
        assert data["natural_person"] == done.natural_person
    assert person_links.link_people(hub, first, contact, clock=clock).status == "already_linked"
    stranger = _account(hub, clock, salutation="Sir", first_name="Hemi")
    with pytest.raises(ValidationError, match="choose hub record") as wrong:
        person_links.link_people(hub, first, stranger, choices={"title": 999}, clock=clock)
    assert wrong.value.field == "title"


def test_s003_03_merging_two_person_accounts_repoints_links_and_loses_nothing(
    hub: HubStore, clock: ManualClock
) -> None:
    company = _company(hub, clock, "Pai Ltd", "PA01")
    survivor = _account(
        hub,
        clock,
        salutation="Ms",
        first_name="Aroha",
        last_name="Pai",
        email="aroha@pai.example",
        code="P100",
    )
    loser = _account(
        hub,
        clock,
        salutation="Mrs",
        first_name="Arohanui",
        last_name="Pai",
        initials="A.P.",
        mobile="021 555 0199",
        code="P200",
        **{"address.postal.line1": "9 Karaka Rd", "address.postal.city": "Hamilton"},
    )
    people.add_external_reference(hub, loser, "linkedin", "linkedin.com/in/aroha", clock=clock)
    linked_contact = people.create_contact(
        hub, company, {"first_name": "Arohanui", "last_name": "Pai"}, clock=clock
    )
    person_links.link_people(hub, loser, linked_contact, clock=clock)
    _link(hub, loser, "crm", "c-7", {"first_name": "Arohanui"})  # survivor not in crm: moves
    _link(hub, loser, "erp", "e-2", {"first_name": "Arohanui"})  # both in erp: loser is told
    _link(hub, survivor, "erp", "e-1", {"first_name": "Aroha"})

    preview = {d.group: d.values for d in merges.merge_preview(hub, survivor, loser)}
    assert preview["title"] == {survivor: {"salutation": "Ms"}, loser: {"salutation": "Mrs"}}

    result = merges.merge_people(
        hub, survivor, loser, {"first_name": loser, "address": loser}, actor="bob", clock=clock
    )
    assert result.repointed == ["crm:person:c-7"] and result.told == ["erp"]
    kept = _get(hub, survivor).data
    assert (kept["salutation"], kept["first_name"], kept["initials"]) == ("Ms", "Arohanui", "A.P.")
    assert kept["address.postal.city"] == "Hamilton" and kept["mobile"] == "+64215550199"
    assert kept["code"] == "P100" and kept["merged_from"] == [loser]
    assert kept["external_refs"] == [{"kind": "linkedin", "value": "linkedin.com/in/aroha"}]
    contact = _get(hub, linked_contact).data
    assert contact["address.postal.city"] == "Hamilton" and contact["salutation"] == "Ms"
    assert contact["natural_person"] == kept["natural_person"]

    gone = _get(hub, loser)
    assert gone.deleted and gone.data["merged_into"] == survivor
    assert gone.data["salutation"] == "Mrs"  # the loser's values stay on the record
    with hub.transaction() as conn:
        crm = links.by_external(conn, "crm", "person", ["c-7"])["c-7"]
        erp = links.by_external(conn, "erp", "person", ["e-1", "e-2"])
        history = records.history(conn, survivor)
        merged = people_store.merges_of(conn, survivor)
    assert crm.hub_id == survivor and erp["e-2"].hub_id == loser
    entry = next(e for e in history if "merged_from" in e.changes)
    assert entry.actor == "bob" and entry.changes["first_name"] == ["Aroha", "Arohanui"]
    assert merged[0].loser_id == loser and merged[0].choices == {
        "first_name": loser,
        "address": loser,
    }
    with pytest.raises(AccordError, match=f"no hub record {loser}"):
        merges.merge_people(hub, survivor, loser, clock=clock)


def _config(owns_codes: bool, sync: SyncMode = "two-way") -> Config:
    erp = SystemConfig(
        kind="sql",
        preset="exo",
        url="sqlite://",
        sync=sync,
        owns_codes=owns_codes,
    )
    return Config(hub=HubConfig(database="sqlite://", database_env=None), systems={"erp": erp})


def test_s003_04_an_account_code_changes_unique_unless_a_system_owns_codes(
    hub: HubStore, clock: ManualClock
) -> None:
    company = _company(hub, clock, "Moa Ltd", "M001")
    _company(hub, clock, "Kea Ltd", "K001")
    person = _account(hub, clock, first_name="Tui", last_name="Moa", code="T001")
    contact = people.create_contact(hub, company, {"first_name": "Ika"}, clock=clock)

    with pytest.raises(ValidationError, match="erp's account numbers") as owned:
        accounts.change_code(hub, _config(owns_codes=True), company, "M002", clock=clock)
    assert (owned.value.system, owned.value.field) == ("erp", "code")
    free = _config(owns_codes=False)
    assert accounts.change_code(hub, free, company, "M002", clock=clock) == {
        "code": ["M001", "M002"]
    }
    # A system with sync off owns nothing yet; a person account's code is Exo's no concern.
    accounts.change_code(hub, _config(owns_codes=True, sync="off"), company, "M003", clock=clock)
    accounts.change_code(hub, _config(owns_codes=True), person, "T002", clock=clock)
    assert _get(hub, company).data["code"] == "M003" and _get(hub, person).data["code"] == "T002"

    with pytest.raises(ValidationError, match="already used") as taken:
        accounts.change_code(hub, free, person, "k001", clock=clock)
    assert taken.value.field == "code"
    with pytest.raises(ValidationError, match="not an account"):
        accounts.change_code(hub, free, contact, "X1", clock=clock)
    with pytest.raises(ValidationError, match="cannot be empty"):
        accounts.change_code(hub, free, company, "  ", clock=clock)


def test_s003_04_merging_two_company_accounts_moves_contacts_and_retires_the_loser(
    hub: HubStore, clock: ManualClock
) -> None:
    survivor = _company(hub, clock, "Weka Trading", "W001")
    loser = create_record(
        hub,
        "company",
        {"name": "Weka Trading Ltd", "code": "W002", "phone": "09 555 0102", "tax_id": "123"},
        clock=clock,
    )
    accounts.set_account_codes(hub, loser, debtor_code="D-77", clock=clock)
    contacts = [
        people.create_contact(hub, loser, {"first_name": n, "last_name": "Weka"}, clock=clock)
        for n in ("Kiri", "Nika")
    ]
    result = merges.merge_accounts(hub, survivor, loser, {"name": loser}, clock=clock)
    assert sorted(result.contacts_moved) == contacts
    assert all(_get(hub, c).data["company"] == survivor for c in contacts)
    data = _get(hub, survivor).data
    assert (data["name"], data["code"], data["phone"], data["debtor_code"]) == (
        "Weka Trading Ltd",
        "W001",
        "+6495550102",
        "D-77",
    )
    assert _get(hub, loser).deleted
    # The loser's code and debtor code are free again.
    accounts.set_account_codes(hub, survivor, creditor_code="C-1", clock=clock)
    with pytest.raises(AccordError, match=r"no company with hub id \d+: it is a person"):
        merges.merge_accounts(hub, survivor, contacts[0], clock=clock)
    # A survivor without a code takes the merged-away account's code.
    uncoded = create_record(hub, "company", {"name": "No Code Yet"}, clock=clock)
    coded = _company(hub, clock, "Coded", "W777")
    merges.merge_accounts(hub, uncoded, coded, clock=clock)
    assert _get(hub, uncoded).data["code"] == "W777"


def test_s003_05_card_layout_per_role_hides_fields_refuses_edits_and_empty_mandatory(
    hub: HubStore, clock: ManualClock
) -> None:
    rid = _account(
        hub,
        clock,
        first_name="Pita",
        last_name="Hohepa",
        email="pita@h.example",
        code="H1",
        notes="VIP",
    )
    card_layout.save_layout(hub, "person", "*", [FieldRule("email", "edit", mandatory=True)])
    card_layout.save_layout(
        hub,
        "person",
        "editor",
        [FieldRule("code", "show", position=1), FieldRule("notes", "hidden")],
    )
    editor = card_layout.load_layout(hub, "person", "editor")
    shown = editor.visible(_get(hub, rid).data)
    assert "notes" not in shown and list(shown)[:2] == ["email", "code"]
    assert editor.mandatory() == ["email"]

    free = _config(owns_codes=False)
    with pytest.raises(FieldAccessError, match="editor role may not edit code") as refused:
        accounts.change_code(hub, free, rid, "H2", role="editor", clock=clock)
    assert refused.value.field == "code"
    with pytest.raises(FieldAccessError, match="may not edit code"):
        people.edit_person(hub, rid, {"code": "H2"}, role="editor", clock=clock)
    with pytest.raises(FieldAccessError):
        people.edit_person(hub, rid, {"notes": "x"}, role="editor", clock=clock)
    with pytest.raises(ValidationError, match="email is mandatory") as empty:
        people.edit_person(hub, rid, {"email": ""}, role="editor", clock=clock)
    assert empty.value.field == "email"
    with pytest.raises(ValidationError, match="email is mandatory"):
        people.create_person_account(hub, {"first_name": "No"}, role="editor", clock=clock)
    with pytest.raises(FieldAccessError):
        people.edit_person(hub, rid, {"first_name": "P"}, role="viewer", clock=clock)

    # The same value sent back by a form is no edit; admins edit what editors may not.
    people.edit_person(
        hub, rid, {"code": "H1", "last_name": "Hohepa-Rae"}, role="editor", clock=clock
    )
    accounts.change_code(hub, free, rid, "H2", role="admin", clock=clock)
    assert _get(hub, rid).data["code"] == "H2"
    # Codes change only through their own actions, which check them; never by an edit.
    with pytest.raises(ValidationError, match="its own action") as own_action:
        people.edit_person(hub, rid, {"debtor_code": "D1"}, role="admin", clock=clock)
    assert own_action.value.field == "debtor_code"
    with pytest.raises(ValidationError, match="hidden field cannot be mandatory"):
        card_layout.save_layout(hub, "person", "admin", [FieldRule("notes", "hidden", True)])
    card_layout.save_layout(hub, "person", "editor", [])  # reset
    assert card_layout.load_layout(hub, "person", "editor").access("notes") == "edit"


def test_s003_06_debtor_and_creditor_codes_and_external_references(
    hub: HubStore, clock: ManualClock
) -> None:
    company = _company(hub, clock, "Kauri Ltd", "KA1")
    person = _account(hub, clock, first_name="Moana", last_name="Kauri", account_type="supplier")
    contact = people.create_contact(hub, company, {"first_name": "Rangi"}, clock=clock)
    accounts.set_account_codes(hub, company, debtor_code="D100", creditor_code="C100", clock=clock)
    assert accounts.set_account_codes(hub, person, creditor_code="C200", clock=clock) == {
        "creditor_code": [None, "C200"]
    }
    with pytest.raises(ValidationError, match="already used by hub record") as taken:
        accounts.set_account_codes(hub, person, debtor_code="D100", clock=clock)
    assert taken.value.field == "debtor_code"
    with pytest.raises(ValidationError, match="not an account"):
        accounts.set_account_codes(hub, contact, debtor_code="D300", clock=clock)
    with pytest.raises(ValidationError, match="debtor code 'D100' is already used"):
        people.create_person_account(hub, {"first_name": "Dup", "debtor_code": "D100"})
    accounts.set_account_codes(hub, company, creditor_code=None, clock=clock)
    assert "creditor_code" not in {k for k, v in _get(hub, company).data.items() if v}

    people.add_external_reference(hub, person, "Skype", "moana.kauri", clock=clock)
    refs = people.add_external_reference(hub, person, "twitter", "@moanak", clock=clock)
    assert refs == [
        {"kind": "skype", "value": "moana.kauri"},
        {"kind": "twitter", "value": "@moanak"},
    ]
    with pytest.raises(ValidationError, match="unknown reference kind") as bad:
        people.add_external_reference(hub, person, "myspace", "x", clock=clock)
    assert bad.value.field == "external_refs"
    with pytest.raises(ValidationError, match="already listed"):
        people.add_external_reference(hub, person, "skype", "moana.kauri", clock=clock)
    assert people.remove_external_reference(hub, person, "skype", "moana.kauri", clock=clock) == [
        {"kind": "twitter", "value": "@moanak"}
    ]
    # The services' own fields cannot be written by a plain edit.
    with pytest.raises(AccordError, match="unknown field 'external_refs'"):
        edit_record(hub, person, {"external_refs": []}, clock=clock)
    with pytest.raises(ValidationError, match="set by its own action"):
        people.edit_person(hub, person, {"natural_person": 5}, clock=clock)


@pytest.mark.postgres
def test_s003_03_04_merges_on_postgresql(pg_schema_url: str, clock: ManualClock) -> None:
    store = HubStore(pg_schema_url)
    try:
        company = _company(store, clock, "Kereru Ltd", "KE1")
        other = _company(store, clock, "Kereru Limited", "KE2")
        contact = people.create_contact(store, other, {"first_name": "Ani"}, clock=clock)
        survivor = _account(store, clock, first_name="Ani", last_name="Kereru", code="A1")
        loser = _account(
            store, clock, first_name="Anahera", last_name="Kereru", code="A2", language="mi"
        )
        linked = person_links.link_people(
            store, loser, contact, choices={"first_name": loser}, clock=clock
        )
        assert linked.status == "linked"
        _link(store, loser, "crm", "c-1", {"first_name": "Anahera"})
        result = merges.merge_people(store, survivor, loser, {"first_name": loser}, clock=clock)
        assert result.repointed == ["crm:person:c-1"]
        assert _get(store, contact).data["first_name"] == "Anahera"
        assert _get(store, contact).data["language"] == "mi"
        accounts.set_account_codes(store, other, debtor_code="D1", clock=clock)
        moved = merges.merge_accounts(store, company, other, clock=clock)
        assert moved.contacts_moved == [contact]
        assert _get(store, company).data["debtor_code"] == "D1"
        with pytest.raises(ValidationError, match="already used"):
            accounts.change_code(store, _config(owns_codes=False), survivor, "ke1", clock=clock)
        with store.transaction() as conn:
            assert [m.loser_id for m in people_store.merges_of(conn, company)] == [other]
    finally:
        store.close()
