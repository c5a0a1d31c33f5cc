"""The people API (S003): every endpoint, its roles, and the card rules it enforces."""

from __future__ import annotations

from typing import Any

from accord.service.records import create_record
from tests.web.support import WebWorld

API = "/api/v1"


def _company(web: WebWorld, name: str = "Tane Ltd", code: str = "T1") -> int:
    return create_record(web.store, "company", {"name": name, "code": code}, clock=web.clock)


def _account(web: WebWorld, **fields: Any) -> int:
    body = {"account_type": fields.pop("account_type", "customer"), "fields": fields}
    response = web.api().post(f"{API}/people/accounts", json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_s003_01_create_list_and_read_person_accounts_and_contacts(web: WebWorld) -> None:
    company = _company(web)
    person = _account(web, first_name="Ana", last_name="Ngata", account_type="prospect")
    contact = web.api().post(
        f"{API}/people/contacts", json={"company_id": company, "fields": {"first_name": "Rua"}}
    )
    assert contact.status_code == 201
    listed = web.api("viewer").get(f"{API}/people", params={"q": "ngata"}).json()
    assert [p["id"] for p in listed] == [person] and listed[0]["kind"] == "account"
    contacts = web.api("viewer").get(f"{API}/people", params={"kind": "contact"}).json()
    assert [p["id"] for p in contacts] == [contact.json()["id"]]
    card = web.api("viewer").get(f"{API}/people/{person}").json()
    assert card["fields"]["account_type"] == "prospect" and card["linked"] == []
    bad = web.api().post(
        f"{API}/people/accounts", json={"account_type": "partner", "fields": {"first_name": "X"}}
    )
    assert bad.status_code == 422
    missing = web.api().post(
        f"{API}/people/contacts", json={"company_id": 999, "fields": {"first_name": "X"}}
    )
    assert missing.status_code == 404
    assert web.api("viewer").post(f"{API}/people/accounts", json={"fields": {}}).status_code == 403
    assert web.api().get(f"{API}/people/{person + 1000}").status_code == 404


def test_s003_02_an_edit_asks_before_copying_to_linked_records(web: WebWorld) -> None:
    company = _company(web)
    own = _account(web, first_name="Mere", last_name="Kahu")
    contact = (
        web.api()
        .post(
            f"{API}/people/contacts",
            json={"company_id": company, "fields": {"first_name": "Mere", "last_name": "Kahu"}},
        )
        .json()["id"]
    )
    linked = web.api().post(f"{API}/people/{own}/links", json={"other_id": contact}).json()
    assert linked["status"] == "linked"
    assert [r["id"] for r in web.api().get(f"{API}/people/{own}/linked").json()] == [contact]

    edit = {"fields": {"email": "mere@kahu.example"}}
    asked = web.api().patch(f"{API}/people/{own}", json=edit).json()
    assert asked["status"] == "needs_confirmation" and [r["id"] for r in asked["linked"]] == [
        contact
    ]
    no = web.api().patch(f"{API}/people/{own}", json={**edit, "copy_to_linked": False}).json()
    assert no["status"] == "aborted"
    assert web.api().get(f"{API}/people/{contact}").json()["fields"].get("email") is None
    yes = web.api().patch(f"{API}/people/{own}", json={**edit, "copy_to_linked": True}).json()
    assert yes["status"] == "applied" and set(yes["changes"]) == {str(own), str(contact)}
    assert web.api().get(f"{API}/people/{contact}").json()["fields"]["email"] == (
        "mere@kahu.example"
    )
    assert web.api().delete(f"{API}/people/{contact}/links").status_code == 204
    assert web.api().get(f"{API}/people/{own}/linked").json() == []
    viewer = web.api("viewer").patch(f"{API}/people/{own}", json=edit)
    assert viewer.status_code == 403


def test_s003_03_link_with_choices_and_merge_two_people(web: WebWorld) -> None:
    first = _account(web, salutation="Mr", first_name="Hemi", last_name="Ruru")
    second = _account(web, salutation="Dr", first_name="Hemi", last_name="Ruru")
    asked = web.api().post(f"{API}/people/{first}/links", json={"other_id": second}).json()
    assert asked["status"] == "needs_choice" and asked["differences"][0]["group"] == "title"
    chosen = (
        web.api()
        .post(
            f"{API}/people/{first}/links", json={"other_id": second, "choices": {"title": second}}
        )
        .json()
    )
    assert chosen["status"] == "linked"
    assert web.api().get(f"{API}/people/{first}").json()["fields"]["salutation"] == "Dr"

    loser = _account(web, first_name="Hemiona", last_name="Ruru", language="mi")
    preview = web.api("viewer").get(
        f"{API}/merges/preview", params={"survivor": first, "loser": loser}
    )
    groups = {d["group"]: d["values"] for d in preview.json()}
    assert groups["first_name"] == {
        str(first): {"first_name": "Hemi"},
        str(loser): {"first_name": "Hemiona"},
    }
    merged = web.api().post(
        f"{API}/people/{first}/merge", json={"loser_id": loser, "choices": {"first_name": loser}}
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["loser_id"] == loser
    for rid in (first, second):  # the linked record shows the merged name too
        fields = web.api().get(f"{API}/people/{rid}").json()["fields"]
        assert (fields["first_name"], fields["language"]) == ("Hemiona", "mi")
    assert web.api().get(f"{API}/people/{loser}").status_code == 404
    again = web.api().post(f"{API}/people/{first}/merge", json={"loser_id": first})
    assert again.status_code == 422


def test_s003_04_account_code_change_and_account_merge(web: WebWorld) -> None:
    survivor, loser = _company(web, "Moa", "M1"), _company(web, "Moa Ltd", "M2")
    contact = (
        web.api()
        .post(f"{API}/people/contacts", json={"company_id": loser, "fields": {"first_name": "Ika"}})
        .json()["id"]
    )
    # The Exo ERP owns company codes here (owns_codes): a hub change is refused, naming it.
    owned = web.api().put(f"{API}/accounts/{survivor}/code", json={"code": "M9"})
    assert owned.status_code == 422 and owned.json()["field"] == "code"
    assert "erp" in owned.json()["detail"]
    person = _account(web, first_name="Tui", code="P1")
    changed = web.api().put(f"{API}/accounts/{person}/code", json={"code": "P2"})
    assert changed.json() == {"changed": {"code": ["P1", "P2"]}}
    taken = web.api().put(f"{API}/accounts/{person}/code", json={"code": "m1"})
    assert taken.status_code == 422

    merged = web.api().post(f"{API}/accounts/{survivor}/merge", json={"loser_id": loser})
    assert merged.json()["contacts_moved"] == [contact]
    assert web.api().get(f"{API}/people/{contact}").json()["fields"]["company"] == survivor


def test_s003_05_card_layouts_are_saved_by_admins_and_enforced_per_role(web: WebWorld) -> None:
    person = _account(web, first_name="Pita", email="pita@h.example", notes="VIP")
    rules = [
        {"field": "notes", "access": "hidden"},
        {"field": "email", "access": "edit", "mandatory": True},
        {"field": "code", "access": "show"},
    ]
    assert web.api("editor").put(f"{API}/cards/person/editor", json=rules).status_code == 403
    saved = web.api("admin").put(f"{API}/cards/person/editor", json=rules)
    assert saved.status_code == 200 and len(saved.json()["saved"]) == 3
    card = web.api("editor").get(f"{API}/cards/person/editor").json()
    assert {r["field"]: r["access"] for r in card["effective"]}["notes"] == "hidden"

    seen = web.api("editor").get(f"{API}/people/{person}").json()
    assert "notes" not in seen["fields"] and seen["mandatory"] == ["email"]
    assert "code" in seen["read_only"]
    assert web.api("admin").get(f"{API}/people/{person}").json()["fields"]["notes"] == "VIP"

    hidden = web.api("editor").patch(f"{API}/people/{person}", json={"fields": {"notes": "x"}})
    assert hidden.status_code == 403 and "notes" in hidden.json()["detail"]
    code = web.api("editor").put(f"{API}/accounts/{person}/code", json={"code": "Z1"})
    assert code.status_code == 403
    empty = web.api("editor").patch(f"{API}/people/{person}", json={"fields": {"email": ""}})
    assert empty.status_code == 422 and empty.json()["field"] == "email"
    unknown = web.api("admin").put(f"{API}/cards/person/editor", json=[{"field": "shoe_size"}])
    assert unknown.status_code == 422
    assert web.api("admin").get(f"{API}/cards/person/nobody").status_code == 422


def test_s003_05_the_company_card_layout_holds_on_every_way_to_read_or_change_a_record(
    web: WebWorld,
) -> None:
    admin, editor, viewer = web.api("admin"), web.api("editor"), web.api("viewer")
    made = editor.post(f"{API}/customers", json={"fields": web.customer_fields(credit_limit=100)})
    customer = made.json()["id"]
    company_rules = [
        {"field": "credit_limit", "access": "show"},
        {"field": "code", "access": "show"},
    ]
    assert admin.put(f"{API}/cards/company/editor", json=company_rules).status_code == 200
    hide_email = [{"field": "email", "access": "hidden"}]
    assert admin.put(f"{API}/cards/person/viewer", json=hide_email).status_code == 200
    assert admin.put(f"{API}/cards/company/viewer", json=hide_email).status_code == 200
    read_only_email = [{"field": "email", "access": "show"}]
    assert admin.put(f"{API}/cards/person/editor", json=read_only_email).status_code == 200

    # Writes: the customer API, the customer's contacts, restoring from history.
    for fields in ({"credit_limit": 999999}, {"code": "777"}):
        refused = editor.patch(f"{API}/customers/{customer}", json={"fields": fields})
        assert refused.status_code == 403, refused.text
        assert refused.json()["field"] == next(iter(fields))
    assert editor.patch(
        f"{API}/customers/{customer}", json={"fields": {"phone": "09 555 0100"}}
    ).is_success
    contact = editor.post(
        f"{API}/customers/{customer}/contacts",
        json={"fields": {"first_name": "Rua", "last_name": "K"}},
    ).json()["id"]
    assert admin.patch(
        f"{API}/customers/{customer}/contacts/{contact}",
        json={"fields": {"email": "rua@k.example"}},
    ).is_success
    changed = editor.patch(
        f"{API}/customers/{customer}/contacts/{contact}", json={"fields": {"email": "x@k.example"}}
    )
    assert changed.status_code == 403
    assert admin.patch(
        f"{API}/people/{contact}", json={"fields": {"email": "new@k.example"}}
    ).is_success
    first = next(
        c for c in admin.get(f"{API}/records/{contact}/history").json() if c["field"] == "email"
    )
    back = editor.post(
        f"{API}/records/{contact}/restore", json={"seq": first["seq"], "field": "email"}
    )
    assert back.status_code == 403
    assert admin.get(f"{API}/people/{contact}").json()["fields"]["email"] == "new@k.example"

    # Reads: the card, the contacts list, people search, linked values, history.
    assert "credit_limit" in editor.get(f"{API}/customers/{customer}").json()["fields"]
    assert admin.patch(
        f"{API}/customers/{customer}", json={"fields": {"email": "shop@k.example"}}
    ).is_success
    assert "email" not in viewer.get(f"{API}/customers/{customer}").json()["fields"]
    listed = viewer.get(f"{API}/customers/{customer}/contacts").json()
    assert [c["id"] for c in listed] == [contact] and "email" not in listed[0]["fields"]
    assert [p["email"] for p in viewer.get(f"{API}/people", params={"q": "Rua"}).json()] == [None]
    history = viewer.get(f"{API}/records/{contact}/history").json()
    assert history and all(c["field"] != "email" for c in history)
    assert any(c["field"] == "email" for c in admin.get(f"{API}/records/{contact}/history").json())


def test_s003_05_merge_previews_show_no_value_the_card_hides(web: WebWorld) -> None:
    survivor = create_record(
        web.store, "company", {"name": "Kea", "email": "kea@k.example"}, clock=web.clock
    )
    loser = create_record(
        web.store, "company", {"name": "Kea Ltd", "email": "sales@kea.example"}, clock=web.clock
    )
    hidden = [{"field": "email", "access": "hidden"}]
    assert web.api("admin").put(f"{API}/cards/company/viewer", json=hidden).status_code == 200
    params = {"survivor": survivor, "loser": loser}
    seen = web.api("viewer").get(f"{API}/merges/preview", params=params).json()
    assert "example" not in str(seen) and any(d["group"] == "name" for d in seen), seen
    full = web.api("admin").get(f"{API}/merges/preview", params=params).json()
    assert "sales@kea.example" in str(full)


def test_s003_05_a_merge_cannot_take_a_value_the_card_does_not_let_the_role_edit(
    web: WebWorld,
) -> None:
    survivor = create_record(
        web.store, "company", {"name": "Tui", "email": "tui@t.example"}, clock=web.clock
    )
    loser = create_record(
        web.store, "company", {"name": "Tui Ltd", "email": "sales@tui.example"}, clock=web.clock
    )
    read_only = [{"field": "email", "access": "show"}]
    assert web.api("admin").put(f"{API}/cards/company/editor", json=read_only).status_code == 200
    body = {"loser_id": loser, "choices": {"email": loser}}
    refused = web.api("editor").post(f"{API}/accounts/{survivor}/merge", json=body)
    assert refused.status_code == 403 and refused.json()["field"] == "email", refused.text
    assert web.api().get(f"{API}/customers/{loser}").status_code == 200  # nothing merged
    # Choosing the survivor's own email (or leaving it) is no edit: the merge goes ahead.
    body = {"loser_id": loser, "choices": {"email": survivor, "name": loser}}
    merged = web.api("editor").post(f"{API}/accounts/{survivor}/merge", json=body)
    assert merged.status_code == 200, merged.text
    shown = web.api().get(f"{API}/customers/{survivor}").json()["fields"]
    assert shown["email"] == "tui@t.example"


def test_s003_05_people_search_does_not_look_in_a_code_the_card_hides(web: WebWorld) -> None:
    person = _account(web, first_name="Wiremu", last_name="Kora")
    assert web.api().put(f"{API}/accounts/{person}/code", json={"code": "WK-991"}).is_success
    hidden = [{"field": "code", "access": "hidden"}]
    assert web.api("admin").put(f"{API}/cards/person/viewer", json=hidden).status_code == 200

    def found(role: str, term: str) -> list[int]:
        listed = web.api(role).get(f"{API}/people", params={"q": term}).json()
        return [p["id"] for p in listed]

    assert found("admin", "wk-991") == [person]
    assert found("viewer", "wk-991") == []
    assert found("viewer", "kora") == [person]


def test_s003_05_linking_cannot_take_a_value_the_card_does_not_let_the_role_edit(
    web: WebWorld,
) -> None:
    first = _account(web, first_name="Ana", last_name="Ngata")
    other = _account(web, first_name="Ana", last_name="Ngatai")
    read_only = [{"field": "last_name", "access": "show"}]
    assert web.api("admin").put(f"{API}/cards/person/editor", json=read_only).status_code == 200
    body = {"other_id": other, "choices": {"last_name": other}}
    refused = web.api("editor").post(f"{API}/people/{first}/links", json=body)
    assert refused.status_code == 403 and refused.json()["field"] == "last_name", refused.text
    # Either choice rewrites one record's last name: neither is the editor's to make.
    body = {"other_id": other, "choices": {"last_name": first}}
    assert web.api("editor").post(f"{API}/people/{first}/links", json=body).status_code == 403
    assert web.api().get(f"{API}/people/{first}").json()["fields"]["last_name"] == "Ngata"
    linked = web.api("admin").post(f"{API}/people/{first}/links", json=body)
    assert linked.json()["status"] == "linked"


def test_s003_06_account_codes_and_external_references(web: WebWorld) -> None:
    company = _company(web)
    person = _account(web, first_name="Moana", account_type="supplier")
    codes = web.api().put(f"{API}/accounts/{company}/codes", json={"debtor_code": "D1"})
    assert codes.json() == {"changed": {"debtor_code": [None, "D1"]}}
    dup = web.api().put(f"{API}/accounts/{person}/codes", json={"debtor_code": "D1"})
    assert dup.status_code == 422 and dup.json()["field"] == "debtor_code"
    assert web.api().put(f"{API}/accounts/{person}/codes", json={"creditor_code": "C1"}).json() == {
        "changed": {"creditor_code": [None, "C1"]}
    }

    url = f"{API}/people/{person}/references"
    added = web.api().post(url, json={"kind": "skype", "value": "moana.k"})
    assert added.status_code == 201 and added.json() == [{"kind": "skype", "value": "moana.k"}]
    assert web.api().post(url, json={"kind": "myspace", "value": "x"}).status_code == 422
    assert web.api("viewer").get(url).json() == [{"kind": "skype", "value": "moana.k"}]
    assert web.api().delete(url, params={"kind": "skype", "value": "moana.k"}).json() == []
    assert web.api().delete(url, params={"kind": "skype", "value": "moana.k"}).status_code == 409


def test_a_logged_in_post_without_the_csrf_token_is_refused(web: WebWorld) -> None:
    client, token = web.browser("editor")
    body = {"fields": {"first_name": "Csrf"}}
    assert client.post(f"{API}/people/accounts", json=body).status_code == 403
    ok = client.post(f"{API}/people/accounts", json=body, headers={"X-CSRF-Token": token})
    assert ok.status_code == 201


def test_a_company_is_not_found_as_a_person(web: WebWorld) -> None:
    company = _company(web)
    response = web.api("viewer").get(f"{API}/people/{company}")
    assert response.status_code == 404 and "it is a company" in response.json()["detail"]


def test_s003_04_an_account_merge_keeps_the_losers_sales_history_on_the_survivor(
    web: WebWorld,
) -> None:
    survivor, loser = _company(web, "Kea", "K1"), _company(web, "Kea Ltd", "K2")
    sale = {"customer_id": loser, "number": "S-77", "kind": "sale", "amount": 42.0}
    sale["at"] = "2026-03-01T10:00:00Z"
    assert web.api().post(f"{API}/transactions", json=sale).status_code == 201
    merged = web.api().post(f"{API}/accounts/{survivor}/merge", json={"loser_id": loser})
    assert merged.status_code == 200, merged.text
    history = web.api().get(f"{API}/customers/{survivor}/history").json()
    assert [t["number"] for t in history["items"]] == ["S-77"]


def test_s003_01_a_contact_whose_company_field_is_no_id_is_refused_naming_the_field(
    web: WebWorld,
) -> None:
    company = _company(web)
    body = {"company_id": company, "fields": {"first_name": "Rua", "company": "²"}}
    refused = web.api().post(f"{API}/people/contacts", json=body)
    assert refused.status_code == 422 and refused.json()["field"] == "company"
    assert "²" in refused.json()["detail"]


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


def test_s003_04_an_account_merge_gives_the_survivor_the_losers_photo_at_its_own_address(
    web: WebWorld,
) -> None:
    survivor, loser = _company(web, "Kaka", "K1"), _company(web, "Kaka Ltd", "K2")
    api = web.api()
    photo = {"photo": ("p.png", PNG, "image/png")}
    assert api.put(f"{API}/customers/{loser}/photo", files=photo).status_code == 200
    merged = api.post(f"{API}/accounts/{survivor}/merge", json={"loser_id": loser})
    assert merged.status_code == 200, merged.text
    url = api.get(f"{API}/customers/{survivor}").json()["fields"]["photo_url"]
    assert url.startswith(f"{API}/customers/{survivor}/photo?v=")
    assert api.get(url).content == PNG
    # The point of sale is sent that address with the survivor's next change.
    feed = api.get(f"{API}/changes").json()["items"]
    assert [i["fields"]["photo_url"] for i in feed if i["id"] == survivor] == [url]


def test_s003_04_an_account_merge_choosing_the_losers_company_name_renames_the_survivor(
    web: WebWorld,
) -> None:
    fields = web.customer_fields(company_name="Kea Traders")
    survivor = web.api().post(f"{API}/customers", json={"fields": fields}).json()["id"]
    fields = web.customer_fields(company_name="Kea Trading Company")
    loser = web.api().post(f"{API}/customers", json={"fields": fields}).json()["id"]
    body = {"loser_id": loser, "choices": {"company_name": loser}}
    merged = web.api().post(f"{API}/accounts/{survivor}/merge", json=body)
    assert merged.status_code == 200, merged.text
    shown = web.api().get(f"{API}/customers/{survivor}").json()["fields"]
    assert (shown["company_name"], shown["name"]) == ("Kea Trading Company", "Kea Trading Company")
    found = web.api().get(f"{API}/customers", params={"q": "kea trading"}).json()["items"]
    assert [c["id"] for c in found] == [survivor]
