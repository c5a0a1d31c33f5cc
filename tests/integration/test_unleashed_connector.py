"""The Unleashed connector against the sandbox over real HTTP: signing, paging, changes,
the API's dates and error bodies, retries on every kind of fault, idempotent creates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from accord.clock import ManualClock
from accord.config import SystemConfig
from accord.connectors.base import ChangeBatch, Operation
from accord.connectors.unleashed import CONTACTS, CUSTOMERS, SALESPERSONS, UnleashedConnector
from accord.connectors.unleashed_http import RetryPolicy, api_date_ms, modified_since
from accord.connectors.unleashed_records import CUSTOMER_GUID
from accord.errors import ConfigError, PermanentError, TransientError
from accord.sandbox.unleashed import Faults, UnleashedSandbox
from accord.sandbox.unleashed_generate import generate

API_ID, API_KEY = "c3d1e0f4-7a55-4b5e-9d0e-2f7a1b9c8e61", "test-key"


@pytest.fixture
def sandbox(clock: ManualClock) -> Iterator[UnleashedSandbox]:
    with UnleashedSandbox(API_ID, API_KEY, clock=clock) as server:
        generate(server.data, customers=25, contacts=40, salespersons=3, seed=11)
        yield server


Connect = Callable[..., UnleashedConnector]


@pytest.fixture
def connect(sandbox: UnleashedSandbox) -> Iterator[Connect]:
    made: list[UnleashedConnector] = []

    def factory(api_key: str = API_KEY, **options: Any) -> UnleashedConnector:
        options.setdefault("timeout", 5.0)
        connector = UnleashedConnector("unleashed", sandbox.url, API_ID, api_key, **options)
        made.append(connector)
        return connector

    yield factory
    for connector in made:
        connector.close()


def _read(batches: Iterator[ChangeBatch]) -> tuple[list[str], str | None]:
    keys: list[str] = []
    cursor = None
    for batch in batches:
        keys += [r.key for r in batch.records]
        cursor = batch.cursor or cursor
    return keys, cursor


def test_the_api_date_format_is_read_with_or_without_an_offset() -> None:
    assert api_date_ms("/Date(1471582359667)/") == 1471582359667
    assert api_date_ms("/Date(1471582359667+1200)/") == 1471582359667
    assert api_date_ms("2016-08-19") is None and api_date_ms(None) is None
    assert modified_since(1471582359667) == "2016-08-19T04:52:39"


def test_a_wrong_key_is_refused_with_403_and_named(
    sandbox: UnleashedSandbox, connect: Connect
) -> None:
    wrong = connect(api_key="not-the-key")
    with pytest.raises(PermanentError, match="403") as refused:
        list(wrong.read_changes(CUSTOMERS, None, 10))
    assert "not-the-key" not in str(refused.value)  # the key is never shown


def test_queries_with_awkward_characters_are_signed_as_sent(
    sandbox: UnleashedSandbox, connect: Connect
) -> None:
    connector = connect()
    answer = connector.http.get(
        "/Customers",
        [("customerName", "Smith & Sons / Ltd"), ("modifiedSince", "2020-01-01T00:00:00")],
    )
    assert answer.status == 200 and answer.body["Items"] == []


def test_pages_are_read_whole_and_counted(sandbox: UnleashedSandbox, connect: Connect) -> None:
    connector = connect()
    keys, cursor = _read(connector.read_changes(CUSTOMERS, None, 10))
    assert sorted(keys) == sorted(sandbox.data.all_customer_guids()) and cursor
    # one call for the sales persons (names to Guids), three pages of customers
    assert connector.api_calls == 4 and connector.retries == 0
    contacts, _ = _read(connector.read_changes(CONTACTS, None, 10))
    assert len(contacts) == len(set(contacts)) == 40
    people, _ = _read(connector.read_changes(SALESPERSONS, None, 10))
    assert len(people) == 3


def test_only_changes_since_the_cursor_are_read(
    sandbox: UnleashedSandbox, connect: Connect, clock: ManualClock
) -> None:
    connector = connect()
    first = [r for b in connector.read_changes(CUSTOMERS, None, 100) for r in b.records]
    _, cursor = _read(connector.read_changes(CUSTOMERS, None, 100))
    versions = {r.key: r.version for r in first}
    clock.advance(timedelta(minutes=5))
    guid = first[3].key
    sandbox.data.save_customer(guid, {"PhoneNumber": "09 300 4000"})
    calls = connector.api_calls
    again = [r for b in connector.read_changes(CUSTOMERS, cursor, 100) for r in b.records]
    changed = [r for r in again if r.version != versions[r.key]]
    assert [r.key for r in changed] == [guid]
    assert changed[0].values["PhoneNumber"] == "09 300 4000"
    assert connector.api_calls == calls + 1  # one page of changes, one call
    clock.advance(timedelta(minutes=5))
    _, cursor = _read(connector.read_changes(CUSTOMERS, cursor, 100))
    # Later reads see again only what changed within the overlap before the cursor.
    assert _read(connector.read_changes(CUSTOMERS, cursor, 100))[0] == [guid]


def test_a_record_moved_by_an_edit_during_the_read_is_not_skipped(
    sandbox: UnleashedSandbox,
    connect: Connect,
) -> None:
    connector = connect()
    seen: list[str] = []
    for number, batch in enumerate(connector.read_changes(CUSTOMERS, None, 5)):
        seen += [r.key for r in batch.records]
        if number == 1:  # an edit moves a record already read to the end: pages shift
            sandbox.data.save_customer(seen[0], {"Notes": "edited while being read"})
    assert set(seen) == set(sandbox.data.all_customer_guids())


def test_a_refused_value_comes_back_with_its_field_and_reason(
    sandbox: UnleashedSandbox, connect: Connect
) -> None:
    connector = connect()
    guid = sandbox.data.all_customer_guids()[0]
    ok, refused = connector.apply(
        CUSTOMERS,
        [
            Operation("update", guid, {"CustomerName": "Renamed Ltd"}),
            Operation("update", guid, {"Website": "https://x.example.co.nz/{bad}"}),
        ],
    )
    assert ok.ok and not refused.ok
    assert refused.field == "Website" and "not a valid web address" in str(refused.error)
    assert sandbox.data.customer(guid)["CustomerName"] == "Renamed Ltd"  # type: ignore[index]


@pytest.mark.parametrize("kind", ["429", "500", "slow", "drop"])
def test_every_kind_of_fault_is_retried_with_backoff_until_it_passes(
    sandbox: UnleashedSandbox, connect: Connect, kind: str
) -> None:
    waits: list[float] = []
    sandbox.set_faults(Faults(rate=0.5, kinds=(kind,), seed=3, retry_after=2, slow_seconds=0.6))
    connector = connect(
        timeout=0.3,
        sleep=waits.append,
        retry=RetryPolicy(max_retries=8, backoff_base=0.01),
    )
    keys, _ = _read(connector.read_changes(CUSTOMERS, None, 5))
    assert sorted(keys) == sorted(sandbox.data.all_customer_guids())
    assert connector.retries == sandbox.stats.faults[kind] > 0
    assert connector.api_calls == sandbox.stats.requests
    if kind == "429":
        assert all(w >= 2 for w in waits)  # Retry-After honoured (plus jitter)
    else:
        assert all(w <= 0.01 * 2**8 for w in waits)  # bounded exponential backoff


def test_retries_are_bounded_and_a_failing_write_fails_alone(
    sandbox: UnleashedSandbox, connect: Connect
) -> None:
    sandbox.set_faults(Faults(rate=1.0, kinds=("500",)))
    connector = connect(sleep=lambda _: None, retry=RetryPolicy(max_retries=2))
    with pytest.raises(TransientError, match="gave up after 3 attempts"):
        list(connector.read_changes(CUSTOMERS, None, 10))
    assert connector.api_calls == 3 and connector.retries == 2
    (result,) = connector.apply(CUSTOMERS, [Operation("update", "x", {"Notes": "n"})])
    assert not result.ok and result.transient


def test_a_create_whose_answers_were_lost_makes_one_contact_when_retried(
    sandbox: UnleashedSandbox, connect: Connect
) -> None:
    customer = sandbox.data.all_customer_guids()[0]
    before = len(sandbox.data.contacts(customer))
    sandbox.set_faults(Faults(rate=1.0, kinds=("drop",), seed=5))
    connector = connect(sleep=lambda _: None, retry=RetryPolicy(max_retries=5))
    op = Operation(
        "create", None, {"CustomerGuid": customer, "ContactFirstName": "Once"}, marker="m-77"
    )
    lost = connector.apply(CONTACTS, [op])[0]
    # Before sending the create again, the connector looks for the contact (those reads
    # are dropped too here): the run ends with a transient error, to be retried.
    assert not lost.ok and lost.transient and sandbox.stats.faults["drop"] >= 6
    sandbox.set_faults(Faults())
    first = connector.apply(CONTACTS, [op])[0]
    second = connector.apply(CONTACTS, [op])[0]
    assert first.ok and second.ok and first.key == second.key
    names = [c["ContactFirstName"] for c in sandbox.data.contacts(customer)]
    assert names.count("Once") == 1 and len(names) == before + 1


def test_a_create_sent_again_with_new_values_leaves_one_contact_holding_them(
    sandbox: UnleashedSandbox, connect: Connect
) -> None:
    # A "send to Unleashed" whose run died after the POST, sent again after a hub edit:
    # the same Guid (from the marker) finds the contact the first made, with old values.
    connector = connect()
    customer = next(iter(sandbox.data.all_customer_guids()))
    values = {CUSTOMER_GUID: customer, "ContactFirstName": "Aroha", "ContactLastName": "Old"}
    (first,) = connector.apply(CONTACTS, [Operation("create", None, values, "m-1")])
    newer = {**values, "ContactLastName": "New", "Email": "aroha@new.example"}
    (again,) = connector.apply(CONTACTS, [Operation("create", None, newer, "m-1")])
    assert first.ok and again.ok and again.key == first.key
    (record,) = connector.read_by_keys(CONTACTS, [str(again.key)])
    assert (record.values["ContactLastName"], record.values["Email"]) == (
        "New",
        "aroha@new.example",
    )
    contacts = sandbox.data.customer(customer)["Contacts"]
    assert [c["ContactLastName"] for c in contacts if c["ContactFirstName"] == "Aroha"] == ["New"]


def test_contacts_are_updated_and_deleted_under_their_customer(
    sandbox: UnleashedSandbox, connect: Connect
) -> None:
    connector = connect()
    keys, _ = _read(connector.read_changes(CONTACTS, None, 100))
    key = keys[0]
    (updated,) = connector.apply(CONTACTS, [Operation("update", key, {"Email": "new@x.example"})])
    assert updated.ok
    (record,) = connector.read_by_keys(CONTACTS, [key])
    assert record.values["Email"] == "new@x.example"
    assert connector.apply(CONTACTS, [Operation("delete", key)])[0].ok
    assert connector.read_by_keys(CONTACTS, [key])[0].deleted
    missing = connector.apply(CONTACTS, [Operation("update", key, {"Email": "a@b.example"})])[0]
    assert not missing.ok and "not found" in str(missing.error)


def test_a_changed_customer_lists_all_its_contacts_so_a_deleted_one_is_seen(
    sandbox: UnleashedSandbox, connect: Connect, clock: ManualClock
) -> None:
    connector = connect()
    _, cursor = _read(connector.read_changes(CONTACTS, None, 100))
    customer = next(
        c
        for c in map(sandbox.data.customer, sandbox.data.all_customer_guids())
        if c is not None and len(c["Contacts"]) >= 3
    )
    guid = customer["Guid"]
    keys = [f"{c['Guid']}@{guid}" for c in customer["Contacts"]]
    clock.advance(timedelta(minutes=5))
    sandbox.data.delete_contact(guid, customer["Contacts"][0]["Guid"])
    batches = list(connector.read_changes(CONTACTS, cursor, 100))
    listed = {suffix: keys for b in batches for suffix, keys in b.listed_whole.items()}
    # Its unchanged contacts are listed, the deleted one is not (nor returned as a change).
    assert listed[f"@{guid}"] == frozenset(keys[1:])
    assert keys[0] not in [r.key for b in batches for r in b.records]
    assert connector.read_by_keys(CONTACTS, keys[:1])[0].deleted
    # Customers are not listed by group: they are read whole, one record each.
    assert all(not b.listed_whole for b in connector.read_changes(CUSTOMERS, None, 100))


def test_from_config_reads_the_id_and_key_from_options_or_the_environment(
    sandbox: UnleashedSandbox, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = SystemConfig(
        kind="unleashed",
        preset="crm-unleashed",
        url=sandbox.url,
        secrets_env={"api_key": "T_UNLEASHED_KEY", "api_id": "T_UNLEASHED_ID"},
    )
    with pytest.raises(ConfigError, match="T_UNLEASHED_ID"):
        UnleashedConnector.from_config("unleashed", system, clock)
    monkeypatch.setenv("T_UNLEASHED_ID", API_ID)
    with pytest.raises(ConfigError, match="T_UNLEASHED_KEY"):
        UnleashedConnector.from_config("unleashed", system, clock)
    monkeypatch.setenv("T_UNLEASHED_KEY", API_KEY)
    without_id = system.model_copy(update={"secrets_env": {"api_key": "T_UNLEASHED_KEY"}})
    with pytest.raises(ConfigError, match="no Unleashed API id"):
        UnleashedConnector.from_config("unleashed", without_id, clock)
    connector = UnleashedConnector.from_config("unleashed", system, clock)
    try:
        assert _read(connector.read_changes(SALESPERSONS, None, 10))[0]
    finally:
        connector.close()
