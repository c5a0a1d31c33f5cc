"""S003 against an Exo-shaped sandbox ERP: merges reach the ERP through a sync run."""

from __future__ import annotations

from accord.service import merges, people, queries
from accord.store import bookkeeping, records
from tests.acceptance.exo_support import ExoWorld, a_plain_contact


def _plain_pair(exo: ExoWorld) -> tuple[dict[str, object], dict[str, object]]:
    """Two active, unshared contacts of one customer."""
    shared = set(exo.erp.shared_contacts())
    for accno in range(1, 13):
        plain = [
            c
            for c in exo.erp.contacts_of(accno)
            if int(str(c["SEQNO"])) not in shared and c.get("ISACTIVE") == "Y"
        ]
        if len(plain) >= 2:
            return {**plain[0], "ACCNO": accno}, {**plain[1], "ACCNO": accno}
    raise AssertionError("no customer with two plain contacts in the sandbox")


def test_s003_03_a_person_merge_reaches_the_erp_through_a_sync_run(exo: ExoWorld) -> None:
    exo.sync()
    keep, drop = _plain_pair(exo)
    survivor = exo.hub_contact(int(str(keep["SEQNO"])), int(str(keep["ACCNO"])))
    loser = exo.hub_contact(int(str(drop["SEQNO"])), int(str(drop["ACCNO"])))

    result = merges.merge_people(
        exo.store, survivor.id, loser.id, {"first_name": loser.id}, clock=exo.clock
    )
    assert result.told == ["erp"] and result.repointed == []
    exo.sync()
    kept = exo.erp.contact(int(str(keep["SEQNO"])))
    dropped = exo.erp.contact(int(str(drop["SEQNO"])))
    assert kept is not None and dropped is not None
    assert kept["FIRSTNAME"] == drop["FIRSTNAME"] and kept["ISACTIVE"] == "Y"
    assert dropped["ISACTIVE"] == "N"  # the delete policy deactivates the merged-away copy


def test_s003_03_a_merge_repoints_the_erp_link_to_the_surviving_record(exo: ExoWorld) -> None:
    exo.sync()
    contact = a_plain_contact(exo.erp)
    seqno, accno = contact["SEQNO"], contact["ACCNO"]
    loser = exo.hub_contact(seqno, accno)
    company = exo.hub_company(accno)
    before = len(exo.erp.contacts_of(accno))
    survivor = people.create_contact(
        exo.store,
        company.id,
        {"first_name": "Merged", "last_name": "Survivor", "email": "merged@example.com"},
        clock=exo.clock,
    )
    result = merges.merge_people(exo.store, survivor, loser.id, clock=exo.clock)
    assert result.repointed == [f"erp:person:{seqno}@{accno}"]
    exo.sync()
    row = exo.erp.contact(seqno)
    assert row is not None
    assert (row["FIRSTNAME"], row["LASTNAME"], row["EMAIL"], row["ISACTIVE"]) == (
        "Merged",
        "Survivor",
        "merged@example.com",
        "Y",
    )
    assert len(exo.erp.contacts_of(accno)) == before  # no second ERP contact was created
    assert queries.find_record(exo.store, f"erp:person:{seqno}@{accno}") == survivor


def test_s003_04_an_account_merge_reaches_the_erp_through_a_sync_run(exo: ExoWorld) -> None:
    exo.sync()
    survivor, loser = exo.hub_company(1), exo.hub_company(2)
    moved = len(exo.erp.contacts_of(2))
    result = merges.merge_accounts(
        exo.store, survivor.id, loser.id, {"phone": loser.id}, clock=exo.clock
    )
    assert len(result.contacts_moved) == moved
    exo.sync()
    kept, dropped = exo.erp.customer(1), exo.erp.customer(2)
    assert kept is not None and dropped is not None
    assert str(kept["PHONE"]).replace(" ", "")[-7:] == str(loser.data["phone"])[-7:]
    assert dropped["ISACTIVE"] == "N"
    # Exo files a contact under its account (DR_CONTACTS): it cannot move to another one
    # by an update, so each moved contact reports that, naming the field; nothing else fails.
    with exo.store.transaction() as conn:
        errors = bookkeeping.open_errors(conn, "erp", "person", "push")
        moved_ids = set(result.contacts_moved)
        assert {e.record_id for e in errors} == moved_ids
        assert {e.field for e in errors} == {"company"}
        assert all(records.get(conn, rid).data["company"] == survivor.id for rid in moved_ids)  # type: ignore[union-attr]
