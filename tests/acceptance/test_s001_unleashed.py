"""S001: CRM companies and contacts <-> Unleashed, against the sandbox over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from accord.clock import ManualClock
from accord.config import Schedule
from accord.errors import ConfigError, UnsupportedConfigurationError, ValidationError
from accord.presets import preset
from accord.service import queries
from accord.service import unleashed as service
from accord.service.records import create_record, edit_record
from accord.store import bookkeeping, links, records
from tests.acceptance.unleashed_support import SYSTEM, UnleashedWorld, open_world


@pytest.fixture
def world(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[UnleashedWorld]:
    yield from open_world(tmp_path, clock, monkeypatch)


def _contact_key(contact: dict[str, Any], customer: dict[str, Any]) -> str:
    return f"{contact['Guid']}@{customer['Guid']}"


def _wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not condition():
        time.sleep(0.05)


def _postal(customer: dict[str, Any]) -> dict[str, Any]:
    return next(a for a in customer["Addresses"] if a["AddressType"] == "Postal")


def test_s001_01_company_and_contact_fields_sync_both_ways(world: UnleashedWorld) -> None:
    world.sync()
    customer = world.customer_with_contacts()
    guid, contact = customer["Guid"], customer["Contacts"][0]
    key = _contact_key(contact, customer)
    other_person = next(
        g for g in world.salesperson_guids() if g != (customer["SalesPerson"] or {}).get("Guid")
    )
    world.erp.save_customer(
        guid,
        {
            "CustomerName": "Kauri Timber Yards Ltd",
            "PhoneNumber": "09 379 4412",
            "Website": "https://kauritimber.example.co.nz",
            "SalesPerson": {"Guid": other_person},
            "Addresses": [
                {"AddressType": "Postal", "StreetAddress": "12 Wharf Road", "City": "Nelson"}
            ],
        },
    )
    world.erp.save_contact(
        guid,
        contact["Guid"],
        {
            "ContactFirstName": "Maria",
            "ContactLastName": "Tane",
            "Email": "maria@tane.example",
            "PhoneNumber": "09 379 4413",
            "MobileNumber": "021 555 0134",
            "FaxNumber": "09 379 4414",
        },
        creating=False,
    )
    world.sync()
    company = world.company(guid).data
    assert company["name"] == "Kauri Timber Yards Ltd"
    assert company["phone"] == "+6493794412"
    assert company["website"] == "https://kauritimber.example.co.nz"
    assert world.record(company["account_manager"]).data["name"] == next(
        p["FullName"] for p in world.erp.salespersons(1, 100).items if p["Guid"] == other_person
    )
    assert company["address.postal.line1"] == "12 Wharf Road"
    assert company["address.postal.city"] == "Nelson"
    person = world.contact(key).data
    assert (person["first_name"], person["last_name"], person["email"]) == (
        "Maria",
        "Tane",
        "maria@tane.example",
    )
    assert (person["phone"], person["mobile"], person["fax"]) == (
        "+6493794413",
        "+64215550134",
        "+6493794414",
    )

    company_id, person_id = world.company(guid).id, world.contact(key).id
    manager = next(c for c in service.account_manager_choices(world.store, SYSTEM))
    edit_record(
        world.store,
        company_id,
        {
            "name": "Kauri Timber Yards (Nelson) Ltd",
            "phone": "03 548 1200",
            "website": "https://www.kauri-nelson.example.co.nz",
            "account_manager": manager.record_id,
            "address.postal.line1": "14 Wharf Road",
            "address.postal.city": "Richmond",
        },
        clock=world.clock,
    )
    edit_record(
        world.store,
        person_id,
        {
            "first_name": "Mariah",
            "last_name": "Tane-Smith",
            "email": "m.tane@kauri.example",
            "phone": "03 548 1201",
            "mobile": "027 123 4567",
            "fax": "03 548 1202",
        },
        clock=world.clock,
    )
    world.sync()
    erp = world.customer(guid)
    assert erp["CustomerName"] == "Kauri Timber Yards (Nelson) Ltd"
    assert erp["PhoneNumber"] == "+6435481200"
    assert erp["Website"] == "https://www.kauri-nelson.example.co.nz"
    assert erp["SalesPerson"]["FullName"] == manager.name
    assert (_postal(erp)["StreetAddress"], _postal(erp)["City"]) == ("14 Wharf Road", "Richmond")
    erp_contact = next(c for c in erp["Contacts"] if c["Guid"] == contact["Guid"])
    assert (erp_contact["ContactFirstName"], erp_contact["ContactLastName"]) == (
        "Mariah",
        "Tane-Smith",
    )
    assert erp_contact["Email"] == "m.tane@kauri.example"
    assert (erp_contact["PhoneNumber"], erp_contact["MobileNumber"], erp_contact["FaxNumber"]) == (
        "+6435481201",
        "+64271234567",
        "+6435481202",
    )
    assert queries.open_errors(world.store) == []


def test_s001_02_erp_contacts_arrive_by_themselves_hub_contacts_only_when_asked(
    world: UnleashedWorld,
) -> None:
    world.sync()
    customer = world.customer_with_contacts()
    guid = customer["Guid"]
    made = world.erp.save_contact(
        guid, None, {"ContactFirstName": "Hemi", "ContactLastName": "Ngata"}, creating=True
    )
    world.sync()
    assert world.contact(f"{made['Guid']}@{guid}").data["first_name"] == "Hemi"

    company = world.company(guid)
    person = create_record(
        world.store,
        "person",
        {"kind": "contact", "company": company.id, "first_name": "Aroha", "last_name": "Rangi"},
        clock=world.clock,
    )
    before = len(world.customer(guid)["Contacts"])
    world.sync()
    assert len(world.customer(guid)["Contacts"]) == before  # never created automatically
    assert service.contact_state(world.store, SYSTEM, person).state == "not sent"

    state = service.push_contact(world.config, SYSTEM, person, store=world.store, clock=world.clock)
    assert state.state == "synced" and state.external_id and not state.errors
    created = [c for c in world.customer(guid)["Contacts"] if c["ContactFirstName"] == "Aroha"]
    assert len(created) == 1 and created[0]["ContactLastName"] == "Rangi"
    assert state.external_id == f"{created[0]['Guid']}@{guid}"
    world.sync()
    assert len(world.customer(guid)["Contacts"]) == before + 1  # asked once, made once


def test_s001_02_the_send_action_needs_a_company_linked_to_an_active_customer(
    world: UnleashedWorld,
) -> None:
    world.sync()
    loose = create_record(world.store, "company", {"code": "HUBONLY", "name": "Hub Only Ltd"})
    orphan = create_record(
        world.store, "person", {"kind": "contact", "company": loose, "first_name": "Lone"}
    )
    reason = service.push_refusal(world.config, SYSTEM, world.store, orphan)
    assert reason is not None and "not linked to an Unleashed customer" in reason
    with pytest.raises(ValidationError, match="not linked"):
        service.push_contact(world.config, SYSTEM, orphan, store=world.store, clock=world.clock)

    customer = world.customer_with_contacts()
    world.erp.save_customer(customer["Guid"], {"Obsolete": True})
    world.sync()
    company = world.company(customer["Guid"])
    person = create_record(
        world.store, "person", {"kind": "contact", "company": company.id, "first_name": "Late"}
    )
    reason = service.push_refusal(world.config, SYSTEM, world.store, person)
    assert reason is not None and "not active" in reason
    assert service.contact_state(world.store, SYSTEM, person).state == "not sent"


def test_s001_03_hub_edits_reach_unleashed_within_seconds_erp_edits_wait_for_the_import(
    world: UnleashedWorld,
) -> None:
    from accord.jobs.inline import InlineScheduler

    world.sync()
    customer = world.customers()[0]
    company = world.company(customer["Guid"])
    world.set_system(schedule=Schedule(push="immediate", pull="12h"))
    scheduler = InlineScheduler(world.config, poll=0.1)
    scheduler.start()
    try:
        # The service's first look imports once; the next import is 12 hours away.
        _wait_for(lambda: any(o.direction == "pull" for o in scheduler.history))
        world.erp.save_customer(customer["Guid"], {"PhoneNumber": "09 555 0101"})
        edit_record(world.store, company.id, {"name": "Immediate Ltd"})
        _wait_for(lambda: world.customer(customer["Guid"])["CustomerName"] == "Immediate Ltd")
        assert world.customer(customer["Guid"])["CustomerName"] == "Immediate Ltd"
        # The Unleashed edit waits for the scheduled import: pushes do not pull.
        assert world.company(customer["Guid"]).data["phone"] != "+6495550101"
    finally:
        scheduler.stop()
    world.sync(push=False)  # the scheduled import
    assert world.company(customer["Guid"]).data["phone"] == "+6495550101"


def test_s001_04_account_managers_are_limited_to_matching_sales_persons(
    world: UnleashedWorld,
) -> None:
    world.sync()
    choices = service.account_manager_choices(world.store, SYSTEM)
    names = {p["FullName"] for p in world.erp.salespersons(1, 100).items}
    assert {c.name for c in choices} == names and len(choices) == 4
    stranger = create_record(world.store, "salesperson", {"name": "Hub User", "email": "hub@x.nz"})
    assert stranger not in {c.record_id for c in choices}
    customer = world.customers()[1]
    company = world.company(customer["Guid"])
    with pytest.raises(ValidationError, match="no matching Unleashed sales person") as refused:
        service.set_account_manager(
            world.config, SYSTEM, company.id, stranger, store=world.store, clock=world.clock
        )
    assert refused.value.field == "account_manager"
    chosen = next(c for c in choices if c.record_id != company.data.get("account_manager"))
    service.set_account_manager(
        world.config, SYSTEM, company.id, chosen.record_id, store=world.store, clock=world.clock
    )
    world.sync()
    assert world.customer(customer["Guid"])["SalesPerson"]["FullName"] == chosen.name

    world.set_options(account_manager_sync=False)
    service.set_account_manager(
        world.config, SYSTEM, company.id, stranger, store=world.store, clock=world.clock
    )
    other = next(g for g in world.salesperson_guids())
    world.erp.save_customer(
        customer["Guid"], {"SalesPerson": {"Guid": other}, "PhoneNumber": "07 838 1111"}
    )
    world.sync()
    assert world.customer(customer["Guid"])["SalesPerson"]["Guid"] == other  # not overwritten
    hub = world.company(customer["Guid"]).data
    assert hub["account_manager"] == stranger  # not taken from Unleashed either
    assert hub["phone"] == "+6478381111"  # the rest still syncs


def test_s001_05_nightly_job_sets_account_managers_to_what_unleashed_holds(
    world: UnleashedWorld,
) -> None:
    world.sync()
    world.set_options(account_manager_sync=False)
    stranger = create_record(world.store, "salesperson", {"name": "Hub User"})
    wrong = [world.company(c["Guid"]).id for c in world.customers()[:3]]
    for company_id in wrong:
        edit_record(world.store, company_id, {"account_manager": stranger})
    job = preset("crm-unleashed").nightly_jobs["fix_account_managers"]
    assert "off" in job(world.config, SYSTEM)  # not enabled: nothing happens
    assert world.record(wrong[0]).data["account_manager"] == stranger

    world.set_options(nightly_account_manager_fix=True)
    said = job(world.config, SYSTEM)
    assert "set 3 account managers" in said
    by_guid = {}
    with world.store.transaction() as conn:
        for customer in world.customers():
            guid = (customer["SalesPerson"] or {}).get("Guid")
            by_guid[customer["Guid"]] = guid
        people = dict(links.external_ids(conn, SYSTEM, "salesperson"))
    for customer in world.customers():
        expected = people.get(by_guid[customer["Guid"]]) if by_guid[customer["Guid"]] else None
        assert world.company(customer["Guid"]).data.get("account_manager") == expected
    with world.store.transaction() as conn:
        journal = records.history(conn, wrong[0])
    assert [e.actor for e in journal].count(service.NIGHTLY_ACTOR) == 1  # said who did it
    writes_before = world.sandbox.stats.by_method["POST"]
    world.sync()
    assert world.sandbox.stats.by_method["POST"] == writes_before  # nothing sent back


def test_s001_06_address_sync_has_its_own_switch(world: UnleashedWorld) -> None:
    world.sync()
    customer = world.customers()[2]
    guid = customer["Guid"]
    world.erp.save_customer(guid, {"Addresses": [{"AddressType": "Postal", "City": "Napier"}]})
    world.sync()
    assert world.company(guid).data["address.postal.city"] == "Napier"

    world.set_options(address_sync=False)
    world.erp.save_customer(guid, {"Addresses": [{"AddressType": "Postal", "City": "Hastings"}]})
    edit_record(
        world.store,
        world.company(guid).id,
        {"address.postal.line1": "1 Hub Street", "name": "Renamed Ltd"},
    )
    world.sync()
    assert world.company(guid).data["address.postal.city"] == "Napier"
    assert _postal(world.customer(guid))["StreetAddress"] != "1 Hub Street"
    assert world.customer(guid)["CustomerName"] == "Renamed Ltd"  # other fields still sync


def test_s001_07_all_switches_off_keeps_the_one_way_import(world: UnleashedWorld) -> None:
    world.sync()
    world.set_options(
        sync_enabled=False,
        account_manager_sync=False,
        nightly_account_manager_fix=False,
        address_sync=False,
    )
    customer = world.customers()[0]
    company = world.company(customer["Guid"])
    edit_record(world.store, company.id, {"name": "Only In The Hub Ltd"})
    world.erp.save_customer(customer["Guid"], {"PhoneNumber": "04 499 1234"})
    made = world.erp.save_customer(
        "0b6c9c55-3a1e-4e0a-9a9e-7f5d1c2b3a40",
        {"CustomerCode": "NEWCO", "CustomerName": "New Co Ltd"},
    )
    world.sync()
    assert world.customer(customer["Guid"])["CustomerName"] != "Only In The Hub Ltd"
    assert world.company(customer["Guid"]).data["phone"] == "+6444991234"
    assert world.company(made["Guid"]).data["name"] == "New Co Ltd"
    person = create_record(world.store, "person", {"kind": "contact", "company": company.id})
    with pytest.raises(ValidationError, match="two-way sync with Unleashed is off"):
        service.push_contact(world.config, SYSTEM, person, store=world.store, clock=world.clock)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"operating_companies": 2}, "several operating companies"),
        ({"advanced_ledgers": True}, "advanced ledgers"),
    ],
)
def test_s001_08_unsupported_configurations_are_refused_before_anything_syncs(
    world: UnleashedWorld, options: dict[str, Any], words: str
) -> None:
    world.set_options(**options)
    with pytest.raises(UnsupportedConfigurationError, match=words):
        world.sync()
    with world.store.transaction() as conn:
        assert records.totals(conn) == {}
    assert world.sandbox.stats.requests == 0


def test_s001_09_a_refused_website_is_skipped_with_its_reason_the_rest_syncs(
    world: UnleashedWorld,
) -> None:
    world.sync()
    first, second = world.customers()[:2]
    bad = "https://shop.example.co.nz/{catalogue}"
    edit_record(world.store, world.company(first["Guid"]).id, {"website": bad, "name": "First Ltd"})
    edit_record(world.store, world.company(second["Guid"]).id, {"name": "Second Ltd"})
    world.sync()
    erp_first = world.customer(first["Guid"])
    assert erp_first["CustomerName"] == "First Ltd"
    assert erp_first["Website"] == first["Website"]
    assert world.customer(second["Guid"])["CustomerName"] == "Second Ltd"
    (error,) = queries.open_errors(world.store, SYSTEM)
    assert error.record_id == world.company(first["Guid"]).id and error.field == "website"
    assert "not a valid web address" in error.message
    assert world.company(first["Guid"]).data["website"] == bad  # the hub keeps what was typed


def test_s001_09_a_value_the_hub_refuses_from_unleashed_is_named_the_rest_syncs(
    world: UnleashedWorld,
) -> None:
    world.sync()
    customer = world.customer_with_contacts()
    contact = customer["Contacts"][0]
    world.erp.save_contact(
        customer["Guid"],
        contact["Guid"],
        {"Email": "ann..lee@example.co.nz", "ContactFirstName": "Annabel"},
        creating=False,
    )
    world.sync()
    person = world.contact(_contact_key(contact, customer))
    assert person.data["first_name"] == "Annabel"
    assert person.data["email"] == contact["Email"]  # the bad value is left out
    (error,) = queries.open_errors(world.store, SYSTEM)
    assert error.field == "email" and error.external_id == _contact_key(contact, customer)
    assert "ann..lee@example.co.nz" in error.message


def test_s001_10_conflicting_edits_follow_a_stated_rule_and_are_logged(
    world: UnleashedWorld,
) -> None:
    world.sync()
    first, second = world.customers()[:2]
    # First customer: the hub edits, then Unleashed: the later edit (Unleashed) wins.
    edit_record(
        world.store, world.company(first["Guid"]).id, {"phone": "09 111 1111"}, clock=world.clock
    )
    world.clock.advance(timedelta(seconds=5))
    world.erp.save_customer(first["Guid"], {"PhoneNumber": "09 222 2222"})
    # Second customer: Unleashed edits, then the hub: the hub wins and is sent.
    world.erp.save_customer(second["Guid"], {"PhoneNumber": "09 333 3333"})
    world.clock.advance(timedelta(seconds=5))
    edit_record(
        world.store, world.company(second["Guid"]).id, {"phone": "09 444 4444"}, clock=world.clock
    )
    world.sync()
    assert world.company(first["Guid"]).data["phone"] == "+6492222222"
    assert world.customer(first["Guid"])["PhoneNumber"] == "09 222 2222"
    assert world.company(second["Guid"]).data["phone"] == "+6494444444"
    assert world.customer(second["Guid"])["PhoneNumber"] == "+6494444444"
    with world.store.transaction() as conn:
        logged = bookkeeping.list_conflicts(conn, 50)
    winners = {(c.record_id, c.field): c.winner for c in logged}
    assert winners == {
        (world.company(first["Guid"]).id, "phone"): "system",
        (world.company(second["Guid"]).id, "phone"): "hub",
    }
    assert all(c.reason for c in logged)


def test_s001_10_an_exact_tie_goes_to_the_hub(world: UnleashedWorld) -> None:
    world.sync()
    customer = world.customers()[2]
    moment = world.clock.now() + timedelta(hours=1)
    world.clock.set(moment)
    edit_record(
        world.store, world.company(customer["Guid"]).id, {"phone": "09 777 0001"}, clock=world.clock
    )
    world.clock.set(moment)  # Unleashed stamps its edit in the very same millisecond
    world.erp.save_customer(customer["Guid"], {"PhoneNumber": "09 777 0002"})
    world.sync()
    assert world.company(customer["Guid"]).data["phone"] == "+6497770001"
    assert world.customer(customer["Guid"])["PhoneNumber"] == "+6497770001"
    with world.store.transaction() as conn:
        (logged,) = bookkeeping.list_conflicts(conn, 50)
    assert logged.winner == "hub" and "tie goes to hub" in logged.reason


def test_s001_11_contacts_go_to_the_default_company_of_their_customer(
    world: UnleashedWorld,
) -> None:
    customer = world.customer_with_contacts()
    code = customer["CustomerCode"]
    default = create_record(world.store, "company", {"code": code, "name": "Head Office"})
    branch = create_record(world.store, "company", {"code": code, "name": "Branch"})
    world.sync()
    assert world.company(customer["Guid"]).id == default
    keys = [_contact_key(c, customer) for c in customer["Contacts"]]
    assert {world.contact(k).data["company"] for k in keys} == {default}
    with world.store.transaction() as conn:
        everyone = [
            r
            for r in records.changed_since(conn, "person", 0, 10_000)
            if r.data.get("company") == branch
        ]
    assert everyone == []


def test_s001_12_companies_and_contacts_share_one_switch(world: UnleashedWorld) -> None:
    world.set_options(contact_sync=False)
    with pytest.raises(ConfigError, match="contacts cannot be switched off alone"):
        world.sync()
    world.set_options()
    options = dict(world.config.systems[SYSTEM].options)
    del options["contact_sync"]
    world.set_system(options=options)
    world.sync()
    customer = world.customer_with_contacts()
    company, contact = world.company(customer["Guid"]), customer["Contacts"][0]
    person = world.contact(_contact_key(contact, customer))
    world.set_options(sync_enabled=False)
    edit_record(world.store, company.id, {"name": "Switched Off Ltd"})
    edit_record(world.store, person.id, {"last_name": "Offline"})
    world.sync()
    erp = world.customer(customer["Guid"])
    assert erp["CustomerName"] != "Switched Off Ltd"
    assert (
        next(c for c in erp["Contacts"] if c["Guid"] == contact["Guid"])["ContactLastName"]
        != "Offline"
    )
    world.set_options(sync_enabled=True)
    world.sync()
    erp = world.customer(customer["Guid"])
    assert erp["CustomerName"] == "Switched Off Ltd"
    assert (
        next(c for c in erp["Contacts"] if c["Guid"] == contact["Guid"])["ContactLastName"]
        == "Offline"
    )


@pytest.mark.postgres
def test_s001_02_send_to_unleashed_with_the_hub_on_postgresql(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, pg_schema_url: str
) -> None:
    for world in open_world(tmp_path, clock, monkeypatch, hub_url=pg_schema_url):
        world.sync()
        customer = world.customer_with_contacts()
        company = world.company(customer["Guid"])
        person = create_record(
            world.store,
            "person",
            {"kind": "contact", "company": company.id, "first_name": "Pg", "last_name": "Hub"},
        )
        edit_record(world.store, company.id, {"name": "On PostgreSQL Ltd"})
        state = service.push_contact(
            world.config, SYSTEM, person, store=world.store, clock=world.clock
        )
        assert state.state == "synced"
        erp = world.customer(customer["Guid"])
        assert erp["CustomerName"] == "On PostgreSQL Ltd"
        assert [c["ContactLastName"] for c in erp["Contacts"]].count("Hub") == 1


def test_s001_02_a_contact_deleted_in_unleashed_is_deactivated_in_the_hub(
    world: UnleashedWorld,
) -> None:
    world.sync()
    customer = world.customer_with_contacts()
    guid = customer["Guid"]
    gone, kept = customer["Contacts"][0], customer["Contacts"][1:]
    gone_key = _contact_key(gone, customer)
    person_id = world.contact(gone_key).id
    others = [_contact_key(c, other) for other in world.customers() for c in other["Contacts"]]
    world.clock.advance(timedelta(minutes=5))
    world.erp.delete_contact(guid, gone["Guid"])
    world.sync()

    person, changes = queries.history(world.store, person_id)
    # Deactivated, not deleted: nothing is lost.
    assert person.data.get("active") is False and not person.deleted
    assert person.data["last_name"] == (gone["ContactLastName"] or "").strip()
    deactivated = [c for c in changes if c.field == "active" and c.new is False]
    assert len(deactivated) == 1 and deactivated[0].system == SYSTEM
    # Nothing else moved: every other contact, of this customer and the others, is active.
    assert [
        k for k in others if k != gone_key and world.contact(k).data.get("active") is False
    ] == []
    assert {c["Guid"] for c in world.customer(guid)["Contacts"]} == {c["Guid"] for c in kept}
    world.sync()  # and it stays so: the next run finds nothing more to do
    assert len([c for c in queries.history(world.store, person_id)[1] if c.field == "active"]) == 1
