"""People pages (S003): the card, the copy-to-linked step, merges, card customisation."""

from __future__ import annotations

from accord.service import accounts, card_layout, customers, people, person_links
from accord.service.records import create_record
from accord.store import records
from tests.web.support import WebWorld, form_fields


def _data(web: WebWorld, record_id: int) -> dict[str, object]:
    with web.store.transaction() as conn:
        record = records.get(conn, record_id)
    assert record is not None
    return record.data


def test_s003_01_the_person_card_shows_names_as_text(web: WebWorld) -> None:
    client, csrf = web.browser("editor")
    created = client.post(
        "/people",
        data={
            "first_name": "<script>alert(1)</script>",
            "account_type": "supplier",
            "csrf_token": csrf,
        },
    )
    assert created.status_code == 303
    page = client.get(created.headers["location"])
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "person account (supplier)" in page.text
    listed = client.get("/people", params={"q": "script"})
    assert "&lt;script&gt;" in listed.text
    refused = client.post("/people", data={"first_name": "No token"})
    assert refused.status_code == 403


def test_s003_02_the_card_asks_before_copying_to_linked_records(web: WebWorld) -> None:
    company = create_record(web.store, "company", {"name": "Kahu", "code": "K1"}, clock=web.clock)
    own = people.create_person_account(web.store, {"first_name": "Mere"}, clock=web.clock)
    contact = people.create_contact(web.store, company, {"first_name": "Mere"}, clock=web.clock)
    person_links.link_people(web.store, own, contact, clock=web.clock)
    client, csrf = web.browser("editor")
    form = {"first_name": "Mere", "email": "mere@kahu.example", "csrf_token": csrf}

    asked = client.post(f"/people/{own}", data=form)
    assert asked.status_code == 200 and "Copy this change to all linked records?" in asked.text
    assert f"/people/{contact}" in asked.text and _data(web, own).get("email") is None
    no = client.post(f"/people/{own}", data={**form, "copy_to_linked": "no"})
    assert no.status_code == 303 and "Cancelled" in client.get(no.headers["location"]).text
    assert _data(web, own).get("email") is None
    yes = client.post(f"/people/{own}", data={**form, "copy_to_linked": "yes"})
    assert yes.status_code == 303
    assert _data(web, contact)["email"] == "mere@kahu.example"
    card = client.get(f"/people/{own}")
    assert "mere@kahu.example" in card.text and f"/people/{contact}" in card.text


def test_s003_02_a_contact_edited_on_the_customer_card_asks_too(web: WebWorld) -> None:
    company = customers.create_customer(
        web.store, web.customer_fields(company_name="Kahu Ltd"), clock=web.clock
    )
    own = people.create_person_account(web.store, {"first_name": "Mere"}, clock=web.clock)
    contact = people.create_contact(web.store, company, {"first_name": "Mere"}, clock=web.clock)
    person_links.link_people(web.store, own, contact, clock=web.clock)
    client, csrf = web.browser("editor")
    form = {
        "contact_id": str(contact),
        "first_name": "Mere",
        "email": "mere@kahu.example",
        "csrf_token": csrf,
    }
    asked = client.post(f"/customers/{company}/contacts", data=form)
    assert asked.status_code == 200 and "Copy this change to all linked records?" in asked.text
    assert f'action="/customers/{company}/contacts"' in asked.text
    assert _data(web, contact).get("email") is None
    no = client.post(f"/customers/{company}/contacts", data={**form, "copy_to_linked": "no"})
    assert no.status_code == 303 and _data(web, contact).get("email") is None
    yes = client.post(f"/customers/{company}/contacts", data={**form, "copy_to_linked": "yes"})
    assert yes.status_code == 303
    assert _data(web, contact)["email"] == _data(web, own)["email"] == "mere@kahu.example"

    api = web.api("editor")
    url = f"/api/v1/customers/{company}/contacts/{contact}"
    asks = api.patch(url, json={"fields": {"email": "mere@new.example"}})
    assert asks.status_code == 409 and f"record {own}" in asks.json()["detail"]
    copied = api.patch(url, json={"fields": {"email": "mere@new.example"}, "copy_to_linked": True})
    assert copied.json() == {"changed": {"email": ["mere@kahu.example", "mere@new.example"]}}
    assert _data(web, own)["email"] == "mere@new.example"


