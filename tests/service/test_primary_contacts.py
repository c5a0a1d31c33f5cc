"""One primary contact per company, whichever service writes the flag (SQLite, PostgreSQL)."""

from __future__ import annotations

from accord.clock import ManualClock
from accord.service import merges, people, queries
from accord.service.records import create_record, edit_record
from accord.store import HubStore, records


def _company(store: HubStore, code: str) -> int:
    return create_record(store, "company", {"name": f"Company {code}", "code": code})


def _contact(store: HubStore, company: int, name: str, *, primary: bool = False) -> int:
    fields = {"first_name": name, "last_name": "Tane", "is_primary": primary}
    return people.create_contact(store, company, fields)


def _primary(store: HubStore, *record_ids: int) -> list[bool]:
    with store.reading() as conn:
        found = records.get_many(conn, record_ids)
    return [found[rid].data.get("is_primary") is True for rid in record_ids]


def test_a_contact_made_primary_takes_the_flag_from_its_companys_others(
    store: HubStore, clock: ManualClock
) -> None:
    company, elsewhere = _company(store, "C1"), _company(store, "C2")
    old, new = _contact(store, company, "Aroha", primary=True), _contact(store, company, "Mere")
    other = _contact(store, elsewhere, "Hemi", primary=True)
    outcome = people.edit_person(store, new, {"is_primary": True}, actor="maria", clock=clock)
    assert outcome.status == "applied"
    assert _primary(store, old, new, other) == [False, True, True]
    _, changes = queries.history(store, old)
    assert (changes[-1].field, changes[-1].old, changes[-1].new) == ("is_primary", True, False)
    with store.reading() as conn:
        entry = records.history(conn, old)[-1]
    assert (entry.actor, entry.system, entry.changes) == (
        "maria",
        "hub",
        {"is_primary": [True, False]},
    )


def test_a_new_primary_contact_takes_the_flag(store: HubStore) -> None:
    company = _company(store, "C1")
    old = _contact(store, company, "Aroha", primary=True)
    new = _contact(store, company, "Mere", primary=True)
    assert _primary(store, old, new) == [False, True]


def test_person_accounts_without_a_company_keep_their_flags(store: HubStore) -> None:
    accounts = [
        people.create_person_account(store, {"first_name": n, "is_primary": True})
        for n in ("Aroha", "Mere")
    ]
    assert _primary(store, *accounts) == [True, True]


def test_a_contact_moved_in_with_its_flag_yields_to_the_companys_primary(
    store: HubStore,
) -> None:
    company, elsewhere = _company(store, "C1"), _company(store, "C2")
    stays = _contact(store, company, "Aroha", primary=True)
    moves = _contact(store, elsewhere, "Mere", primary=True)
    edit_record(store, moves, {"company": company})
    assert _primary(store, stays, moves) == [True, False]


def test_merging_companies_keeps_the_surviving_companys_primary_contact(
    store: HubStore,
) -> None:
    survivor, loser = _company(store, "C1"), _company(store, "C2")
    kept = _contact(store, survivor, "Aroha", primary=True)
    moved = _contact(store, loser, "Mere", primary=True)
    result = merges.merge_accounts(store, survivor, loser)
    assert result.contacts_moved == [moved]
    assert _primary(store, kept, moved) == [True, False]


def test_a_merged_primary_contact_passes_its_flag_to_the_survivor(store: HubStore) -> None:
    company = _company(store, "C1")
    loser = _contact(store, company, "Aroha", primary=True)
    survivor = people.create_contact(store, company, {"first_name": "Aroha", "last_name": "T"})
    merges.merge_people(store, survivor, loser)
    assert _primary(store, survivor, loser) == [True, False]
    with store.reading() as conn:
        gone = records.get(conn, loser)
    assert gone is not None and gone.deleted
