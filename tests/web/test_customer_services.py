"""Customer services on SQLite and PostgreSQL: search, point of sale, orders, credit, photos."""

from __future__ import annotations

import pytest

from accord.clock import ManualClock
from accord.errors import ValidationError
from accord.service import customers, merges, people, pos
from accord.service import records as record_service
from accord.store import HubStore
from tests.web.support import WebWorld

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_customers_arriving_by_sync_are_found_and_numbering_continues_after_theirs(
    web: WebWorld,
) -> None:
    web.api().post("/api/v1/systems/erp/sync")
    erp_names = [str(web.erp.customer(n)["NAME"]) for n in range(1, 7)]
    for name in erp_names:
        assert name in [r.name for r in customers.search_customers(web.store, name).items]
    new_id = customers.create_customer(web.store, web.customer_fields(), clock=web.clock)
    assert customers.get_customer(web.store, new_id).data["code"] == "7"  # after the ERP's 1..6


def test_deleted_and_deactivated_records_leave_the_search(web: WebWorld) -> None:
    keep = customers.create_customer(
        web.store, web.customer_fields(last_name="Stays"), clock=web.clock
    )
    gone = customers.create_customer(
        web.store, web.customer_fields(last_name="Goes"), clock=web.clock
    )
    assert customers.search_customers(web.store, "ana").total == 2
    record_service.delete_record(web.store, gone, clock=web.clock)
    assert [
        r.id for r in customers.search_customers(web.store, "ana", include_inactive=True).items
    ] == [keep]


@pytest.mark.postgres
def test_search_feed_and_numbering_on_postgresql(pg_schema_url: str, clock: ManualClock) -> None:
    store = HubStore(pg_schema_url)
    try:
        fields = {"home_location": "Main", "location_group": "All"}
        first = customers.create_customer(
            store,
            {**fields, "last_name": "Parata", "email": "p@x.example", "phone": "09 379 4412"},
            clock=clock,
        )
        second = customers.create_customer(
            store, {**fields, "company_name": "100% Wool_Co"}, clock=clock
        )
        assert [r.id for r in customers.search_customers(store, "379 4412").items] == [first]
        assert [r.id for r in customers.search_customers(store, "100% wool_").items] == [second]
        assert customers.search_customers(store, "%").total == 1  # a literal percent sign
        customers.update_customer(store, first, {"active": False}, clock=clock)
        assert customers.search_customers(store, "parata").total == 0
        items, _ = pos.changes_since(store, 0)
        assert [(i.id, i.active) for i in items] == [(second, True), (first, False)]
        assert [customers.get_customer(store, i).data["code"] for i in (first, second)] == [
            "1",
            "2",
        ]
    finally:
        store.close()


@pytest.mark.postgres
def test_transactions_orders_credit_and_photo_on_postgresql(
    pg_schema_url: str, clock: ManualClock
) -> None:
    store = HubStore(pg_schema_url)
    try:
        fields = {"home_location": "Main", "location_group": "All", "last_name": "Parata"}
        customer = customers.create_customer(
            store, {**fields, "ar_account_type": "open item"}, clock=clock
        )
        for number, kind, day in (
            ("T1", "sale", "2026-01-05"),
            ("T2", "sale", "2026-01-05"),
            ("T3", "return", "2026-02-01"),
        ):
            pos.post_transaction(
                store,
                customer_id=customer,
                number=number,
                kind=kind,
                amount=12.5,
                at=pos.parse_time(f"{day}T10:00:00Z"),
                clock=clock,
            )
        stats = customers.stats(store, customer)
        assert (stats.sales, stats.returns, stats.visits, stats.points) == (2, 1, 2, 12)
        assert customers.monthly_totals(customers.history(store, customer)) == [
            ("2026-01", 2500),
            ("2026-02", -1250),
        ]
        customers.add_order(store, customer, number="W1", order_type="work order", clock=clock)
        assert [o.number for o in customers.orders_of(store, customer)] == ["W1"]
        customers.add_credit_entry(store, customer, kind="charge", amount_cents=900, clock=clock)
        assert customers.credit_history(store, customer)[1] == 900
        url = customers.set_photo(store, customer, PNG, "image/png", clock=clock)
        assert customers.get_photo(store, customer) == (PNG, "image/png")
        assert customers.get_customer(store, customer).data["photo_url"] == url
    finally:
        store.close()