def test_s003_03_merge_two_people_side_by_side_choosing_fields(web: WebWorld) -> None:
    keep = people.create_person_account(
        web.store, {"salutation": "Mr", "first_name": "Hemi", "last_name": "Ruru"}, clock=web.clock
    )
    drop = people.create_person_account(
        web.store,
        {"salutation": "Dr", "first_name": "Hemi", "last_name": "Ruru-Smith"},
        clock=web.clock,
    )
    client, csrf = web.browser("editor")
    page = client.get("/merge", params={"survivor": keep, "loser": drop})
    assert page.status_code == 200
    assert "Ruru-Smith" in page.text and f'name="choice.title" value="{drop}"' in page.text
    done = client.post(
        "/merge",
        data={
            "survivor": keep,
            "loser": drop,
            "choice.title": drop,
            "choice.last_name": keep,
            "csrf_token": csrf,
        },
    )
    assert done.status_code == 303 and done.headers["location"].startswith(f"/people/{keep}")
    assert (_data(web, keep)["salutation"], _data(web, keep)["last_name"]) == ("Dr", "Ruru")
    assert client.get(f"/people/{drop}").status_code == 404

    # Linking two people who differ asks for the same choice first.
    other = people.create_person_account(web.store, {"salutation": "Sir"}, clock=web.clock)
    asked = client.post(f"/people/{keep}/link", data={"other": other, "csrf_token": csrf})
    assert asked.status_code == 200 and "choose the details to keep" in asked.text
    linked = client.post(
        f"/people/{keep}/link", data={"other": other, "choice.title": other, "csrf_token": csrf}
    )
    assert linked.status_code == 303 and _data(web, keep)["salutation"] == "Sir"


def test_s003_05_admins_customise_the_card_and_editors_get_it(web: WebWorld) -> None:
    rid = people.create_person_account(
        web.store, {"first_name": "Pita", "notes": "VIP notes"}, clock=web.clock
    )
    editor, token = web.browser("editor")
    assert editor.get("/cards/person").status_code == 403
    admin, csrf = web.browser("admin")
    form = {
        "role": "editor",
        "access.notes": "hidden",
        "access.code": "show",
        "mandatory.email": "on",
        "csrf_token": csrf,
    }
    saved = admin.post("/cards/person", data=form)
    assert saved.status_code == 303
    assert "Saved." in admin.get(saved.headers["location"]).text
    layout = card_layout.load_layout(web.store, "person", "editor")
    assert (layout.access("notes"), layout.access("code"), layout.mandatory()) == (
        "hidden",
        "show",
        ["email"],
    )
    card = editor.get(f"/people/{rid}")
    assert "VIP notes" not in card.text and 'id="c-code"' in card.text
    bad = admin.post("/cards/person", data={**form, "mandatory.notes": "on"})
    assert bad.status_code == 422 and "hidden field cannot be mandatory" in bad.text
    empty = editor.post(
        f"/people/{rid}", data={"first_name": "Pita", "email": "", "csrf_token": token}
    )
    assert empty.status_code == 422 and "email is mandatory" in empty.text


def test_s003_04_06_codes_change_through_their_own_form(web: WebWorld) -> None:
    taken = people.create_person_account(
        web.store, {"first_name": "Has", "debtor_code": "D1"}, clock=web.clock
    )
    rid = people.create_person_account(
        web.store, {"first_name": "Moana", "code": "P1"}, clock=web.clock
    )
    client, csrf = web.browser("editor")
    assert f'action="/people/{rid}/codes"' in client.get(f"/people/{rid}").text
    saved = client.post(
        f"/people/{rid}/codes",
        data={"code": "P2", "debtor_code": "", "creditor_code": "C7", "csrf_token": csrf},
    )
    assert saved.status_code == 303
    assert (_data(web, rid)["code"], _data(web, rid)["creditor_code"]) == ("P2", "C7")
    clash = client.post(
        f"/people/{rid}/codes", data={"code": "P2", "debtor_code": "D1", "csrf_token": csrf}
    )
    assert clash.status_code == 422 and f"already used by hub record {taken}" in clash.text
    # A code typed into the main card form is not an edit of the code.
    client.post(f"/people/{rid}", data={"first_name": "Moana", "code": "P9", "csrf_token": csrf})
    assert _data(web, rid)["code"] == "P2"


def test_s003_saving_the_person_card_keeps_what_others_changed_since_it_was_opened(
    web: WebWorld,
) -> None:
    rid = people.create_person_account(
        web.store, {"first_name": "Moana", "phone": "09 300 0001", "code": "P1"}, clock=web.clock
    )
    client, _ = web.browser("editor")
    page = client.get(f"/people/{rid}").text
    details, codes = form_fields(page, f"/people/{rid}"), form_fields(page, f"/people/{rid}/codes")
    # Meanwhile someone else changes the phone and sets the debtor code.
    people.edit_person(web.store, rid, {"phone": "09 300 0002"}, clock=web.clock)
    accounts.set_account_codes(web.store, rid, debtor_code="D1", clock=web.clock)
    saved = client.post(f"/people/{rid}", data={**details, "notes": "prefers email"})
    assert saved.status_code == 303, saved.text
    saved = client.post(f"/people/{rid}/codes", data={**codes, "creditor_code": "C7"})
    assert saved.status_code == 303, saved.text
    data = _data(web, rid)
    assert (data["notes"], data["phone"]) == ("prefers email", "+6493000002")
    assert (data["creditor_code"], data["debtor_code"], data["code"]) == ("C7", "D1", "P1")
    # A field emptied by the user is emptied.
    details = form_fields(client.get(f"/people/{rid}").text, f"/people/{rid}")
    assert client.post(f"/people/{rid}", data={**details, "notes": ""}).status_code == 303
    assert _data(web, rid).get("notes") is None and _data(web, rid)["phone"] == "+6493000002"


