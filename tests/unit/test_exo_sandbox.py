"""The Exo-shaped sandbox: generated data has the promised shape, the editor edits like Exo."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Engine, String, func, select

from accord.clock import ManualClock
from accord.sandbox.exo import (
    CONTACTS,
    DR_ACCS,
    DR_CONTACTS,
    STAFF,
    ExoEditor,
    ExoSandboxStats,
    generate,
    metadata,
)
from accord.store.database import make_system_engine

START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
NAIVE_START = START.replace(tzinfo=None)


def _generate(url: str, seed: int = 3, **options: Any) -> ExoSandboxStats:
    sizes: dict[str, Any] = {"customers": 300, "contacts": 800, **options}
    return generate(url, seed=seed, clock=ManualClock(START), **sizes)


@pytest.fixture
def erp(tmp_path: Path) -> tuple[str, ExoSandboxStats]:
    url = f"sqlite:///{tmp_path / 'erp.db'}"
    return url, _generate(url)


@pytest.fixture
def engine(erp: tuple[str, ExoSandboxStats]) -> Iterator[Engine]:
    engine = make_system_engine(erp[0])
    yield engine
    engine.dispose()


@pytest.fixture
def editor(erp: tuple[str, ExoSandboxStats]) -> Iterator[ExoEditor]:
    editor = ExoEditor(erp[0], clock=ManualClock(START + timedelta(hours=1)))
    yield editor
    editor.close()


def _all(engine: Engine, table: Any) -> list[dict[str, Any]]:
    key = table.primary_key.columns.values()[0]
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table).order_by(key))]


def _is_email(value: str) -> bool:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _name_key(row: dict[str, Any]) -> tuple[str, str]:
    return (
        " ".join(row["FIRSTNAME"].split()).casefold(),
        " ".join(row["LASTNAME"].split()).casefold(),
    )


def test_counts_match_stats(erp: tuple[str, ExoSandboxStats], engine: Engine) -> None:
    _, stats = erp
    assert (stats.customers, stats.contacts, stats.salespersons) == (300, 800, 12)
    with engine.connect() as conn:
        counts = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (STAFF, DR_ACCS, CONTACTS, DR_CONTACTS)
        }
    assert counts == {"STAFF": 12, "DR_ACCS": 300, "CONTACTS": 800, "DR_CONTACTS": stats.links}
    assert stats.links > stats.contacts  # shared contacts add links


def test_each_customer_has_own_contacts_and_one_default(engine: Engine) -> None:
    links = _all(engine, DR_CONTACTS)
    contacts = {c["SEQNO"]: c for c in _all(engine, CONTACTS)}
    own = Counter(c["COMPANY_ACCNO"] for c in contacts.values())
    assert set(own) == set(range(1, 301))
    assert all(1 <= n <= 5 for n in own.values())
    defaults = Counter(link["ACCNO"] for link in links if link["DEFCONTACT"] == "Y")
    assert set(defaults.values()) == {1} and len(defaults) == 300
    pairs = {(link["ACCNO"], link["CONTACT_SEQNO"]) for link in links}
    assert len(pairs) == len(links)
    assert all((c["COMPANY_ACCNO"], seqno) in pairs for seqno, c in contacts.items())
    for link in links:  # the copies match the contact
        contact = contacts[link["CONTACT_SEQNO"]]
        assert [link[k] for k in ("FIRSTNAME", "LASTNAME", "DIRECTPHONE")] == [
            contact[k] for k in ("FIRSTNAME", "LASTNAME", "DIRECTPHONE")
        ]


def test_shared_contacts_are_linked_to_several_accounts(
    erp: tuple[str, ExoSandboxStats], editor: ExoEditor
) -> None:
    shared = editor.shared_contacts()
    assert len(shared) == erp[1].shared_contacts > 0
    for seqno in shared:
        accounts = editor.accounts_of(seqno)
        assert 2 <= len(accounts) <= 3
        assert all(seqno in {c["SEQNO"] for c in editor.contacts_of(a)} for a in accounts)


def test_duplicate_name_pairs_differ_only_in_case_or_spaces(
    erp: tuple[str, ExoSandboxStats], engine: Engine
) -> None:
    contacts = {c["SEQNO"]: c for c in _all(engine, CONTACTS)}
    by_account: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for link in _all(engine, DR_CONTACTS):
        by_account[link["ACCNO"]].append(contacts[link["CONTACT_SEQNO"]])
    clashes = []
    for rows in by_account.values():
        seen = Counter(_name_key(row) for row in rows)
        clashes += [[r for r in rows if _name_key(r) == key] for key, n in seen.items() if n > 1]
    assert len(clashes) == erp[1].duplicate_name_pairs > 0
    for a, b in clashes:
        assert (a["FIRSTNAME"], a["LASTNAME"]) != (b["FIRSTNAME"], b["LASTNAME"])


def test_exactly_one_invalid_email(engine: Engine) -> None:
    emails = [c["EMAIL"] for c in _all(engine, CONTACTS) if c["EMAIL"]]
    assert len([e for e in emails if not _is_email(e)]) == 1
    assert all(_is_email(c["EMAIL"]) for c in _all(engine, DR_ACCS) if c["EMAIL"])


def test_invalid_email_count_follows_the_option(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'erp.db'}"
    stats = _generate(url, invalid_emails=4)
    engine = make_system_engine(url)
    try:
        emails = [c["EMAIL"] for c in _all(engine, CONTACTS) if c["EMAIL"]]
    finally:
        engine.dispose()
    assert stats.invalid_emails == len([e for e in emails if not _is_email(e)]) == 4


def test_every_string_fits_its_column(engine: Engine) -> None:
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for column in table.columns:
                if isinstance(column.type, String) and column.type.length:
                    longest = conn.execute(select(func.max(func.length(column)))).scalar()
                    assert (longest or 0) <= column.type.length, f"{table.name}.{column.name}"


def test_realistic_values(engine: Engine) -> None:
    customers, contacts = _all(engine, DR_ACCS), _all(engine, CONTACTS)
    assert sum(c["SALESNO"] is not None for c in customers) > 0.8 * len(customers)
    assert any(c["ISACTIVE"] == "N" for c in contacts)
    assert all(c["ISACTIVE"] in ("Y", "N") for c in contacts + customers)
    assert any((c["WEBSITE"] or "").startswith("www.") for c in customers)
    assert any(not c["WEBSITE"] for c in customers)
    for row in customers + contacts:
        stamp = row["LAST_UPDATED"]
        assert stamp.tzinfo is None
        assert NAIVE_START - timedelta(days=30) <= stamp <= NAIVE_START
    assert all(c["BALANCE"] == sum(c[f"AGEDBAL{i}"] for i in range(4)) for c in customers)


def test_same_seed_same_data(tmp_path: Path) -> None:
    def dump(name: str, seed: int) -> list[list[dict[str, Any]]]:
        url = f"sqlite:///{tmp_path / name}"
        _generate(url, seed=seed, customers=120, contacts=300)
        engine = make_system_engine(url)
        try:
            return [_all(engine, t) for t in (STAFF, DR_ACCS, CONTACTS, DR_CONTACTS)]
        finally:
            engine.dispose()

    assert dump("a.db", 11) == dump("b.db", 11)
    assert dump("c.db", 12) != dump("d.db", 11)


def test_editor_update_contact_stamps_and_refreshes_copies(editor: ExoEditor) -> None:
    seqno = editor.shared_contacts()[0]
    before = editor.contact(seqno)
    assert before is not None
    editor.update_contact(seqno, FIRSTNAME="Ngaire", directphone="09 555 0101")
    after = editor.contact(seqno)
    assert after is not None
    assert after["FIRSTNAME"] == "Ngaire" and after["DIRECTPHONE"] == "09 555 0101"
    assert after["LAST_UPDATED"] == NAIVE_START + timedelta(hours=1) != before["LAST_UPDATED"]
    for accno in editor.accounts_of(seqno):
        copy = next(c for c in editor.contacts_of(accno) if c["SEQNO"] == seqno)
        assert copy["FIRSTNAME"] == "Ngaire"
    engine = editor.engine
    with engine.connect() as conn:
        copies = conn.execute(
            select(DR_CONTACTS.c["FIRSTNAME"], DR_CONTACTS.c["DIRECTPHONE"]).where(
                DR_CONTACTS.c["CONTACT_SEQNO"] == seqno
            )
        ).all()
    assert len(copies) >= 2 and set(copies) == {("Ngaire", "09 555 0101")}


def test_editor_refuses_bad_edits(editor: ExoEditor) -> None:
    with pytest.raises(ValueError, match="30 characters"):
        editor.update_contact(1, FIRSTNAME="x" * 31)
    with pytest.raises(ValueError, match="DEPARTMENT"):
        editor.update_contact(1, DEPARTMENT="Logistics")
    with pytest.raises(KeyError):
        editor.update_contact(99_999, FIRSTNAME="Nobody")


def test_editor_update_customer_and_deactivate(editor: ExoEditor) -> None:
    editor.update_customer(5, PHONE="(04) 555 0192")
    customer = editor.customer(5)
    assert customer is not None and customer["PHONE"] == "(04) 555 0192"
    assert customer["LAST_UPDATED"] == NAIVE_START + timedelta(hours=1)
    editor.deactivate_contact(2)
    contact = editor.contact(2)
    assert contact is not None and contact["ISACTIVE"] == "N"
    assert contact["LAST_UPDATED"] == NAIVE_START + timedelta(hours=1)


def test_delete_contact_removes_links(editor: ExoEditor) -> None:
    seqno = editor.shared_contacts()[0]
    accounts = editor.accounts_of(seqno)
    editor.delete_contact(seqno)
    assert editor.contact(seqno) is None
    assert editor.accounts_of(seqno) == []
    assert seqno not in editor.shared_contacts()
    for accno in accounts:
        assert seqno not in {c["SEQNO"] for c in editor.contacts_of(accno)}
        customer = editor.customer(accno)
        assert customer is not None and customer["STATEMENT_CONTACT_SEQNO"] != seqno
    with pytest.raises(KeyError):
        editor.delete_contact(seqno)


def test_add_contact_and_move_the_default(editor: ExoEditor) -> None:
    before = editor.contacts_of(7)
    seqno = editor.add_contact(7, FIRSTNAME="Aroha", LASTNAME="Ngata", EMAIL="aroha@example.co.nz")
    assert seqno > 800
    after = editor.contacts_of(7)
    assert len(after) == len(before) + 1
    added = next(c for c in after if c["SEQNO"] == seqno)
    assert added["DEFCONTACT"] == "N" and added["COMPANY_ACCNO"] == 7 and added["ISACTIVE"] == "Y"
    editor.set_default_contact(7, seqno)
    defaults = [c["SEQNO"] for c in editor.contacts_of(7) if c["DEFCONTACT"] == "Y"]
    assert defaults == [seqno]
    primary = editor.add_contact(7, FIRSTNAME="Hemi", LASTNAME="Parata", DEFCONTACT="Y")
    defaults = [c["SEQNO"] for c in editor.contacts_of(7) if c["DEFCONTACT"] == "Y"]
    assert defaults == [primary]
    editor.link_contact(primary, 8)
    assert editor.accounts_of(primary) == [7, 8]
    with pytest.raises(KeyError):
        editor.add_contact(99_999, FIRSTNAME="Nobody")


def test_generate_into_an_engine_leaves_it_open_and_refuses_a_second_fill(tmp_path: Path) -> None:
    engine = make_system_engine(f"sqlite:///{tmp_path / 'erp.db'}")
    try:
        stats = generate(engine, customers=10, contacts=10, clock=ManualClock(START))
        assert stats.customers == stats.contacts == 10
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(DR_ACCS)).scalar_one() == 10
        with pytest.raises(ValueError, match="already holds rows"):
            generate(engine, customers=10, contacts=10)
    finally:
        engine.dispose()


def test_sizes_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="5 contacts"):
        generate(f"sqlite:///{tmp_path / 'erp.db'}", customers=2, contacts=11)


def test_default_size_is_the_demo_size(tmp_path: Path) -> None:
    stats = generate(f"sqlite:///{tmp_path / 'erp.db'}")
    assert (stats.customers, stats.contacts) == (2000, 5000)


@pytest.mark.postgres
def test_postgres_keys_continue_after_generation(pg_schema_url: str) -> None:
    _generate(pg_schema_url, customers=20, contacts=40)
    editor = ExoEditor(pg_schema_url, clock=ManualClock(START))
    try:
        seqno = editor.add_contact(3, FIRSTNAME="Mere", LASTNAME="Henare")
        assert seqno == 41
        contact = editor.contact(seqno)
        assert contact is not None and contact["LAST_UPDATED"] == NAIVE_START
    finally:
        editor.close()
