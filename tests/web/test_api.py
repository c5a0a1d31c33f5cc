"""Every REST API endpoint against the real app on a real SQLite hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from accord.service import monitor, queries
from tests.acceptance.exo_support import a_plain_contact
from tests.web.support import WebWorld, held_email_conflict, web_world

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _customer(web: WebWorld, **fields: object) -> int:
    response = web.api().post("/api/v1/customers", json={"fields": web.customer_fields(**fields)})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_openapi_document_lists_the_versioned_api(web: WebWorld) -> None:
    document = web.anonymous().get("/api/v1/openapi.json").json()
    assert document["info"]["title"] == "Accord"
    for path in (
        "/api/v1/customers",
        "/api/v1/changes",
        "/api/v1/transactions",
        "/api/v1/conflicts",
    ):
        assert path in document["paths"]
    assert not any(p.startswith("/customers") for p in document["paths"])  # pages are not API


def test_me_names_the_token_user_and_a_bad_token_is_refused(web: WebWorld) -> None:
    assert web.api("viewer").get("/api/v1/me").json() == {"name": "viewer", "role": "viewer"}
    bad = web.anonymous().get("/api/v1/me", headers={"Authorization": "Bearer acc_wrong"})
    assert bad.status_code == 401
    assert web.anonymous().get("/api/v1/me").status_code == 401


def test_create_get_update_customer(web: WebWorld) -> None:
    api = web.api()
    customer_id = _customer(web, phone="09 379 4412", price_level="b", discount="5")
    got = api.get(f"/api/v1/customers/{customer_id}").json()
    assert got["fields"]["phone"] == "+6493794412"
    assert got["fields"]["price_level"] == "B" and got["fields"]["discount"] == 5
    changed = api.patch(f"/api/v1/customers/{customer_id}", json={"fields": {"last_name": "Tane"}})
    assert changed.json()["changed"]["last_name"] == ["Ngata", "Tane"]
    assert changed.json()["changed"]["name"] == ["Ana Ngata", "Ana Tane"]
    assert api.get("/api/v1/customers/999999").status_code == 404


def test_the_name_a_customer_is_read_under_can_be_written(web: WebWorld) -> None:
    api = web.api()
    customer_id = _customer(web)
    url = f"/api/v1/customers/{customer_id}"
    fields = api.get(url).json()["fields"]
    # Read and written back as it is: no edit.
    unchanged = {"name": fields["name"], "home_location": fields["home_location"]}
    same = api.patch(url, json={"fields": unchanged})
    assert same.status_code == 200 and same.json()["changed"] == {}, same.text
    renamed = api.patch(url, json={"fields": {"name": "Ngata Holdings"}})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["changed"]["name"] == ["Ana Ngata", "Ngata Holdings"]
    fields = api.get(url).json()["fields"]
    assert fields["name"] == fields["company_name"] == "Ngata Holdings"
    both = api.patch(url, json={"fields": {"name": "A Ltd", "company_name": "B Ltd"}})
    assert both.status_code == 422 and both.json()["field"] == "name"
    created = api.post(
        "/api/v1/customers", json={"fields": web.customer_fields(name="Tane Traders")}
    )
    assert created.status_code == 201, created.text
    assert created.json()["fields"]["company_name"] == "Tane Traders"


def test_invalid_field_is_refused_naming_record_and_field(web: WebWorld) -> None:
    customer_id = _customer(web)
    response = web.api().patch(
        f"/api/v1/customers/{customer_id}", json={"fields": {"email": "not-an-email"}}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "email" and body["record"] == str(customer_id)


def test_odd_values_are_refused_naming_the_field_not_answered_with_a_server_error(
    web: WebWorld,
) -> None:
    api = web.api()
    customer_id = _customer(web, ar_account_type="open item")
    base = f"/api/v1/customers/{customer_id}"
    json_body = {"content-type": "application/json"}
    refused = [
        ("account_manager", api.patch(base, json={"fields": {"account_manager": "²"}})),
        ("first_name", api.patch(base, json={"fields": {"first_name": ["x"]}})),
        ("discount", api.patch(base, json={"fields": {"discount": True}})),
        (
            "amount_due",
            api.post(
                f"{base}/orders",
                content='{"number": "N1", "order_type": "layaway", "amount_due": NaN}',
                headers=json_body,
            ),
        ),
        (
            "amount_due",
            api.post(
                f"{base}/orders",
                json={"number": "N2", "order_type": "layaway", "amount_due": 1e300},
            ),
        ),
        (
            "amount_due",
            api.post(
                f"{base}/orders", json={"number": "N3", "order_type": "layaway", "amount_due": -5}
            ),
        ),
        (
            "placed_at",
            api.post(
                f"{base}/orders",
                json={"number": "N4", "order_type": "layaway", "placed_at": "last Tuesday"},
            ),
        ),
        (
            "amount",
            api.post(
                f"{base}/credit",
                content='{"kind": "charge", "amount": Infinity}',
                headers=json_body,
            ),
        ),
    ]
    for field, response in refused:
        assert response.status_code == 422, (field, response.text)
        assert response.json()["field"] == field and response.json()["record"] == str(customer_id)
    # Amounts round half up, as transactions do: 0.285 is 29 cents.
    charged = api.post(f"{base}/credit", json={"kind": "charge", "amount": 0.285})
    assert charged.status_code == 201, charged.text
    assert api.get(f"{base}/credit").json()["balance"] == 0.29
    # An order number is compared as it is stored: without surrounding blanks.
    assert api.post(f"{base}/orders", json={"number": "A1", "order_type": "layaway"}).is_success
    again = api.post(f"{base}/orders", json={"number": "A1 ", "order_type": "layaway"})
    assert again.status_code == 422 and again.json()["field"] == "number"
    # A time with an offset is taken and kept in UTC.
    placed = api.post(
        f"{base}/orders",
        json={"number": "A2", "order_type": "layaway", "placed_at": "2026-03-01T10:00:00+13:00"},
    )
    assert placed.is_success, placed.text
    times = {o["number"]: o["placed_at"] for o in api.get(f"{base}/orders").json()}
    assert times["A2"] == "2026-02-28T21:00:00.000000Z"
    # Far past the last page is an empty page; an absurd limit is refused.
    far = api.get("/api/v1/customers", params={"page": 10**19})
    assert far.status_code == 200 and far.json()["items"] == []
    assert api.get("/api/v1/runs", params={"limit": 10**19}).status_code == 422
    # A code typed as "²" is kept as text and does not stop the numbering, even when the
    # next number was typed in too and the sequence has to skip past the highest code.
    code = int(api.get(base).json()["fields"]["code"])
    for typed in ("²", str(code + 1)):
        made = api.post("/api/v1/customers", json={"fields": web.customer_fields(code=typed)})
        assert made.status_code == 201, made.text
    numbered = api.get(f"/api/v1/customers/{_customer(web)}").json()["fields"]["code"]
    assert int(numbered) > code + 1


def test_list_searches_and_pages(web: WebWorld) -> None:
    for i in range(30):
        _customer(web, last_name=f"Surname{i:02d}", email=f"p{i}@shop.example")
    api = web.api("viewer")
    page1 = api.get("/api/v1/customers", params={"q": "surname", "size": 10}).json()
    page3 = api.get("/api/v1/customers", params={"q": "surname", "size": 10, "page": 3}).json()
    assert page1["total"] == 30 and len(page1["items"]) == 10 and len(page3["items"]) == 10
    assert {i["id"] for i in page1["items"]}.isdisjoint({i["id"] for i in page3["items"]})
    by_email = api.get("/api/v1/customers", params={"q": "p7@shop"}).json()
    assert [i["name"] for i in by_email["items"]] == ["Ana Surname07"]


def test_photo_upload_and_download(web: WebWorld) -> None:
    customer_id = _customer(web)
    api = web.api()
    response = api.put(
        f"/api/v1/customers/{customer_id}/photo", files={"photo": ("me.png", PNG, "image/png")}
    )
    assert response.status_code == 200, response.text
    url = response.json()["changed"]["photo_url"][1]
    assert api.get(url).content == PNG
    refused = api.put(
        f"/api/v1/customers/{customer_id}/photo", files={"photo": ("x.txt", b"hi", "text/plain")}
    )
    assert refused.status_code == 422 and refused.json()["field"] == "photo_url"
    # A page declared as an image is refused: the bytes decide, not the declared type.
    page = b"<html><script>alert(1)</script></html>"
    disguised = api.put(
        f"/api/v1/customers/{customer_id}/photo", files={"photo": ("me.png", page, "image/png")}
    )
    assert disguised.status_code == 422 and "not one (image/png)" in disguised.json()["detail"]
    # A GIF declared as PNG does not agree with itself either.
    gif = b"GIF89a" + b"\x00" * 16
    wrong = api.put(
        f"/api/v1/customers/{customer_id}/photo", files={"photo": ("me.png", gif, "image/png")}
    )
    assert wrong.status_code == 422
    # A JPEG sent without an image type (as some clients do) is stored and served as one.
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 16
    plain = api.put(
        f"/api/v1/customers/{customer_id}/photo",
        files={"photo": ("me.jpg", jpeg, "application/octet-stream")},
    )
    assert plain.status_code == 200, plain.text
    served = api.get(plain.json()["changed"]["photo_url"][1])
    assert served.content == jpeg and served.headers["content-type"] == "image/jpeg"
    assert api.get(url).content == jpeg  # the customer has one photo: the latest
    # So restoring an earlier photo's URL from history would show the latest: refused.
    history = api.get(f"/api/v1/records/{customer_id}/history").json()
    first = next(c for c in history if c["field"] == "photo_url" and c["new"] == url)
    restored = api.post(
        f"/api/v1/records/{customer_id}/restore", json={"seq": first["seq"], "field": "photo_url"}
    )
    assert restored.status_code == 422 and "upload it again" in restored.json()["detail"]


def test_contacts_add_list_edit(web: WebWorld) -> None:
    customer_id = _customer(web)
    api = web.api()
    added = api.post(
        f"/api/v1/customers/{customer_id}/contacts",
        json={"fields": {"first_name": "Mere", "last_name": "Ngata", "job_title": "spouse"}},
    )
    assert added.status_code == 201
    contact_id = added.json()["id"]
    edited = api.patch(
        f"/api/v1/customers/{customer_id}/contacts/{contact_id}",
        json={"fields": {"mobile": "021 555 0134"}},
    )
    assert edited.json()["changed"]["mobile"] == [None, "+64215550134"]
    listed = api.get(f"/api/v1/customers/{customer_id}/contacts").json()
    assert [(c["id"], c["fields"]["job_title"]) for c in listed] == [(contact_id, "spouse")]
    other = _customer(web, last_name="Other")
    assert (
        api.patch(
            f"/api/v1/customers/{other}/contacts/{contact_id}", json={"fields": {}}
        ).status_code
        == 404
    )


def test_transactions_feed_history_orders_and_credit(web: WebWorld) -> None:
    customer_id = _customer(web, ar_account_type="open item", credit_limit=500)
    api = web.api()
    for number, kind, amount, at in (
        ("T1", "sale", 25.5, "2026-01-05T10:00:00Z"),
        ("T2", "return", 5, "2026-02-01T10:00:00Z"),
    ):
        response = api.post(
            "/api/v1/transactions",
            json={
                "customer_id": customer_id,
                "number": number,
                "kind": kind,
                "amount": amount,
                "at": at,
            },
        )
        assert response.status_code == 201, response.text
    again = api.post(
        "/api/v1/transactions",
        json={"customer_id": customer_id, "number": "T1", "kind": "sale", "amount": 25.5},
    )
    assert again.status_code == 200 and again.json()["created"] is False
    history = api.get(
        f"/api/v1/customers/{customer_id}/history",
        params={"start": "2026-01-01", "end": "2026-01-31"},
    ).json()
    assert [t["number"] for t in history["items"]] == ["T1"]
    assert api.get(f"/api/v1/customers/{customer_id}").json()["stats"]["sales"] == 1
    order = api.post(
        f"/api/v1/customers/{customer_id}/orders",
        json={"number": "L-1", "order_type": "layaway", "amount_due": 40},
    )
    assert order.status_code == 201
    assert api.get(f"/api/v1/customers/{customer_id}/orders").json()[0]["amount_due"] == 40
    assert (
        api.post(
            f"/api/v1/customers/{customer_id}/credit", json={"kind": "charge", "amount": 100}
        ).status_code
        == 201
    )
    assert (
        api.post(
            f"/api/v1/customers/{customer_id}/credit", json={"kind": "payment", "amount": 30}
        ).status_code
        == 201
    )
    assert api.get(f"/api/v1/customers/{customer_id}/credit").json()["balance"] == 70


def test_changes_feed_moves_forward_by_sequence(web: WebWorld) -> None:
    first = _customer(web, price_level="C")
    api = web.api("viewer")
    feed = api.get("/api/v1/changes", params={"after": 0}).json()
    assert [i["id"] for i in feed["items"]] == [first]
    assert feed["items"][0]["fields"]["price_level"] == "C"
    assert api.get("/api/v1/changes", params={"after": feed["next"]}).json()["items"] == []
    web.api().patch(f"/api/v1/customers/{first}", json={"fields": {"discount": 10}})
    later = api.get("/api/v1/changes", params={"after": feed["next"]}).json()
    assert [(i["id"], i["fields"]["discount"]) for i in later["items"]] == [(first, 10)]


def test_s003_05_a_plan_shows_no_value_of_a_field_the_card_hides(web: WebWorld) -> None:
    admin, editor = web.api("admin"), web.api("editor")
    hidden = [{"field": "email", "access": "hidden"}]
    assert admin.put("/api/v1/cards/company/editor", json=hidden).status_code == 200
    admin.post("/api/v1/systems/erp/sync")
    company = admin.get("/api/v1/customers", params={"size": 1}).json()["items"][0]
    fields = {"email": "secret@shop.example", "phone": "09 555 0199"}
    admin.patch(f"/api/v1/customers/{company['id']}", json={"fields": fields})

    def planned(client: Any) -> list[tuple[str, Any, Any]]:
        plan = client.get("/api/v1/systems/erp/plan").json()
        return [tuple(f) for c in plan["changes"] for f in c["fields"]]

    assert any(f[0] == "email" and f[2] == "secret@shop.example" for f in planned(admin))
    seen = planned(editor)
    assert any(f[0] == "phone" for f in seen) and all(f[0] != "email" for f in seen), seen
    page = web.browser("editor")[0].get("/monitor/plan/erp").text
    assert "secret@shop.example" not in page and "555" in page
    done = editor.post("/api/v1/systems/erp/sync").json()
    assert "secret@shop.example" not in str(done)


def test_sync_plan_runs_record_state_and_history(web: WebWorld) -> None:
    api = web.api()
    # A dry run reads the whole remote system: viewers may not start one.
    assert web.api("viewer").get("/api/v1/systems/erp/plan").status_code == 403
    plan = api.get("/api/v1/systems/erp/plan").json()
    assert plan["dry_run"] is True and plan["counts"]["hub.company.create"] == 6
    done = api.post("/api/v1/systems/erp/sync").json()
    assert done["dry_run"] is False
    runs = api.get("/api/v1/runs").json()
    assert runs[0]["status"] == "ok" and runs[0]["dry_run"] is False
    customer_id = _customer(web)
    states = api.get(f"/api/v1/records/{customer_id}/sync").json()
    assert [(s["system"], s["state"]) for s in states] == [("erp", "pending")]
    api.post("/api/v1/systems/erp/sync")
    states = api.get(f"/api/v1/records/{customer_id}/sync").json()
    assert states[0]["state"] == "synced" and states[0]["external_id"]
    history = api.get(f"/api/v1/records/{customer_id}/history").json()
    assert any(c["field"] == "last_name" and c["new"] == "Ngata" for c in history)


def test_restore_a_value_from_history(web: WebWorld) -> None:
    customer_id = _customer(web)
    api = web.api()
    api.patch(f"/api/v1/customers/{customer_id}", json={"fields": {"last_name": "Wrong"}})
    history = api.get(f"/api/v1/records/{customer_id}/history").json()
    original = next(c for c in history if c["field"] == "last_name" and c["new"] == "Ngata")
    restored = api.post(
        f"/api/v1/records/{customer_id}/restore",
        json={"seq": original["seq"], "field": "last_name"},
    )
    assert restored.json()["last_name"] == ["Wrong", "Ngata"]
    # A restore is an edit like any other: an account number must still be free.
    code = api.get(f"/api/v1/customers/{customer_id}").json()["fields"]["code"]
    api.patch(f"/api/v1/customers/{customer_id}", json={"fields": {"code": "A-2"}})
    other = _customer(web, code=code)
    history = api.get(f"/api/v1/records/{customer_id}/history").json()
    old = next(c for c in history if c["field"] == "code" and c["new"] == code)
    taken = api.post(
        f"/api/v1/records/{customer_id}/restore", json={"seq": old["seq"], "field": "code"}
    )
    assert taken.status_code == 422 and f"used by hub record {other}" in taken.json()["detail"]


def test_conflict_queue_and_resolution(tmp_path: object) -> None:
    from pathlib import Path

    from tests.web.support import web_world

    with web_world(Path(str(tmp_path)), conflict="hold") as world:
        api = world.api()
        api.post("/api/v1/systems/erp/sync")
        company = api.get("/api/v1/customers", params={"size": 1}).json()["items"][0]
        states = api.get(f"/api/v1/records/{company['id']}/sync").json()
        accno = int(states[0]["external_id"])
        api.patch(f"/api/v1/customers/{company['id']}", json={"fields": {"phone": "09 111 1111"}})
        world.erp.update_customer(accno, PHONE="09 222 2222")
        api.post("/api/v1/systems/erp/sync")
        held = api.get("/api/v1/conflicts").json()
        assert [(c["record_id"], c["field"]) for c in held] == [(company["id"], "phone")]
        assert api.get(f"/api/v1/records/{company['id']}/sync").json()[0]["state"] == "held"
        resolved = api.post(f"/api/v1/conflicts/{held[0]['id']}/resolve", json={"winner": "hub"})
        assert resolved.json()["status"] == "resolved" and resolved.json()["winner"] == "hub"
        assert api.get("/api/v1/conflicts").json() == []
        assert len(api.get("/api/v1/conflicts", params={"all": True}).json()) == 1
        api.post("/api/v1/systems/erp/sync")
        assert world.erp.customer(accno)["PHONE"] == "+6491111111"
        again = api.post(f"/api/v1/conflicts/{held[0]['id']}/resolve", json={"winner": "system"})
        assert again.status_code == 409


def test_s003_05_the_customer_search_leaves_out_columns_the_company_card_hides(
    web: WebWorld,
) -> None:
    admin, viewer = web.api("admin"), web.api("viewer")
    customer = _customer(web, email="secret@shop.example", phone="09 555 0100", code="C-77")
    hidden = [
        {"field": "email", "access": "hidden"},
        {"field": "phone", "access": "hidden"},
        {"field": "code", "access": "hidden"},
    ]
    assert admin.put("/api/v1/cards/company/viewer", json=hidden).status_code == 200

    def row(client: Any) -> dict[str, Any]:
        listed = client.get("/api/v1/customers", params={"q": "ngata"}).json()["items"]
        return dict(next(r for r in listed if r["id"] == customer))

    seen = row(viewer)
    assert (seen["email"], seen["phone"], seen["account_number"]) == (None, None, None), seen
    assert seen["name"] == "Ana Ngata"
    full = row(admin)
    assert (full["email"], full["phone"], full["account_number"]) == (
        "secret@shop.example",
        "+6495550100",
        "C-77",
    )

    # Nor does a search look in them: a viewer cannot learn whose email or phone it is.
    def found(client: Any, term: str) -> list[int]:
        listed = client.get("/api/v1/customers", params={"q": term}).json()["items"]
        return [r["id"] for r in listed]

    for term in ("secret@shop", "09 555 0100", "5550100", "c-77"):
        assert found(admin, term) == [customer], term
        assert found(viewer, term) == [], term
    assert found(viewer, "ngata") == [customer]
    assert found(admin, "0000") == []  # zeros alone are no phone number to look for


def test_s003_05_held_conflicts_show_no_value_of_a_field_the_card_hides(tmp_path: Path) -> None:
    with web_world(tmp_path, conflict="hold") as world:
        record, conflict = held_email_conflict(world)
        admin, viewer = world.api("admin"), world.api("viewer")
        hidden = [{"field": "email", "access": "hidden"}]
        assert admin.put("/api/v1/cards/company/viewer", json=hidden).status_code == 200
        for params in ({}, {"all": True}):
            seen = viewer.get("/api/v1/conflicts", params=params).json()
            assert [
                (c["id"], c["field"], c["base_value"], c["hub_value"], c["system_value"])
                for c in seen
            ] == [(conflict, "email", None, None, None)]
        full = admin.get("/api/v1/conflicts").json()[0]
        assert (full["hub_value"], full["system_value"]) == ("hub@shop.example", "erp@shop.example")
        state = viewer.get(f"/api/v1/records/{record}/sync").json()[0]
        assert state["state"] == "held" and "shop.example" not in str(state["reasons"]), state
        assert "erp@shop.example" in str(admin.get(f"/api/v1/records/{record}/sync").json())
        # An editor the field is hidden from cannot decide it blind, not even by keeping
        # the hub's value (which is then sent over the ERP's); an admin can.
        assert admin.put("/api/v1/cards/company/editor", json=hidden).status_code == 200
        resolve = f"/api/v1/conflicts/{conflict}/resolve"
        kept = world.api("editor").post(resolve, json={"winner": "hub"})
        assert kept.status_code == 403 and "shop.example" not in kept.text, kept.text
        kept = admin.post(resolve, json={"winner": "hub"})
        assert (kept.json()["winner"], kept.json()["hub_value"]) == ("hub", "hub@shop.example")


def test_s003_05_errors_quote_no_value_of_a_field_the_card_hides(web: WebWorld) -> None:
    admin, viewer = web.api("admin"), web.api("viewer")
    admin.post("/api/v1/systems/erp/sync")
    company = admin.get("/api/v1/customers", params={"size": 1}).json()["items"][0]
    accno = int(admin.get(f"/api/v1/records/{company['id']}/sync").json()[0]["external_id"])
    web.erp.update_customer(accno, EMAIL="orders.secret@@shop")
    admin.post("/api/v1/systems/erp/sync")
    hidden = [{"field": "email", "access": "hidden"}]
    assert admin.put("/api/v1/cards/company/viewer", json=hidden).status_code == 200
    assert "orders.secret" in str(admin.get("/api/v1/errors").json())
    seen = [e for e in viewer.get("/api/v1/errors").json() if e["entity"] == "company"]
    assert [e["field"] for e in seen] == ["email"] and "orders.secret" not in str(seen), seen
    page = web.browser("viewer")[0].get("/monitor").text
    assert "orders.secret" not in page and "hidden from your role" in page


def test_s003_05_resolving_a_conflict_may_not_change_a_field_the_card_does_not_let_edit(
    tmp_path: Path,
) -> None:
    with web_world(tmp_path, conflict="hold") as world:
        record, conflict = held_email_conflict(world)
        admin, editor = world.api("admin"), world.api("editor")
        resolve = f"/api/v1/conflicts/{conflict}/resolve"
        for access in ("show", "hidden"):
            rules = [{"field": "email", "access": access}]
            assert admin.put("/api/v1/cards/company/editor", json=rules).status_code == 200
            for winner in ("system", "hub"):  # keeping the hub's also decides the field
                refused = editor.post(resolve, json={"winner": winner})
                assert refused.status_code == 403, refused.text
                assert refused.json()["field"] == "email" and "email" in refused.json()["detail"]
        assert [c["id"] for c in admin.get("/api/v1/conflicts").json()] == [conflict]
        email = admin.get(f"/api/v1/customers/{record}").json()["fields"]["email"]
        assert email == "hub@shop.example"
        # Admins are not limited by the editors' layout.
        assert admin.post(resolve, json={"winner": "system"}).status_code == 200
        email = admin.get(f"/api/v1/customers/{record}").json()["fields"]["email"]
        assert email == "erp@shop.example"


def test_s003_05_credit_and_photo_keep_to_the_company_card_layout(web: WebWorld) -> None:
    admin, editor, viewer = web.api("admin"), web.api("editor"), web.api("viewer")
    customer_id = _customer(web, ar_account_type="balance forward", credit_limit=100)
    photo = f"/api/v1/customers/{customer_id}/photo"
    assert admin.put(photo, files={"photo": ("me.png", PNG, "image/png")}).is_success
    hidden = [
        {"field": name, "access": "hidden"}
        for name in ("credit_limit", "ar_account_type", "photo_url")
    ]
    assert admin.put("/api/v1/cards/company/viewer", json=hidden).status_code == 200
    read_only = [{"field": "photo_url", "access": "show"}]
    assert admin.put("/api/v1/cards/company/editor", json=read_only).status_code == 200
    seen = viewer.get(f"/api/v1/customers/{customer_id}/credit").json()
    assert (seen["credit_limit"], seen["ar_account_type"]) == (None, None)
    full = admin.get(f"/api/v1/customers/{customer_id}/credit").json()
    assert (full["credit_limit"], full["ar_account_type"]) == (100.0, "balance forward")
    assert viewer.get(photo).status_code == 404 and admin.get(photo).content == PNG
    refused = editor.put(photo, files={"photo": ("other.png", PNG + b"\x01", "image/png")})
    assert refused.status_code == 403 and refused.json()["field"] == "photo_url"
    assert editor.get(photo).content == PNG


def test_a_conflict_the_sides_settle_leaves_the_queue_and_cannot_be_resolved(
    tmp_path: Path,
) -> None:
    with web_world(tmp_path, conflict="hold") as world:
        api = world.api()
        record, held = held_email_conflict(world)
        accno = int(api.get(f"/api/v1/records/{record}/sync").json()[0]["external_id"])
        world.erp.update_customer(accno, EMAIL="hub@shop.example")  # the ERP's user agrees
        api.post("/api/v1/systems/erp/sync")
        assert api.get("/api/v1/conflicts").json() == []
        assert api.get(f"/api/v1/records/{record}/sync").json()[0]["state"] == "synced"
        (settled,) = api.get("/api/v1/conflicts", params={"all": True}).json()
        assert (settled["id"], settled["status"], settled["winner"]) == (
            held,
            "resolved",
            "agreed",
        )
        refused = api.post(f"/api/v1/conflicts/{held}/resolve", json={"winner": "system"})
        assert refused.status_code == 409
        assert "both sides hold the same value again" in refused.json()["detail"]
        api.post("/api/v1/systems/erp/sync")
        assert world.erp.customer(accno)["EMAIL"] == "hub@shop.example"  # type: ignore[index]
        fields = api.get(f"/api/v1/customers/{record}").json()["fields"]
        assert fields["email"] == "hub@shop.example"


def test_error_queue_and_retry(web: WebWorld) -> None:
    api = web.api()
    api.post("/api/v1/systems/erp/sync")
    customer_id = _customer(web, company_name="A" * 80)  # longer than the ERP's NAME column
    api.post("/api/v1/systems/erp/sync")
    errors = [e for e in api.get("/api/v1/errors").json() if e["record_id"] == customer_id]
    assert [e["field"] for e in errors] == ["name"]
    assert api.post(f"/api/v1/errors/{errors[0]['id']}/retry").json() == {"cleared": False}
    api.patch(
        f"/api/v1/customers/{customer_id}", json={"fields": {"company_name": "Short Name Ltd"}}
    )
    assert api.post(f"/api/v1/errors/{errors[0]['id']}/retry").json() == {"cleared": True}
    assert monitor.record_sync_state(web.store, web.config, customer_id)[0].state == "synced"


def test_systems_listed_for_all_changed_by_admins(web: WebWorld) -> None:
    listed = web.api("viewer").get("/api/v1/systems").json()
    assert [(s["name"], s["sync"]) for s in listed] == [("erp", "two-way")]
    changed = web.api("admin").patch(
        "/api/v1/systems/erp", json={"sync": "import", "schedule_push": "5m"}
    )
    assert changed.status_code == 200 and changed.json()["sync"] == "import"
    assert web.config.systems["erp"].schedule.push == "5m"
    bad = web.api("admin").patch("/api/v1/systems/erp", json={"schedule_pull": "soon"})
    assert bad.status_code == 422
    unknown = web.api("admin").patch("/api/v1/systems/erp", json={"options": {"nonsense": True}})
    assert unknown.status_code == 422 and web.config.systems["erp"].options == {}


def test_record_state_under_one_way_import_is_never_pending(web: WebWorld) -> None:
    api = web.api()
    api.post("/api/v1/systems/erp/sync")
    web.api("admin").patch("/api/v1/systems/erp", json={"sync": "import"})
    imported = api.get("/api/v1/customers", params={"size": 1}).json()["items"][0]["id"]
    api.patch(f"/api/v1/customers/{imported}", json={"fields": {"tax_id": "GST-1"}})
    assert api.get(f"/api/v1/records/{imported}/sync").json()[0]["state"] == "synced"
    local = _customer(web)
    state = api.get(f"/api/v1/records/{local}/sync").json()[0]
    assert state["state"] == "off" and "one-way import" in state["reasons"][0]


def test_a_transaction_with_a_bad_amount_or_time_is_refused_naming_the_field(
    web: WebWorld,
) -> None:
    api = web.api("editor")
    customer = _customer(web, company_name="Bad Input Ltd")
    for amount, at, field, points in (
        ("inf", None, "amount", None),
        (1e300, None, "amount", None),
        ("NaN", None, "amount", None),
        (-20, None, "amount", None),  # money back is a return, not a negative sale
        (10, "yesterday", "at", None),
        (10, None, "points", 3_000_000_000),
    ):
        body = {"customer_id": customer, "number": f"X-{field}-{amount}", "kind": "sale"}
        body |= {"amount": amount} | ({"at": at} if at else {})
        body |= {"points": points} if points is not None else {}
        refused = api.post("/api/v1/transactions", json=body)
        assert refused.status_code == 422, (amount, at, refused.text)
        assert refused.json()["field"] == field
    posted = api.post(
        "/api/v1/transactions",
        json={"customer_id": customer, "number": "X-ok", "kind": "sale", "amount": "19.995"},
    )
    assert posted.status_code == 201
    history = api.get(f"/api/v1/customers/{customer}/history").json()["items"]
    assert [t["amount"] for t in history] == [20.0]
    # Points a till gives with a return are taken back, whatever sign it gave them.
    returned = {"customer_id": customer, "number": "X-ret", "kind": "return", "amount": 5}
    assert api.post("/api/v1/transactions", json=returned | {"points": 5}).status_code == 201
    stats = api.get(f"/api/v1/customers/{customer}").json()["stats"]
    assert stats["campaign_points"] == 20 - 5


def test_numbers_beyond_what_the_database_holds_are_not_found_or_refused_not_a_failure(
    web: WebWorld,
) -> None:
    big = 2**63  # one past the largest id any hub database can hold
    customer_id = _customer(web)
    api = TestClient(
        web.app,
        headers={"Authorization": f"Bearer {web.tokens['admin']}"},
        raise_server_exceptions=False,
    )
    # An id that no record can have names nothing: not found, as any unknown id.
    not_found = [
        api.get(f"/api/v1/customers/{big}"),
        api.get(f"/api/v1/customers/{big}/photo"),
        api.get(f"/api/v1/people/{big}"),
        api.get(f"/api/v1/records/{big}/history"),
        api.post(f"/api/v1/errors/{big}/retry"),
        api.post(f"/api/v1/accounts/{customer_id}/merge", json={"loser_id": big}),
        api.post("/api/v1/people/contacts", json={"company_id": big, "fields": {}}),
        api.post("/api/v1/transactions", json={"customer_id": big, "number": "T", "amount": 1}),
    ]
    for response in not_found:
        assert response.status_code == 404, (response.request.url, response.text)
        assert response.json()["detail"] == f"no record has the id {big}"
    # A number that is a value is refused (422) beyond what its column holds.
    refused = [
        api.get("/api/v1/changes", params={"after": big}),
        api.post(f"/api/v1/records/{customer_id}/restore", json={"seq": big, "field": "email"}),
        api.put("/api/v1/cards/company/editor", json=[{"field": "phone", "position": big}]),
        api.put("/api/v1/cards/company/editor", json=[{"field": "phone", "position": 2**31}]),
    ]
    for response in refused:
        assert response.status_code == 422, (response.request.url, response.text)
    largest = [{"field": "phone", "position": 2**31 - 1}]
    assert api.put("/api/v1/cards/company/editor", json=largest).status_code == 200
    # The pages too: an unknown id is a 404 page; a position out of range keeps its place.
    browser, csrf = web.browser("admin")
    for path in (f"/customers/{big}", f"/people/{big}", f"/settings/import-profiles/{big}"):
        assert browser.get(path).status_code == 404, path
    merge = {"survivor": str(customer_id), "loser": str(big), "csrf_token": csrf}
    assert browser.post("/merge", data=merge).status_code == 404
    layout = {"role": "editor", "position.phone": str(big), "csrf_token": csrf}
    assert browser.post("/cards/company", data=layout).status_code == 303


def test_s000_07_a_contact_deleted_in_the_app_is_deactivated_in_the_erp(tmp_path: Path) -> None:
    with web_world(tmp_path) as world:
        world.api().post("/api/v1/systems/erp/sync")
        contact = a_plain_contact(world.erp)
        person = queries.find_record(
            world.store, f"erp:person:{contact['SEQNO']}@{contact['ACCNO']}"
        )
        assert world.api("viewer").delete(f"/api/v1/people/{person}").status_code == 403
        api = world.api()
        assert api.delete(f"/api/v1/customers/{person}").status_code == 404  # not a customer
        assert api.delete(f"/api/v1/people/{person}").status_code == 204
        assert api.get(f"/api/v1/people/{person}").status_code == 404
        api.post("/api/v1/systems/erp/sync")
        row = world.erp.contact(int(str(contact["SEQNO"])))
        assert row is not None and row["ISACTIVE"] == "N"  # deactivated, never deleted


def test_a_customer_deleted_in_the_app_is_deactivated_in_the_erp(tmp_path: Path) -> None:
    with web_world(tmp_path) as world:
        api = world.api()
        api.post("/api/v1/systems/erp/sync")
        customer = queries.find_record(world.store, "erp:company:1")
        assert api.delete(f"/api/v1/customers/{customer}").status_code == 204
        assert api.get(f"/api/v1/customers/{customer}").status_code == 404
        api.post("/api/v1/systems/erp/sync")
        assert world.erp.customer(1)["ISACTIVE"] == "N"  # type: ignore[index]
