"""S002: customer records, through the services and the web app on a real SQLite hub."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.errors import ValidationError
from accord.service import customers, pos
from tests.web.support import WebWorld, web_world

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 32


@pytest.fixture
def web(tmp_path: Path) -> Iterator[WebWorld]:
    with web_world(tmp_path, customers=3) as world:
        yield world


def _new(web: WebWorld, **fields: object) -> int:
    return customers.create_customer(web.store, web.customer_fields(**fields), clock=web.clock)


def test_s002_01_record_has_basic_fields_and_a_unique_sequential_or_typed_account_number(
    web: WebWorld,
) -> None:
    address = {f"address.postal.line{i}": f"line {i}" for i in range(1, 5)}
    first = _new(
        web,
        company_name="Tane Hardware",
        phone="09 379 4412",
        fax="09 379 4413",
        email="ana@tane.example",
        **address,
        **{
            "address.postal.city": "Auckland",
            "address.postal.state": "AUK",
            "address.postal.postcode": "1010",
        },
    )
    second = _new(web)
    typed = _new(web, code="A-100")
    data = customers.get_customer(web.store, first).data
    assert (
        data["name"] == "Tane Hardware"
        and data["first_name"] == "Ana"
        and data["last_name"] == "Ngata"
    )
    assert [data[f"address.postal.line{i}"] for i in range(1, 5)] == [
        "line 1",
        "line 2",
        "line 3",
        "line 4",
    ]
    assert (data["fax"], data["address.postal.postcode"]) == ("+6493794413", "1010")
    codes = [customers.get_customer(web.store, i).data["code"] for i in (first, second, typed)]
    assert codes == ["1", "2", "A-100"]
    with pytest.raises(ValidationError, match="already in use") as refused:
        _new(web, code="2")
    assert refused.value.field == "code"
    _new(web, code="3")  # typed in: the sequence skips it
    assert customers.get_customer(web.store, _new(web)).data["code"] == "4"


def test_s002_02_required_fields_home_location_and_location_group(web: WebWorld) -> None:
    for missing in ("home_location", "location_group"):
        with pytest.raises(ValidationError, match="required") as refused:
            customers.create_customer(web.store, {**web.customer_fields(), missing: ""})
        assert refused.value.field == missing
    customer_id = _new(web)
    with pytest.raises(ValidationError):
        customers.update_customer(web.store, customer_id, {"location_group": ""})
    browser, csrf = web.browser("editor")
    page = browser.post(
        "/customers/new",
        data={"csrf_token": csrf, "first_name": "No", "last_name": "Home", "location_group": "All"},
    )
    assert page.status_code == 422 and "Home location is required" in page.text


def test_s002_02_location_group_decides_which_locations_see_the_customer(web: WebWorld) -> None:
    north = _new(web, last_name="North", location_group="Northland")
    south = _new(web, last_name="South", location_group="Southland")
    api = web.api("viewer")
    feed = api.get("/api/v1/changes", params={"after": 0, "location_group": "Northland"}).json()
    assert [(i["id"], i["active"]) for i in feed["items"]] == [(north, True), (south, False)]
    customers.update_customer(web.store, south, {"location_group": "Northland"}, clock=web.clock)
    customers.update_customer(web.store, north, {"location_group": "Southland"}, clock=web.clock)
    moved = api.get(
        "/api/v1/changes", params={"after": feed["next"], "location_group": "Northland"}
    ).json()
    assert [(i["id"], i["active"]) for i in moved["items"]] == [(south, True), (north, False)]


def test_s002_03_active_by_default_inactive_leaves_lookups_and_pos_feed(web: WebWorld) -> None:
    customer_id = _new(web, last_name="Leaving")
    assert customers.get_customer(web.store, customer_id).data["active"] is True
    assert customers.search_customers(web.store, "Leaving").total == 1
    items, after = pos.changes_since(web.store, 0)
    assert any(i.id == customer_id and i.active for i in items)
    customers.update_customer(web.store, customer_id, {"active": False})
    assert customers.search_customers(web.store, "Leaving").total == 0
    assert customers.search_customers(web.store, "Leaving", include_inactive=True).total == 1
    removal, _ = pos.changes_since(web.store, after)
    assert [(i.id, i.active, i.fields) for i in removal] == [(customer_id, False, {"code": "1"})]
    feed = web.api("viewer").get("/api/v1/changes", params={"after": after}).json()
    assert feed["items"][0]["active"] is False and "price_level" not in feed["items"][0]["fields"]


def test_s002_04_tax_id_price_level_discount_tax_exempt_employee(web: WebWorld) -> None:
    customer_id = _new(
        web, tax_id="123-456-789", price_level="c", discount="7.5", tax_exempt=True, employee=True
    )
    data = customers.get_customer(web.store, customer_id).data
    assert (
        data["tax_id"],
        data["price_level"],
        data["discount"],
        data["tax_exempt"],
        data["employee"],
    ) == ("123-456-789", "C", 7.5, True, True)
    with pytest.raises(ValidationError) as bad_level:
        customers.update_customer(web.store, customer_id, {"price_level": "D"})
    assert bad_level.value.field == "price_level"
    with pytest.raises(ValidationError) as bad_discount:
        customers.update_customer(web.store, customer_id, {"discount": 120})
    assert bad_discount.value.field == "discount"
    item = next(i for i in pos.changes_since(web.store, 0)[0] if i.id == customer_id)
    assert (item.fields["price_level"], item.fields["discount"], item.fields["tax_exempt"]) == (
        "C",
        7.5,
        True,
    )


def test_s002_05_sale_and_visit_counts_and_campaign_points_on_the_record(web: WebWorld) -> None:
    customer_id = _new(web)
    api = web.api()
    for number, amount, at in (
        ("S1", 20, "2026-03-01T09:00:00Z"),
        ("S2", 15.75, "2026-03-01T15:00:00Z"),
        ("S3", 40, "2026-03-04T10:00:00Z"),
    ):
        api.post(
            "/api/v1/transactions",
            json={"customer_id": customer_id, "number": number, "amount": amount, "at": at},
        )
    api.post(
        "/api/v1/transactions",
        json={
            "customer_id": customer_id,
            "number": "R1",
            "kind": "return",
            "amount": 5,
            "at": "2026-03-05T10:00:00Z",
        },
    )
    stats = customers.stats(web.store, customer_id)
    assert (stats.sales, stats.returns, stats.visits, stats.points) == (3, 1, 3, 20 + 15 + 40 - 5)
    browser, _ = web.browser("viewer")
    card = browser.get(f"/customers/{customer_id}").text
    assert re.search(r'id="stat-sales">3<', card) and re.search(r'id="stat-points">70<', card)


def test_s002_05_visits_and_the_history_go_by_the_shop_s_calendar_days(web: WebWorld) -> None:
    web.config.hub.time_zone = "Pacific/Auckland"  # UTC+13 in March
    customer_id = _new(web)
    api = web.api()
    for number, at in (
        ("A1", "2026-03-01T20:00:00Z"),  # 2 March, 09:00 in Auckland
        ("A2", "2026-03-02T01:00:00Z"),  # 2 March, 14:00: the same visit
        ("A3", "2026-03-02T23:30:00+10:00"),  # a Brisbane till: 2 March on its own clock
        ("A4", "2026-03-31T11:30:00Z"),  # 1 April, 00:30 in Auckland
    ):
        posted = api.post(
            "/api/v1/transactions",
            json={"customer_id": customer_id, "number": number, "amount": 10, "at": at},
        )
        assert posted.status_code == 201, posted.text
    assert customers.stats(web.store, customer_id).visits == 2
    march_2 = api.get(
        f"/api/v1/customers/{customer_id}/history",
        params={"start": "2026-03-02", "end": "2026-03-02"},
    ).json()
    assert [(i["number"], i["date"]) for i in march_2["items"]] == [
        ("A1", "2026-03-02"),
        ("A2", "2026-03-02"),
        ("A3", "2026-03-02"),
    ]
    everything = customers.history(web.store, customer_id)
    assert customers.monthly_totals(everything) == [("2026-03", 3000), ("2026-04", 1000)]


def test_s002_06_ar_account_type_credit_limit_and_credit_history(web: WebWorld) -> None:
    customer_id = _new(web)
    with pytest.raises(ValidationError, match="no accounts-receivable account"):
        customers.add_credit_entry(web.store, customer_id, kind="charge", amount_cents=1000)
    customers.update_customer(
        web.store, customer_id, {"ar_account_type": "open item", "credit_limit": 100}
    )
    customers.add_credit_entry(
        web.store, customer_id, kind="charge", amount_cents=8000, reference="INV-1", clock=web.clock
    )
    customers.add_credit_entry(
        web.store, customer_id, kind="payment", amount_cents=3000, clock=web.clock
    )
    customers.add_credit_entry(
        web.store,
        customer_id,
        kind="adjustment",
        amount_cents=-500,
        note="goodwill",
        clock=web.clock,
    )
    with pytest.raises(ValidationError, match="credit limit") as over:
        customers.add_credit_entry(web.store, customer_id, kind="charge", amount_cents=6000)
    assert over.value.field == "credit_limit"
    # A client retrying a charge after a lost answer sends the same reference: charged once.
    again = customers.add_credit_entry(
        web.store, customer_id, kind="charge", amount_cents=8000, reference="INV-1", clock=web.clock
    )
    assert again == customers.credit_history(web.store, customer_id)[0][-1].id
    with pytest.raises(ValidationError, match="INV-1") as reused:
        customers.add_credit_entry(
            web.store, customer_id, kind="charge", amount_cents=100, reference="INV-1"
        )
    assert reused.value.field == "reference"
    rows, balance = customers.credit_history(web.store, customer_id)
    assert balance == 4500 and sorted(r.kind for r in rows) == ["adjustment", "charge", "payment"]
    browser, _ = web.browser("viewer")
    assert 'id="balance">45.00<' in browser.get(f"/customers/{customer_id}?tab=credit").text


def test_s002_07_photo_upload_reaches_the_pos_with_the_next_sync(web: WebWorld) -> None:
    customer_id = _new(web)
    _, after = pos.changes_since(web.store, 0)
    browser, csrf = web.browser("editor")
    response = browser.post(
        f"/customers/{customer_id}/photo",
        data={"csrf_token": csrf},
        files={"photo": ("me.png", PNG, "image/png")},
    )
    assert response.status_code == 303
    items, _ = web.api("viewer").get("/api/v1/changes", params={"after": after}).json().values()
    assert [i["id"] for i in items] == [customer_id]
    photo_url = items[0]["fields"]["photo_url"]
    assert web.api("viewer").get(photo_url).content == PNG


def test_s002_08_contacts_tab_adds_and_edits_people_on_the_account(web: WebWorld) -> None:
    customer_id = _new(web)
    browser, csrf = web.browser("editor")
    browser.post(
        f"/customers/{customer_id}/contacts",
        data={
            "csrf_token": csrf,
            "first_name": "Mere",
            "last_name": "Ngata",
            "job_title": "spouse",
        },
    )
    browser.post(
        f"/customers/{customer_id}/contacts",
        data={"csrf_token": csrf, "first_name": "Tama", "job_title": "son"},
    )
    people = customers.contacts(web.store, customer_id)
    assert sorted(p.data["job_title"] for p in people) == ["son", "spouse"]
    mere = next(p for p in people if p.data["first_name"] == "Mere")
    browser.post(
        f"/customers/{customer_id}/contacts",
        data={
            "csrf_token": csrf,
            "contact_id": str(mere.id),
            "first_name": "Mere",
            "last_name": "Ngata",
            "job_title": "spouse",
            "email": "mere@example.com",
        },
    )
    assert customers.contacts(web.store, customer_id)[0].data["email"] == "mere@example.com"
    assert mere.data["company"] == customer_id and mere.data["kind"] == "contact"
    assert "mere@example.com" in browser.get(f"/customers/{customer_id}?tab=contacts").text


def test_s002_09_history_filtered_by_dates_with_a_chart(web: WebWorld) -> None:
    customer_id = _new(web)
    for number, at in (
        ("H1", "2026-01-10T10:00:00Z"),
        ("H2", "2026-02-10T10:00:00Z"),
        ("H3", "2026-04-10T10:00:00Z"),
    ):
        pos.post_transaction(
            web.store,
            customer_id=customer_id,
            number=number,
            kind="sale",
            amount=10,
            at=pos.parse_time(at),
            clock=web.clock,
        )
    everything = customers.history(web.store, customer_id)
    assert [r.number for r in everything] == ["H1", "H2", "H3"]
    assert customers.monthly_totals(everything) == [
        ("2026-01", 1000),
        ("2026-02", 1000),
        ("2026-03", 0),
        ("2026-04", 1000),
    ]
    browser, _ = web.browser("viewer")
    page = browser.get(
        f"/customers/{customer_id}",
        params={"tab": "history", "start": "2026-02-01", "end": "2026-02-28"},
    ).text
    # As table cells: a bare "H3" can turn up inside the page's random CSRF token.
    shown = {n for n in ("H1", "H2", "H3") if f"<td>{n}</td>" in page}
    assert shown == {"H2"}
    assert page.count("<rect") == 1 and "<svg" in page


def test_s002_10_orders_with_date_number_location_type_status_amount_closed(web: WebWorld) -> None:
    customer_id = _new(web)
    customers.add_order(
        web.store,
        customer_id,
        number="WO-7",
        order_type="work order",
        location="Main Street",
        amount_due_cents=12050,
        placed_at="2026-03-01T00:00:00.000000Z",
    )
    customers.add_order(
        web.store,
        customer_id,
        number="LA-2",
        order_type="layaway",
        status="completed",
        amount_due_cents=0,
        placed_at="2026-02-01T00:00:00.000000Z",
        closed_at="2026-02-20T00:00:00.000000Z",
    )
    with pytest.raises(ValidationError) as bad:
        customers.add_order(web.store, customer_id, number="X", order_type="rental")
    assert bad.value.field == "order_type"
    browser, _ = web.browser("viewer")
    page = browser.get(f"/customers/{customer_id}?tab=orders").text
    row = re.search(
        r"<tr><td>2026-03-01</td><td>WO-7</td><td>Main Street</td><td>work order</td><td>pending</td><td class=\"r\">120.50</td><td></td></tr>",
        page,
    )
    assert row, page
    assert "2026-02-20" in page


def test_s002_11_list_searches_by_name_account_number_phone_and_email(web: WebWorld) -> None:
    target = _new(
        web, last_name="Whaanga", code="77123", phone="09 412 3456", email="whaanga@shop.example"
    )
    for i in range(12):
        _new(web, last_name=f"Other{i}", phone=f"09 555 01{i:02d}", email=f"other{i}@shop.example")
    for term in ("whaanga", "WHAA", "77123", "09 412 3456", "412 3456", "whaanga@shop"):
        found = customers.search_customers(web.store, term)
        assert [r.id for r in found.items] == [target], term
    browsing = customers.search_customers(web.store, "shop.example", size=5, page=2)
    assert browsing.total == 13 and browsing.pages == 3 and len(browsing.items) == 5
    browser, _ = web.browser("viewer")
    rows = browser.get("/customers", params={"q": "412 3456"}, headers={"HX-Request": "true"}).text
    assert "Whaanga" in rows and "Other1" not in rows and "<html" not in rows
