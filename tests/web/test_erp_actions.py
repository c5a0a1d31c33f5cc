"""S001-02 "send to ERP" and S001-04 account managers in the web app and the API, against
a sandbox Unleashed over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.clock import ManualClock
from accord.service import unleashed
from accord.service.records import create_record
from tests.web.unleashed_support import UnleashedWeb, unleashed_web

SYSTEM = "unleashed"


@pytest.fixture
def web(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[UnleashedWeb]:
    yield from unleashed_web(tmp_path, clock, monkeypatch)


def _linked_company(web: UnleashedWeb) -> tuple[int, str]:
    customer = web.world.customer_with_contacts()
    return web.world.company(customer["Guid"]).id, customer["Guid"]


def test_s001_02_api_sends_a_contact_on_request_and_shows_its_state(web: UnleashedWeb) -> None:
    web.world.sync()
    company, guid = _linked_company(web)
    person = create_record(
        web.world.store,
        "person",
        {"kind": "contact", "company": company, "first_name": "Aroha", "last_name": "Rangi"},
    )
    api = web.api("editor")
    before = api.get(f"/api/v1/people/{person}/send")
    assert before.status_code == 200
    (option,) = before.json()
    assert option["system"] == SYSTEM and option["can_send"] is True
    assert option["state"]["state"] == "not sent"
    web.world.sync()  # never created by itself
    assert not [c for c in web.world.customer(guid)["Contacts"] if c["ContactFirstName"] == "Aroha"]

    assert web.api("viewer").post(f"/api/v1/people/{person}/send/{SYSTEM}").status_code == 403
    sent = api.post(f"/api/v1/people/{person}/send/{SYSTEM}")
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["state"] == "synced" and body["errors"] == []
    created = [c for c in web.world.customer(guid)["Contacts"] if c["ContactFirstName"] == "Aroha"]
    assert len(created) == 1 and body["external_id"] == f"{created[0]['Guid']}@{guid}"
    after = api.get(f"/api/v1/people/{person}/send").json()[0]
    assert after["can_send"] is False and after["state"]["state"] == "synced"
    assert api.post(f"/api/v1/people/{person}/send/nowhere").status_code == 404


def test_s001_02_api_refuses_a_contact_whose_company_is_not_linked(web: UnleashedWeb) -> None:
    web.world.sync()
    loose = create_record(web.world.store, "company", {"code": "HUBONLY", "name": "Hub Only"})
    orphan = create_record(
        web.world.store, "person", {"kind": "contact", "company": loose, "first_name": "Lone"}
    )
    api = web.api("editor")
    option = api.get(f"/api/v1/people/{orphan}/send").json()[0]
    assert option["can_send"] is False
    assert f"company {loose} is not linked" in option["refusal"]
    refused = api.post(f"/api/v1/people/{orphan}/send/{SYSTEM}")
    assert refused.status_code == 422
    assert "not linked" in refused.json()["detail"] and refused.json()["record"] == str(orphan)
    assert api.get(f"/api/v1/people/{orphan}/send").json()[0]["state"]["state"] == "not sent"


def test_s001_02_the_contact_card_sends_and_then_shows_the_state(web: UnleashedWeb) -> None:
    web.world.sync()
    company, guid = _linked_company(web)
    person = create_record(
        web.world.store,
        "person",
        {"kind": "contact", "company": company, "first_name": "Mereana"},
    )
    loose = create_record(web.world.store, "company", {"code": "LOOSE", "name": "Loose"})
    orphan = create_record(
        web.world.store, "person", {"kind": "contact", "company": loose, "first_name": "Nope"}
    )
    client, csrf = web.browser("editor")
    card = client.get(f"/people/{person}")
    assert f'action="/people/{person}/send/{SYSTEM}"' in card.text
    assert f'id="send-state-{SYSTEM}">not sent<' in card.text
    orphan_card = client.get(f"/people/{orphan}").text
    assert "disabled aria-describedby" in orphan_card and "is not linked to" in orphan_card

    assert client.post(f"/people/{person}/send/{SYSTEM}").status_code == 403  # no CSRF token
    sent = client.post(f"/people/{person}/send/{SYSTEM}", data={"csrf_token": csrf})
    assert sent.status_code == 303
    shown = client.get(sent.headers["location"]).text
    assert f"Sent to {SYSTEM}: synced." in shown
    assert f'id="send-state-{SYSTEM}">synced<' in shown
    assert [c for c in web.world.customer(guid)["Contacts"] if c["ContactFirstName"] == "Mereana"]

    refused = client.post(f"/people/{orphan}/send/{SYSTEM}", data={"csrf_token": csrf})
    assert refused.status_code == 422 and "cannot send to" in refused.text


def test_s001_04_the_company_form_offers_only_matching_sales_people(web: UnleashedWeb) -> None:
    web.world.sync()
    company, guid = _linked_company(web)
    stranger = create_record(
        web.world.store, "salesperson", {"name": "Hub Only Rep", "email": "rep@hub.example"}
    )
    allowed = unleashed.account_manager_choices(web.world.store, SYSTEM)
    assert len(allowed) == 4
    client, csrf = web.browser("editor")
    card = client.get(f"/customers/{company}").text
    assert 'id="f-account_manager"' in card and "Hub Only Rep" not in card
    assert all(c.name in card for c in allowed)
    assert f"matching sales person in {SYSTEM}" in card

    listed = web.api("viewer").get("/api/v1/account-managers").json()
    assert {m["id"] for m in listed["items"]} == {c.record_id for c in allowed}
    assert listed["narrowed_by"] == [SYSTEM]

    api = web.api("editor")
    refused = api.patch(
        f"/api/v1/customers/{company}", json={"fields": {"account_manager": stranger}}
    )
    assert refused.status_code == 422
    assert (
        refused.json()["field"] == "account_manager"
        and "no matching sales person" in (refused.json()["detail"])
    )
    page = client.post(
        f"/customers/{company}", data={"account_manager": str(stranger), "csrf_token": csrf}
    )
    assert page.status_code == 422 and "(field: account_manager)" in page.text
    assert web.world.company(guid).data.get("account_manager") != stranger

    chosen = next(
        c for c in allowed if c.record_id != web.world.company(guid).data.get("account_manager")
    )
    saved = client.post(
        f"/customers/{company}", data={"account_manager": str(chosen.record_id), "csrf_token": csrf}
    )
    assert saved.status_code == 303
    web.world.sync()
    assert web.world.customer(guid)["SalesPerson"]["FullName"] == chosen.name


def test_s001_04_with_account_manager_sync_off_any_sales_person_can_be_chosen(
    web: UnleashedWeb,
) -> None:
    web.world.sync()
    web.world.set_options(account_manager_sync=False)
    company, _ = _linked_company(web)
    stranger = create_record(web.world.store, "salesperson", {"name": "Hub Only Rep"})
    client, _csrf = web.browser("editor")
    assert "Hub Only Rep" in client.get(f"/customers/{company}").text
    api = web.api("editor")
    assert api.get("/api/v1/account-managers").json()["narrowed_by"] == []
    done = api.patch(f"/api/v1/customers/{company}", json={"fields": {"account_manager": stranger}})
    assert done.status_code == 200 and done.json()["changed"]["account_manager"][1] == stranger
    nobody = api.patch(f"/api/v1/customers/{company}", json={"fields": {"account_manager": 999999}})
    assert nobody.status_code == 422 and nobody.json()["field"] == "account_manager"


def test_s001_04_restoring_an_account_manager_unleashed_cannot_hold_is_refused(
    web: UnleashedWeb,
) -> None:
    web.world.sync()
    web.world.set_options(account_manager_sync=False)
    company, _ = _linked_company(web)
    stranger = create_record(web.world.store, "salesperson", {"name": "Hub Only Rep"})
    api = web.api("editor")
    assert api.patch(
        f"/api/v1/customers/{company}", json={"fields": {"account_manager": stranger}}
    ).is_success
    web.world.set_options(account_manager_sync=True)
    chosen = unleashed.account_manager_choices(web.world.store, SYSTEM)[0]
    assert api.patch(
        f"/api/v1/customers/{company}", json={"fields": {"account_manager": chosen.record_id}}
    ).is_success
    history = api.get(f"/api/v1/records/{company}/history").json()
    seq = next(
        c["seq"] for c in history if c["field"] == "account_manager" and c["new"] == stranger
    )
    refused = api.post(
        f"/api/v1/records/{company}/restore", json={"seq": seq, "field": "account_manager"}
    )
    assert refused.status_code == 422 and refused.json()["field"] == "account_manager"
    assert web.world.company(_linked_company(web)[1]).data["account_manager"] == chosen.record_id
