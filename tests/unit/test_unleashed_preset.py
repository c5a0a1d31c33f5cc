"""The crm-unleashed preset: its switches shape the profile; bad options are refused."""

from __future__ import annotations

from typing import Any

import pytest

from accord.errors import ConfigError, UnsupportedConfigurationError
from accord.mapping.profile import Profile
from accord.presets import preset


def _profile(**options: Any) -> Profile:
    return preset("crm-unleashed").profile(options=options)


def _fields(profile: Profile, entity: str) -> set[str]:
    emap = profile.entity_map(entity)
    assert emap is not None
    return {f.canonical for f in emap.fields}


def test_defaults_sync_everything_two_way_and_create_contacts_only_on_request() -> None:
    profile = _profile(api_id="x")
    company, person = profile.entity_map("company"), profile.entity_map("person")
    assert company is not None and person is not None
    assert company.push and person.push and company.create_in_system == "never"
    assert person.create_in_system == "on_request" and person.required_for_create == ("company",)
    assert {"name", "phone", "website", "account_manager", "address.postal.city"} <= _fields(
        profile, "company"
    )
    assert {"first_name", "last_name", "email", "phone", "mobile", "fax"} <= _fields(
        profile, "person"
    )


def test_switches_leave_out_account_managers_addresses_or_the_whole_push() -> None:
    assert "account_manager" not in _fields(_profile(account_manager_sync=False), "company")
    assert not any(
        f.startswith("address.") for f in _fields(_profile(address_sync=False), "company")
    )
    off = _profile(sync_enabled=False)
    assert [m.push for m in off.entities] == [False, False, False]
    assert [m.pull for m in off.entities] == [True, True, True]  # the import keeps running


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"colour": "blue"}, "does not know option"),
        ({"address_sync": "yes"}, "must be true or false"),
        ({"operating_companies": 0}, "whole number"),
        ({"contact_sync": False}, "cannot be switched off alone"),
        ({"page_size": 5000}, "page_size must be a whole number 1..1000"),
        ({"timeout_seconds": "soon"}, "timeout_seconds"),
        ({"api_id": ""}, "api_id must be a non-empty text"),
    ],
)
def test_bad_options_are_refused_by_name(options: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        _profile(**options)


def test_unsupported_accounts_are_refused_not_half_served() -> None:
    with pytest.raises(UnsupportedConfigurationError, match="operating companies") as refused:
        _profile(operating_companies=3)
    assert refused.value.field == "operating_companies"
    with pytest.raises(UnsupportedConfigurationError, match="advanced ledgers"):
        _profile(advanced_ledgers=True)
