"""S000-02 primary-contact flag: one default contact per account, in the hub and in Exo.

Exo marks THE primary contact of an account (``DR_CONTACTS.DEFCONTACT``) and resets the
others when a new one is chosen; the hub keeps the same rule for ``is_primary``.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from accord.service import queries
from accord.service.records import create_record, edit_record
from accord.store import bookkeeping
from tests.acceptance.exo_support import ExoWorld


def _defaults(exo: ExoWorld, accno: int) -> list[int]:
    return [int(str(c["SEQNO"])) for c in exo.erp.contacts_of(accno) if c["DEFCONTACT"] == "Y"]


def _account_with_a_default(exo: ExoWorld) -> tuple[int, int, int]:
    """(account, its one default contact, another contact of it)."""
    for accno in range(1, 13):
        rows, defaults = exo.erp.contacts_of(accno), _defaults(exo, accno)
        if len(rows) >= 2 and len(defaults) == 1:
            other = next(int(str(c["SEQNO"])) for c in rows if int(str(c["SEQNO"])) != defaults[0])
            return accno, defaults[0], other
    raise AssertionError("no account with a default contact and another contact")


def _hub_primaries(exo: ExoWorld, accno: int) -> list[int]:
    seqnos = [int(str(c["SEQNO"])) for c in exo.erp.contacts_of(accno)]
    return [s for s in seqnos if exo.hub_contact(s, accno).data.get("is_primary") is True]


def _open_conflicts(exo: ExoWorld) -> list[object]:
    with exo.store.reading() as conn:
        return bookkeeping.open_conflicts(conn)


def test_s000_02_a_contact_made_primary_in_the_hub_is_the_accounts_only_default(
    exo: ExoWorld,
) -> None:
    exo.sync()
    accno, old, new = _account_with_a_default(exo)
    exo.clock.advance(timedelta(minutes=1))
    edit_record(exo.store, exo.hub_contact(new, accno).id, {"is_primary": True}, clock=exo.clock)
    assert _hub_primaries(exo, accno) == [new]
    assert exo.hub_contact(old, accno).data["is_primary"] is False
    exo.sync()
    assert _defaults(exo, accno) == [new]
    assert exo.sync().writes == 0  # settled: nothing goes back and forth


def test_s000_02_the_previous_primary_losing_the_flag_is_in_its_history(exo: ExoWorld) -> None:
    exo.sync()
    accno, old, new = _account_with_a_default(exo)
    exo.clock.advance(timedelta(minutes=1))
    edit_record(
        exo.store,
        exo.hub_contact(new, accno).id,
        {"is_primary": True},
        actor="maria",
        clock=exo.clock,
    )
    _, changes = queries.history(exo.store, exo.hub_contact(old, accno).id)
    last = changes[-1]
    assert (last.kind, last.field, last.old, last.new, last.system) == (
        "update",
        "is_primary",
        True,
        False,
        "hub",
    )
    _, promoted = queries.history(exo.store, exo.hub_contact(new, accno).id)
    assert last.at == promoted[-1].at and last.seq == promoted[-1].seq + 1


def test_s000_02_a_new_primary_contact_created_in_the_hub_takes_the_default(
    exo: ExoWorld,
) -> None:
    exo.sync()
    accno, old, _ = _account_with_a_default(exo)
    company = exo.hub_company(accno)
    create_record(
        exo.store,
        "person",
        {
            "company": company.id,
            "kind": "contact",
            "first_name": "Aroha",
            "last_name": "Ngata",
            "is_primary": True,
        },
        clock=exo.clock,
    )
    assert exo.hub_contact(old, accno).data["is_primary"] is False
    exo.sync()
    defaults = _defaults(exo, accno)
    assert len(defaults) == 1 and defaults != [old]
    assert exo.erp.contact(defaults[0])["FIRSTNAME"] == "Aroha"  # type: ignore[index]


def test_s000_02_person_accounts_without_a_company_each_keep_their_flag(exo: ExoWorld) -> None:
    ids = [
        create_record(
            exo.store,
            "person",
            {"kind": "account", "first_name": name, "last_name": "Solo", "is_primary": True},
            clock=exo.clock,
        )
        for name in ("Hemi", "Tui")
    ]
    for record_id in ids:
        record, _ = queries.history(exo.store, record_id)
        assert record.data["is_primary"] is True


def test_s000_02_a_default_contact_moved_in_the_erp_moves_in_the_hub(exo: ExoWorld) -> None:
    exo.sync()
    accno, old, new = _account_with_a_default(exo)
    exo.clock.advance(timedelta(minutes=5))
    exo.erp.set_default_contact(accno, new)
    exo.sync()
    assert exo.hub_contact(old, accno).data["is_primary"] is False
    assert _hub_primaries(exo, accno) == [new]
    assert _defaults(exo, accno) == [new]
    assert _open_conflicts(exo) == []
    assert exo.sync().writes == 0  # no flip-flop


def test_s000_02_of_two_defaults_the_erp_sends_the_newest_wins_on_both_sides(
    exo: ExoWorld,
) -> None:
    # Exo's screens keep one default per account, but a bulk fix in SQL (or another
    # system allowing several primaries) can send two: the one made primary last wins.
    exo.sync()
    accno, old, new = _account_with_a_default(exo)
    exo.clock.advance(timedelta(minutes=5))
    with exo.erp.engine.begin() as conn:
        conn.execute(
            text("UPDATE DR_CONTACTS SET DEFCONTACT = 'Y' WHERE ACCNO = :a AND CONTACT_SEQNO = :s"),
            {"a": accno, "s": new},
        )
    exo.erp.update_contact(new, LAST_UPDATED=exo.clock.now())  # saved: the stamp moves
    assert sorted(_defaults(exo, accno)) == sorted([old, new])
    # The dry run shows the flag the hub takes from the old default, and what goes out.
    planned = [
        (c.direction, c.fields) for c in exo.plan().changes if c.reason.startswith("another")
    ]
    assert planned == [("hub", (("is_primary", True, False),))]
    exo.sync()
    assert _hub_primaries(exo, accno) == [new]
    assert _defaults(exo, accno) == [new]
    assert _open_conflicts(exo) == []
    assert exo.sync().writes == 0


def test_s000_02_a_default_contact_merged_into_its_duplicate_hands_the_default_over(
    exo: ExoWorld,
) -> None:
    """Two contacts of one account are the same person; the default one is merged away.
    The survivor becomes the default, and the merged-away ERP contact is deactivated and
    no longer the default (Exo would otherwise keep an inactive default contact)."""
    from accord.service.merges import merge_people

    exo.sync()
    accno, default, duplicate = _account_with_a_default(exo)
    exo.clock.advance(timedelta(minutes=1))
    loser, survivor = exo.hub_contact(default, accno).id, exo.hub_contact(duplicate, accno).id
    merge_people(exo.store, survivor, loser, clock=exo.clock)
    assert _hub_primaries(exo, accno) == [duplicate]
    exo.sync()
    assert _defaults(exo, accno) == [duplicate]
    merged = exo.erp.contact(default)
    assert merged is not None and merged["ISACTIVE"] == "N"
    assert exo.sync().writes == 0