def test_s002_08_editing_a_contact_on_the_customer_page_changes_only_the_fields_filled_in(
    web: WebWorld,
) -> None:
    company = customers.create_customer(web.store, web.customer_fields(), clock=web.clock)
    kept = {"job_title": "spouse", "email": "aroha@walker.example", "notes": "prefers email"}
    contact = people.create_contact(
        web.store, company, {"first_name": "Aroha", "last_name": "Walker", **kept}, clock=web.clock
    )
    own = people.create_person_account(web.store, {"first_name": "Aroha"}, clock=web.clock)
    person_links.link_people(web.store, own, contact, clock=web.clock)
    client, _ = web.browser("editor")
    action = f"/customers/{company}/contacts"
    page = client.get(f"/customers/{company}", params={"tab": "contacts"}).text
    form = form_fields(page, action)
    form.update(contact_id=str(contact), first_name="Aroha", phone="09 300 1234")
    # The phone is copied to linked records: the S003-02 question comes first.
    asked = client.post(action, data=form)
    assert asked.status_code == 200 and "Copy this change to all linked records?" in asked.text
    assert {k: _data(web, contact).get(k) for k in kept} == kept
    yes = client.post(action, data={**form_fields(asked.text, action), "copy_to_linked": "yes"})
    assert yes.status_code == 303, yes.text
    data = _data(web, contact)
    assert {k: data.get(k) for k in kept} == kept and data["last_name"] == "Walker"
    assert data["phone"] == _data(web, own)["phone"] == "+6493001234"
    # A refused edit is shown again for the same contact, not for a new one.
    refused = client.post(action, data={**form, "email": "not an email"})
    assert refused.status_code == 422
    assert form_fields(refused.text, action)["contact_id"] == str(contact)
    assert "blank fields keep their values" in page  # and the form says so


def test_s003_05_the_people_list_leaves_out_what_the_person_card_hides(web: WebWorld) -> None:
    people.create_person_account(
        web.store, {"first_name": "Pita", "email": "pita@h.example"}, clock=web.clock
    )
    card_layout.save_layout(
        web.store, "person", "viewer", [card_layout.FieldRule("email", "hidden")]
    )
    viewer, _ = web.browser("viewer")
    page = viewer.get("/people", params={"q": "Pita"}).text
    assert "Pita" in page and "pita@h.example" not in page
    admin, _ = web.browser("admin")
    assert "pita@h.example" in admin.get("/people", params={"q": "Pita"}).text


def test_s003_05_the_merge_page_shows_no_value_the_card_hides(web: WebWorld) -> None:
    survivor = create_record(
        web.store, "company", {"name": "Kea", "email": "kea@k.example"}, clock=web.clock
    )
    loser = create_record(
        web.store, "company", {"name": "Kea Ltd", "email": "sales@kea.example"}, clock=web.clock
    )
    card_layout.save_layout(
        web.store, "company", "editor", [card_layout.FieldRule("email", "hidden")]
    )
    editor, _ = web.browser("editor")
    page = editor.get("/merge", params={"survivor": survivor, "loser": loser}).text
    assert "Kea Ltd" in page and "kea.example" not in page and "kea@k.example" not in page
    admin, _ = web.browser("admin")
    page = admin.get("/merge", params={"survivor": survivor, "loser": loser}).text
    assert "sales@kea.example" in page


def test_s000_07_a_person_is_deleted_from_the_card_once_confirmed(web: WebWorld) -> None:
    person = create_record(
        web.store, "person", {"first_name": "Rua", "last_name": "Kahu", "kind": "account"}
    )
    viewer, _ = web.browser("viewer")
    assert f'action="/people/{person}/delete"' not in viewer.get(f"/people/{person}").text
    client, csrf = web.browser("editor")
    card = client.get(f"/people/{person}").text
    assert form_fields(card, f"/people/{person}/delete") == {"csrf_token": csrf}
    unsure = client.post(f"/people/{person}/delete", data={"csrf_token": csrf})
    assert unsure.status_code == 422 and "tick the box to confirm" in unsure.text
    assert client.get(f"/people/{person}").status_code == 200  # not deleted
    done = client.post(f"/people/{person}/delete", data={"csrf_token": csrf, "sure": "yes"})
    assert done.status_code == 303
    assert "Deleted Rua Kahu." in client.get(done.headers["location"]).text
    assert client.get(f"/people/{person}").status_code == 404


def test_a_customer_is_deleted_from_its_page_once_confirmed(web: WebWorld) -> None:
    customer = customers.create_customer(web.store, web.customer_fields(last_name="Gone"))
    client, csrf = web.browser("editor")
    done = client.post(f"/customers/{customer}/delete", data={"csrf_token": csrf, "sure": "yes"})
    assert done.status_code == 303
    assert "Deleted" in client.get(done.headers["location"]).text
    assert client.get(f"/customers/{customer}").status_code == 404
