"""The server-rendered pages and their forms, through the real app."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from accord.config import SystemConfig
from accord.service import card_layout, customers, queries
from tests.web.support import WebWorld, form_fields, held_email_conflict, web_world

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _customer(web: WebWorld, **fields: object) -> int:
    return customers.create_customer(web.store, web.customer_fields(**fields), clock=web.clock)


def test_every_main_page_renders_for_a_viewer_without_edit_controls(web: WebWorld) -> None:
    customer_id = _customer(web)
    browser, _ = web.browser("viewer")
    for path in (
        "/customers",
        f"/customers/{customer_id}",
        "/monitor",
        "/settings",
        f"/records/{customer_id}/history",
    ):
        response = browser.get(path)
        assert response.status_code == 200, path
        assert "Save</button>" not in response.text and "Sync now" not in response.text, path
        assert "Dry-run plan" not in response.text, path
    assert browser.get("/customers/new").status_code == 403
    # A dry run reads the whole remote system and spends its API budget: editors only.
    assert browser.get("/monitor/plan/erp").status_code == 403
    editor, _ = web.browser("editor")
    assert editor.get("/monitor/plan/erp").status_code == 200


def test_a_bad_address_gets_a_page_saying_what_is_wrong_not_json(web: WebWorld) -> None:
    for number in range(30):  # two pages of 25
        _customer(web, last_name=f"Ngata{number:02}")
    browser, _ = web.browser("editor")
    for path, problem in (
        ("/customers?page=abc", "page: Input should be a valid integer"),
        ("/merge", "survivor: missing; loser: missing"),
    ):
        response = browser.get(path)
        assert response.status_code == 422, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert problem in response.text and '"detail"' not in response.text, path
    # Past the last page: the last page.
    assert "Page 2 of 2" in browser.get("/customers?page=99").text
    # The API keeps answering in JSON.
    assert "detail" in web.api().get("/api/v1/customers?page=abc").json()


def test_invalid_input_on_the_card_names_the_field_and_keeps_the_values(web: WebWorld) -> None:
    customer_id = _customer(web)
    browser, csrf = web.browser("editor")
    form = {
        **web.customer_fields(),
        "csrf_token": csrf,
        "email": "not an email",
        "active": "on",
        "price_level": "A",
    }
    response = browser.post(f"/customers/{customer_id}", data=form)
    assert response.status_code == 422
    assert "(field: email)" in response.text and 'value="not an email"' in response.text
    assert customers.get_customer(web.store, customer_id).data.get("email") is None


def test_s003_05_the_customer_card_follows_the_company_card_layout(web: WebWorld) -> None:
    customer_id = _customer(web, credit_limit=250, tax_id="GST 123-456-789")
    card_layout.save_layout(
        web.store,
        "company",
        "editor",
        [
            card_layout.FieldRule("tax_id", "hidden"),
            card_layout.FieldRule("credit_limit", "show"),
            card_layout.FieldRule("active", "show"),
        ],
    )
    browser, csrf = web.browser("editor")
    page = browser.get(f"/customers/{customer_id}").text
    assert "GST 123-456-789" not in page and 'id="f-tax_id"' not in page
    assert re.search(r'<input id="f-credit_limit"[^>]*readonly', page)
    assert re.search(r'<input type="checkbox" name="active"[^>]*disabled', page)
    # Saving the card as the browser sends it (no "active": a disabled box is not sent)
    # changes what the editor may change and leaves the rest.
    form = {
        **web.customer_fields(),
        "csrf_token": csrf,
        "credit_limit": "250",
        "phone": "09 555 0100",
    }
    saved = browser.post(f"/customers/{customer_id}", data=form)
    assert saved.status_code == 303, saved.text
    data = customers.get_customer(web.store, customer_id).data
    assert (
        data["active"] is True
        and data["tax_id"] == "GST 123-456-789"
        and data["credit_limit"] == 250
    )
    assert data["phone"] == "+6495550100"
    refused = browser.post(f"/customers/{customer_id}", data={**form, "credit_limit": "9999"})
    assert refused.status_code == 403 and "credit_limit" in refused.text


def test_s003_05_the_customer_list_leaves_out_columns_the_company_card_hides(
    web: WebWorld,
) -> None:
    _customer(web, email="secret@shop.example", phone="09 555 0100")
    hidden = [card_layout.FieldRule("email", "hidden"), card_layout.FieldRule("phone", "hidden")]
    card_layout.save_layout(web.store, "company", "viewer", hidden)
    viewer, _ = web.browser("viewer")
    for headers in ({}, {"HX-Request": "true"}):  # the page and its live-search rows
        page = viewer.get("/customers", params={"q": "ngata"}, headers=headers).text
        assert "Ngata" in page and "secret@shop.example" not in page and "5550100" not in page
    admin, _ = web.browser("admin")
    page = admin.get("/customers", params={"q": "ngata"}).text
    assert "secret@shop.example" in page and "+6495550100" in page


def test_s003_05_the_contacts_tab_follows_the_person_card_layout(web: WebWorld) -> None:
    customer_id = _customer(web)
    contact = customers.add_contact(
        web.store,
        customer_id,
        {"first_name": "Rua", "email": "rua@k.example", "notes": "buys on Fridays"},
        clock=web.clock,
    )
    card_layout.save_layout(
        web.store, "person", "viewer", [card_layout.FieldRule("email", "hidden")]
    )
    card_layout.save_layout(
        web.store,
        "person",
        "editor",
        [card_layout.FieldRule("email", "hidden"), card_layout.FieldRule("notes", "show")],
    )
    viewer, _ = web.browser("viewer")
    page = viewer.get(f"/customers/{customer_id}?tab=contacts").text
    assert "Rua" in page and "rua@k.example" not in page and '<th scope="col">Email' not in page
    editor, csrf = web.browser("editor")
    page = editor.get(f"/customers/{customer_id}?tab=contacts").text
    assert "rua@k.example" not in page and "buys on Fridays" in page
    # Only the fields the editor may change are offered: a form sending the others would
    # be refused.
    assert 'id="c-email"' not in page and 'id="c-notes"' not in page and 'id="c-phone"' in page
    form = {"csrf_token": csrf, "contact_id": str(contact), "first_name": "Rua", "phone": ""}
    saved = editor.post(f"/customers/{customer_id}/contacts", data=form)
    assert saved.status_code == 303, saved.text
    admin, _ = web.browser("admin")
    page = admin.get(f"/customers/{customer_id}?tab=contacts").text
    assert "rua@k.example" in page and 'id="c-email"' in page


def test_s003_05_the_monitor_keeps_to_the_card_layout_for_held_conflicts(tmp_path: Path) -> None:
    with web_world(tmp_path, conflict="hold") as world:
        record, conflict = held_email_conflict(world)
        card_layout.save_layout(
            world.store, "company", "viewer", [card_layout.FieldRule("email", "hidden")]
        )
        card_layout.save_layout(
            world.store, "company", "editor", [card_layout.FieldRule("email", "show")]
        )
        viewer, _ = world.browser("viewer")
        for path in ("/monitor", f"/customers/{record}?tab=sync", f"/records/{record}/history"):
            page = viewer.get(path).text
            assert "shop.example" not in page, path
        assert "Held conflicts (1)" in viewer.get("/monitor").text
        editor, csrf = world.browser("editor")
        assert "erp@shop.example" in editor.get("/monitor").text
        taking = editor.post(
            f"/monitor/conflicts/{conflict}", data={"csrf_token": csrf, "winner": "system"}
        )
        assert taking.status_code == 403 and "email" in taking.text
        assert customers.get_customer(world.store, record).data["email"] == "hub@shop.example"
        # Keeping the hub's value decides the field too (it is sent over the ERP's).
        keeping = editor.post(
            f"/monitor/conflicts/{conflict}", data={"csrf_token": csrf, "winner": "hub"}
        )
        assert keeping.status_code == 403 and len(queries.open_conflicts(world.store)) == 1
        admin, admin_csrf = world.browser("admin")
        keeping = admin.post(
            f"/monitor/conflicts/{conflict}", data={"csrf_token": admin_csrf, "winner": "hub"}
        )
        assert keeping.status_code == 303 and queries.open_conflicts(world.store) == []


def test_s003_05_the_card_s_code_photo_and_credit_follow_the_company_card_layout(
    web: WebWorld,
) -> None:
    customer_id = _customer(web, code="C-77", ar_account_type="balance forward", credit_limit=250)
    customers.set_photo(web.store, customer_id, PNG, "image/png", clock=web.clock)
    card_layout.save_layout(
        web.store,
        "company",
        "viewer",
        [
            card_layout.FieldRule(name, "hidden")
            for name in ("code", "photo_url", "credit_limit", "ar_account_type")
        ],
    )
    viewer, _ = web.browser("viewer")
    page = viewer.get(f"/customers/{customer_id}").text
    assert "C-77" not in page and 'class="photo"' not in page
    assert viewer.get(f"/customers/{customer_id}/photo").status_code == 404
    credit = viewer.get(f"/customers/{customer_id}?tab=credit").text
    assert "balance forward" not in credit and "250" not in credit and 'id="balance"' in credit
    admin, _ = web.browser("admin")
    page = admin.get(f"/customers/{customer_id}").text
    assert "C-77" in page and 'class="photo"' in page
    assert admin.get(f"/customers/{customer_id}/photo").content == PNG
    assert "balance forward" in admin.get(f"/customers/{customer_id}?tab=credit").text


def test_orders_and_credit_entries_are_added_on_their_tabs(web: WebWorld) -> None:
    customer_id = _customer(web, ar_account_type="balance forward", credit_limit=100)
    browser, csrf = web.browser("editor")
    added = browser.post(
        f"/customers/{customer_id}/orders",
        data={
            "csrf_token": csrf,
            "number": "SO-1",
            "order_type": "special order",
            "amount_due": "12.5",
        },
    )
    assert added.status_code == 303
    assert [o.number for o in customers.orders_of(web.store, customer_id)] == ["SO-1"]
    over = browser.post(
        f"/customers/{customer_id}/credit",
        data={"csrf_token": csrf, "kind": "charge", "amount": "150"},
    )
    assert over.status_code == 422 and "credit limit" in over.text
    browser.post(
        f"/customers/{customer_id}/credit",
        data={"csrf_token": csrf, "kind": "charge", "amount": "60"},
    )
    assert customers.credit_history(web.store, customer_id)[1] == 6000


def test_restore_a_value_from_the_field_history_page(web: WebWorld) -> None:
    customer_id = _customer(web, last_name="First")
    customers.update_customer(web.store, customer_id, {"last_name": "Second"}, clock=web.clock)
    browser, csrf = web.browser("editor")
    page = browser.get(f"/records/{customer_id}/history").text
    seq = re.search(
        r'name="seq" value="(\d+)"><input type="hidden" name="field" value="last_name"', page
    )
    assert seq, page
    browser.post(
        f"/records/{customer_id}/restore",
        data={"csrf_token": csrf, "seq": seq.group(1), "field": "last_name"},
    )
    assert customers.get_customer(web.store, customer_id).data["last_name"] == "First"


def test_times_on_the_pages_are_on_the_business_s_clock(web: WebWorld) -> None:
    web.config.hub.time_zone = "Pacific/Auckland"
    web.clock.set(datetime(2026, 1, 2, 23, 30, tzinfo=UTC))  # 12:30 on 3 January there
    customer_id = _customer(web, last_name="First")
    customers.add_order(
        web.store, customer_id, number="W-1", order_type="layaway", placed_at="2026-01-02T23:40:00Z"
    )
    browser, _ = web.browser("viewer")
    history = browser.get(f"/records/{customer_id}/history").text
    assert "2026-01-03 12:30" in history and "2026-01-02 23:30" not in history
    assert "Times shown in Pacific/Auckland time." in history
    orders = browser.get(f"/customers/{customer_id}?tab=orders").text
    assert "<td>2026-01-03</td><td>W-1</td>" in orders, orders


def test_sync_now_and_retry_from_the_monitor(web: WebWorld) -> None:
    browser, csrf = web.browser("editor")
    done = browser.post("/monitor/sync/erp", data={"csrf_token": csrf}, follow_redirects=True)
    assert "Sync of erp done" in done.text
    error = queries.open_errors(web.store)[0]  # the sandbox's malformed email
    retried = browser.post(
        f"/monitor/errors/{error.id}/retry", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert f"Error {error.id} is still open after the retry." in retried.text


def test_admin_turns_a_systems_switches_on_the_settings_page(web: WebWorld) -> None:
    web.config.systems["crm"] = SystemConfig(
        kind="unleashed", preset="crm-unleashed", owns_codes=False, options={"address_sync": False}
    )
    browser, csrf = web.browser("admin")
    page = browser.get("/settings").text
    for switch in (
        "address_sync",
        "account_manager_sync",
        "nightly_account_manager_fix",
        "sync_enabled",
    ):
        assert f'name="option.{switch}"' in page
    saved = browser.post(
        "/settings/systems/crm",
        data={
            "csrf_token": csrf,
            "sync": "import",
            "option.address_sync": "on",
            "option.sync_enabled": "on",
            "push": "10m",
            "pull": "1h",
        },
    )
    assert saved.status_code == 303
    crm = web.config.systems["crm"]
    assert (crm.sync, crm.options["address_sync"], crm.schedule.push) == ("import", True, "10m")
    bad = browser.post(
        "/settings/systems/crm", data={"csrf_token": csrf, "sync": "import", "push": "often"}
    )
    assert bad.status_code == 422 and web.config.systems["crm"].schedule.push == "10m"


def test_s002_saving_the_card_keeps_what_others_changed_since_it_was_opened(
    web: WebWorld,
) -> None:
    api = web.api("admin")
    fields = web.customer_fields(phone="09 300 0001", employee=True)
    customer_id = api.post("/api/v1/customers", json={"fields": fields}).json()["id"]
    browser, _ = web.browser("editor")
    action = f"/customers/{customer_id}"
    form = form_fields(browser.get(action).text, action)
    # Meanwhile a colleague changes the phone and ticks "tax exempt".
    changed = {"phone": "09 300 0002", "tax_exempt": True}
    assert api.patch(f"/api/v1/customers/{customer_id}", json={"fields": changed}).is_success
    # The user changes the email and unticks "employee" (an unticked box posts nothing).
    form["email"] = "ana@ngata.example"
    del form["employee"]
    saved = browser.post(action, data=form)
    assert saved.status_code == 303, saved.text
    data = customers.get_customer(web.store, customer_id).data
    assert (data["email"], data["employee"]) == ("ana@ngata.example", False)
    assert (data["phone"], data["tax_exempt"], data["active"]) == ("+6493000002", True, True)


def test_s002_a_save_refused_and_shown_again_still_keeps_what_others_changed(
    web: WebWorld,
) -> None:
    customer_id = _customer(web, phone="09 300 0001")
    browser, _ = web.browser("editor")
    action = f"/customers/{customer_id}"
    form = form_fields(browser.get(action).text, action)
    customers.update_customer(web.store, customer_id, {"phone": "09 300 0002"}, clock=web.clock)
    refused = browser.post(action, data={**form, "email": "not an email", "fax": "09 300 0009"})
    assert refused.status_code == 422 and "(field: email)" in refused.text
    # Shown again with what the user typed; corrected and saved, the new phone stays.
    again = form_fields(refused.text, action)
    assert (again["email"], again["fax"], again["phone"]) == (
        "not an email",
        "09 300 0009",
        "+6493000001",
    )
    assert browser.post(action, data={**again, "email": "ana@ngata.example"}).status_code == 303
    data = customers.get_customer(web.store, customer_id).data
    assert (data["email"], data["fax"], data["phone"]) == (
        "ana@ngata.example",
        "+6493000009",
        "+6493000002",
    )
