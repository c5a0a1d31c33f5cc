"""Preset "exact-online": two-way sync of Exact Online CRM accounts and contacts.

Incremental pulls run through the sync endpoints; updates are PUTs of the changed fields;
a hub delete blocks the account in Exact (deactivation, never deletion). Contacts have no
active flag in Exact's API, so a hub delete leaves the contact alone. Exact's account
codes come in and are never changed by the hub. A customer is created in Exact only when
asked for (S004-06), unless ``options.create = "auto"``.

An account the hub creates carries its create's idempotency marker in its code (an
18-digit number derived from the marker), so a create repeated after a lost answer or a
crash finds the account instead of making a second (U-03). With
``options.account_codes = "exact"`` Exact numbers those accounts too, and a crash between
a create and its bookkeeping can then leave a second account.

Options: ``create`` ("on_request" | "auto"), ``account_codes`` ("marker" | "exact"),
``ca_file`` (a CA bundle for a server with a private certificate, e.g. the sandbox over
TLS).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from accord.errors import ConfigError
from accord.mapping.profile import (
    ConflictPolicy,
    ConflictRule,
    CreatePolicy,
    EntityMap,
    FieldMap,
    Profile,
)
from accord.presets import Preset

if TYPE_CHECKING:
    from accord.config import Config

OPTIONS = ("create", "account_codes", "ca_file")
ACCOUNT_TEXT = [
    ("name", "Name", 50),
    ("phone", "Phone", 30),
    ("fax", "Fax", 30),
    ("email", "Email", 100),
    ("website", "Website", 100),
    ("address.postal.line1", "AddressLine1", 100),
    ("address.postal.line2", "AddressLine2", 100),
    ("address.postal.line3", "AddressLine3", 100),
    ("address.postal.city", "City", 50),
    ("address.postal.postcode", "Postcode", 20),
    ("address.postal.state", "State", 50),
    ("address.postal.country", "Country", 2),
]
CONTACT_TEXT = [
    ("first_name", "FirstName", 50),
    ("middle_name", "MiddleName", 50),
    ("last_name", "LastName", 50),
    ("initials", "Initials", 20),
    ("job_title", "JobTitleDescription", 100),
    ("email", "Email", 100),
    ("phone", "Phone", 30),
    ("mobile", "Mobile", 30),
    ("fax", "BusinessFax", 30),
    ("notes", "Notes", 4096),
]


def tables() -> list[Any]:
    from accord.connectors.exact import RESOURCES

    return list(RESOURCES.values())


def _create_policy(options: Mapping[str, Any]) -> CreatePolicy:
    value = options.get("create", "on_request")
    if value not in ("on_request", "auto"):
        raise ConfigError(f'options.create must be "on_request" or "auto", not {value!r}')
    return "auto" if value == "auto" else "on_request"


def profile(
    conflict: ConflictRule = "field_lww",
    region: str = "NZ",
    owns_codes: bool = True,
    options: Mapping[str, Any] | None = None,
) -> Profile:
    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError(
            f"unknown option(s) for the exact-online preset: {', '.join(unknown)}"
            f" (known: {', '.join(OPTIONS)})"
        )
    create = _create_policy(options)
    if options.get("account_codes", "marker") not in ("marker", "exact"):
        raise ConfigError(
            f'options.account_codes must be "marker" or "exact", not {options["account_codes"]!r}'
        )
    policy = ConflictPolicy(rule=conflict)
    accounts = EntityMap(
        "company",
        "accounts",
        [
            FieldMap("code", "Code", "in" if owns_codes else "none", transform="str"),
            *[FieldMap(c, n, max_length=m) for c, n, m in ACCOUNT_TEXT],
            FieldMap("active", "Blocked", transform="inverted"),
        ],
        create_in_system=create,
        on_system_delete="deactivate",
        on_hub_delete="deactivate",
        conflict=policy,
        region=region,
    )
    contacts = EntityMap(
        "person",
        "contacts",
        [
            FieldMap("company", "Account"),
            *[FieldMap(c, n, max_length=m) for c, n, m in CONTACT_TEXT],
            FieldMap("is_primary", "IsMainContact"),
        ],
        create_in_system=create,
        on_system_delete="deactivate",
        on_hub_delete="ignore",  # Exact's contacts carry no active flag
        conflict=policy,
        hub_defaults={"kind": "contact"},
        required_for_create=("company",),
        region=region,
    )
    return Profile("exact-online", [accounts, contacts])


def _refresh_financials(config: Config, name: str) -> str:
    from accord.service.financials import nightly_refresh

    return nightly_refresh(config, name)


PRESET = Preset(
    name="exact-online",
    description="Exact Online (REST API): CRM accounts and contacts, two-way",
    profile=profile,
    tables=tables,
    nightly_jobs={"exact-financials": _refresh_financials},
)