def test_the_display_name_follows_an_edit_made_while_another_was_on_its_way(
    web: WebWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = customers.create_customer(
        web.store, web.customer_fields(first_name="Ana", last_name="Ngata"), clock=web.clock
    )
    read = customers.get_customer

    def read_then_someone_edits(store: HubStore, record_id: int) -> object:
        found = read(store, record_id)
        monkeypatch.setattr(customers, "get_customer", read)  # once
        customers.update_customer(store, record_id, {"last_name": "Smith"}, clock=web.clock)
        return found

    monkeypatch.setattr(customers, "get_customer", read_then_someone_edits)
    customers.update_customer(web.store, customer, {"first_name": "Bea"}, clock=web.clock)
    data = read(web.store, customer).data
    assert (data["first_name"], data["last_name"], data["name"]) == ("Bea", "Smith", "Bea Smith")
    assert [r.id for r in customers.search_customers(web.store, "smith").items] == [customer]


def test_s003_01_people_search_finds_macrons_and_takes_percent_and_underscore_literally(
    store: HubStore, clock: ManualClock
) -> None:
    awhina = people.create_person_account(
        store, {"first_name": "Āwhina", "last_name": "Ngata"}, clock=clock
    )
    percent = people.create_person_account(
        store, {"first_name": "Tama", "last_name": "100%_Kiwi"}, clock=clock
    )
    people.create_person_account(store, {"first_name": "Hemi", "last_name": "Parata"}, clock=clock)

    def found(text: str) -> list[int]:
        return [p.id for p in people.search_people(store, text)]

    assert found("Āwhina") == found("āwhina") == found("ĀWHINA") == [awhina]
    assert found("_") == found("%") == found("0%_k") == [percent]
    assert found("a_a") == []


def test_s003_04_account_codes_differing_only_in_the_case_of_a_macron_are_one_code(
    store: HubStore, clock: ManualClock
) -> None:
    first = people.create_person_account(
        store, {"first_name": "Ani", "code": "ŌTAKI-1"}, clock=clock
    )
    with pytest.raises(ValidationError, match="already used") as taken:
        people.create_person_account(store, {"first_name": "Rua", "code": "ōtaki-1"}, clock=clock)
    assert taken.value.field == "code" and str(first) in taken.value.message


JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16
SHOP = {"home_location": "Main", "location_group": "All"}


def test_s003_04_merged_accounts_keep_one_photo_served_at_the_survivors_address(
    store: HubStore, clock: ManualClock
) -> None:
    kept, other, third = (
        customers.create_customer(store, {**SHOP, "company_name": name}, clock=clock)
        for name in ("Tui Ltd", "Tui Limited", "Tui Traders")
    )
    own = customers.set_photo(store, kept, JPEG, "image/jpeg", clock=clock)
    customers.set_photo(store, other, PNG, "image/png", clock=clock)
    # Both have a photo: the survivor keeps its own unless the loser's is chosen.
    kept_own = merges.merge_accounts(store, kept, other, clock=clock)
    assert kept_own.activity_moved["customer_photos"] == 0
    assert customers.get_customer(store, kept).data["photo_url"] == own
    assert customers.get_photo(store, kept) == (JPEG, "image/jpeg")
    customers.set_photo(store, third, PNG, "image/png", clock=clock)
    chosen = {"photo_url": third, "company_name": third}
    taken = merges.merge_accounts(store, kept, third, chosen, clock=clock)
    assert taken.activity_moved["customer_photos"] == 1
    data = customers.get_customer(store, kept).data
    assert customers.get_photo(store, kept) == (PNG, "image/png")
    assert data["photo_url"] != own and customers.photo_stored(store, kept, data["photo_url"])
    assert data["photo_url"].startswith(f"/api/v1/customers/{kept}/photo?v=")
    items, _ = pos.changes_since(store, 0)
    assert [i.fields["photo_url"] for i in items if i.id == kept] == [data["photo_url"]]
    # The company name chosen is the name shown, as after an edit.
    assert (data["company_name"], data["name"]) == ("Tui Traders", "Tui Traders")
