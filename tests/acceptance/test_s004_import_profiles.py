"""S004-02..04: import profiles from Exact Online: saved, listed, edited, saved as new,
run in the three modes with a report; contacts find their company by key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from accord.errors import AccordError, ConfigError
from accord.sandbox.exact_data import ENTITY_ACCOUNT, ENTITY_CONTACT
from accord.service import import_profiles as profiles
from accord.service.import_profiles import ImportProfile
from accord.service.records import create_record
from accord.store import records
from tests.acceptance.exact_support import SYSTEM, ExactWorld, WorldFactory

COMPANY_MAPPING = {"name": "Name", "phone": "Phone", "email": "Email", "code": "Code"}


def _companies(world: ExactWorld) -> ImportProfile:
    return profiles.save(
        world.store,
        ImportProfile("Customers", SYSTEM, "company", "account", dict(COMPANY_MAPPING), "ID"),
    )


def _hub(world: ExactWorld, record_id: int) -> records.HubRecord:
    with world.store.transaction() as conn:
        found = records.get(conn, record_id)
    assert found is not None
    return found


def test_s004_03_profiles_are_saved_listed_opened_edited_and_saved_as_new(
    make_exact: WorldFactory,
) -> None:
    world = make_exact()
    saved = _companies(world)
    assert saved.id is not None
    opened = profiles.get(world.store, "Customers")
    assert opened == saved and opened.hub_key == "custom.exact_id"
    opened.mapping["website"] = "Website"
    profiles.save(world.store, opened)  # a selected profile is updated in place
    assert profiles.get(world.store, saved.id).mapping["website"] == "Website"
    copy = profiles.save_as_new(world.store, opened, "Customers by code")
    copy.key_field = "Code"
    profiles.save(world.store, copy)
    assert [p.title for p in profiles.list_profiles(world.store)] == [
        "Customers",
        "Customers by code",
    ]
    assert profiles.get(world.store, "Customers by code").hub_key == "code"
    assert profiles.get(world.store, "Customers").key_field == "ID"
    with pytest.raises(ConfigError, match="exists already"):
        profiles.save_as_new(world.store, opened, "Customers")
    with pytest.raises(ConfigError, match="no field 'Fax number'"):
        profiles.save(
            world.store, ImportProfile("Bad", SYSTEM, "company", "account", {"fax": "Fax number"})
        )
    with pytest.raises(ConfigError, match="imports from Exact accounts"):
        profiles.save(
            world.store, ImportProfile("Bad", SYSTEM, "company", "contact", {"name": "Name"})
        )


def test_s004_02_import_then_import_and_update_then_update(make_exact: WorldFactory) -> None:
    world = make_exact(accounts=5)
    profile = _companies(world)
    first = profiles.run(world.config, world.store, profile, "import")
    assert first.counts == {"created": 5, "updated": 0, "skipped": 0, "failed": 0}
    accounts = world.accounts()
    now = datetime.now(UTC)
    world.data.update(ENTITY_ACCOUNT, str(accounts[0]["ID"]), {"Name": "Changed Ltd"}, now)
    world.data.create(ENTITY_ACCOUNT, {"Name": "Brand New Ltd"}, now)

    again = profiles.run(world.config, world.store, profile, "import")
    assert again.counts == {"created": 1, "updated": 0, "skipped": 5, "failed": 0}
    assert all("already in the hub" in o.reason for o in again.outcomes if o.outcome == "skipped")

    world.data.create(ENTITY_ACCOUNT, {"Name": "Newer Still Ltd"}, now)
    world.data.update(ENTITY_ACCOUNT, str(accounts[1]["ID"]), {"Phone": "09 555 0000"}, now)
    update_only = profiles.run(world.config, world.store, profile, "update")
    assert update_only.counts == {"created": 0, "updated": 2, "skipped": 5, "failed": 0}
    skipped = [o for o in update_only.outcomes if o.outcome == "skipped"]
    assert any("no hub record with custom.exact_id" in o.reason for o in skipped)
    renamed = next(o for o in update_only.outcomes if o.label == "Changed Ltd")
    assert _hub(world, renamed.record_id or 0).data["name"] == "Changed Ltd"

    both = profiles.run(world.config, world.store, profile, "import_update")
    assert both.counts == {"created": 1, "updated": 0, "skipped": 6, "failed": 0}
    assert len(profiles.last_runs(world.store, profile.id or 0)) == 4


def test_s004_02_update_needs_the_key_linking_both_sides(make_exact: WorldFactory) -> None:
    world = make_exact(accounts=3)
    account = world.accounts()[0]
    # A hub customer whose id (code) matches the Exact account's code.
    hub_id = create_record(world.store, "company", {"name": "Old", "code": account["Code"].strip()})
    by_code = profiles.save(
        world.store,
        ImportProfile("By code", SYSTEM, "company", "account", dict(COMPANY_MAPPING), "Code"),
    )
    report = profiles.run(world.config, world.store, by_code, "update")
    assert report.counts["updated"] == 1 and report.counts["skipped"] == 2
    assert _hub(world, hub_id).data["name"] == account["Name"]


def test_s004_02_a_bad_value_is_left_out_and_named_without_blocking_others(
    make_exact: WorldFactory,
) -> None:
    world = make_exact(accounts=3)
    profile = _companies(world)
    broken = world.accounts()[0]
    with world.data.lock:
        world.data.rows[str(broken["ID"])].values["Email"] = "not-an-email"
    report = profiles.run(world.config, world.store, profile, "import")
    assert report.counts["created"] == 3
    noted = next(o for o in report.outcomes if o.key == str(broken["ID"]).lower())
    assert "left out email" in noted.reason
    assert "email" not in _hub(world, noted.record_id or 0).data


def test_s004_04_contacts_link_to_their_company_by_key(make_exact: WorldFactory) -> None:
    world = make_exact(accounts=4)
    contacts = profiles.save(
        world.store,
        ImportProfile(
            "Contacts",
            SYSTEM,
            "contact",
            "contact",
            {"first_name": "FirstName", "last_name": "LastName", "company": "Account"},
        ),
    )
    assert contacts.hub_key == "custom.exact_id"  # no key of its own: the ERP id
    before = profiles.run(world.config, world.store, contacts, "import")
    assert before.counts["failed"] == len(world.contacts())
    assert all("import the companies first" in o.reason for o in before.outcomes)

    profiles.run(world.config, world.store, _companies(world), "import")
    after = profiles.run(world.config, world.store, contacts, "import")
    assert after.counts == {
        "created": len(world.contacts()),
        "updated": 0,
        "skipped": 0,
        "failed": 0,
    }
    contact = world.contacts()[0]
    outcome = next(o for o in after.outcomes if o.key == str(contact["ID"]).lower())
    person = _hub(world, outcome.record_id or 0)
    company = _hub(world, person.data["company"])
    assert company.data["custom.exact_id"] == str(contact["Account"]).lower()
    assert person.data["last_name"] == contact["LastName"]

    world.data.update(
        ENTITY_CONTACT, str(contact["ID"]), {"LastName": "Renamed"}, datetime.now(UTC)
    )
    rerun = profiles.run(world.config, world.store, contacts, "import_update")
    assert rerun.counts["updated"] == 1 and rerun.counts["created"] == 0
    assert _hub(world, person.id).data["last_name"] == "Renamed"


def test_s004_03_an_unknown_profile_is_named(make_exact: WorldFactory) -> None:
    world = make_exact()
    with pytest.raises(AccordError, match="no import profile 'Nope'"):
        profiles.get(world.store, "Nope")
