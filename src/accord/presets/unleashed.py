"""Preset "crm-unleashed": CRM companies and contacts <-> Unleashed customers (seed 001).

Company fields both ways: name, phone, website, account manager (<-> sales person) and
the main address (<-> the customer's postal address); contacts: first and last name,
email, phone, mobile, fax (S001-01). Unleashed creates reach the hub automatically; a hub
contact reaches Unleashed only when asked for (``accord push contact``), and only under a
company linked to an active Unleashed customer (S001-02). Customers are created in
Unleashed, never from the hub. Conflicts: the later edit of a field wins, an exact tie
goes to the hub, and every conflict is logged (S001-10). Contacts follow the hub company
linked to their customer, its default company (S001-11).

Options (``[systems.X] options = {...}``):

* ``sync_enabled`` (default true): two-way sync of companies and contacts together; off
  leaves the one-way import running (S001-07, S001-12: there is no contact-only switch).
* ``account_manager_sync`` (default true): off leaves account managers out (S001-04).
* ``nightly_account_manager_fix`` (default false): the nightly job sets every company's
  account manager to the one Unleashed holds (S001-05).
* ``address_sync`` (default true): the main address <-> the postal address (S001-06).
* ``operating_companies`` (default 1) and ``advanced_ledgers`` (default false): what the
  Unleashed account uses; several operating companies or advanced ledgers are refused
  (S001-08).
* connector settings: ``api_id``, ``client_type``, ``timeout_seconds``, ``max_retries``,
  ``page_size``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from accord.connectors.unleashed import (
    CONNECTOR_OPTIONS,
    CONTACTS,
    CUSTOMERS,
    ENTITIES,
    SALESPERSONS,
)
from accord.errors import ConfigError, UnsupportedConfigurationError
from accord.mapping.profile import ConflictPolicy, ConflictRule, EntityMap, FieldMap, Profile
from accord.presets import Preset

if TYPE_CHECKING:
    from accord.config import Config

NAME = "crm-unleashed"
ADDRESS_FIELDS = (
    ("address.postal.line1", "PostalAddress.StreetAddress"),
    ("address.postal.line2", "PostalAddress.StreetAddress2"),
    ("address.postal.line3", "PostalAddress.Suburb"),
    ("address.postal.city", "PostalAddress.City"),
    ("address.postal.state", "PostalAddress.Region"),
    ("address.postal.postcode", "PostalAddress.PostalCode"),
    ("address.postal.country", "PostalAddress.Country"),
)
SWITCHES = ("sync_enabled", "account_manager_sync", "nightly_account_manager_fix", "address_sync")
REFUSED_SWITCHES = {
    "contact_sync": "companies and contacts are synced together under sync_enabled; contacts"
    " cannot be switched off alone",
    "company_sync": "companies and contacts are synced together under sync_enabled; companies"
    " cannot be switched off alone",
}
ACCOUNT_OPTIONS = ("operating_companies", "advanced_ledgers")


@dataclass(frozen=True)
class Settings:
    sync_enabled: bool = True
    account_manager_sync: bool = True
    nightly_account_manager_fix: bool = False
    address_sync: bool = True

    @property
    def two_way(self) -> bool:
        return self.sync_enabled


def settings(options: Mapping[str, Any] | None) -> Settings:
    """The preset's switches from a system's options, refusing what it cannot serve."""
    options = dict(options or {})
    for name, reason in REFUSED_SWITCHES.items():
        if name in options:
            raise ConfigError(f"option {name}: {reason}", field=name)
    known = {*SWITCHES, *ACCOUNT_OPTIONS, *CONNECTOR_OPTIONS}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(
            f"the {NAME} preset does not know option(s) {', '.join(unknown)};"
            f" known: {', '.join(sorted(known))}"
        )
    for name in (*SWITCHES, "advanced_ledgers"):
        if name in options and not isinstance(options[name], bool):
            raise ConfigError(f"option {name} must be true or false", field=name)
    _check_connector_options(options)
    companies = options.get("operating_companies", 1)
    if not isinstance(companies, int) or isinstance(companies, bool) or companies < 1:
        raise ConfigError(
            "option operating_companies must be a whole number from 1", field="operating_companies"
        )
    if companies > 1:
        raise UnsupportedConfigurationError(
            f"Unleashed sync is not available for accounts with several operating companies"
            f" ({companies} configured): each would need its own customer list, and the"
            " integration serves one; nothing was synced",
            field="operating_companies",
        )
    if options.get("advanced_ledgers"):
        raise UnsupportedConfigurationError(
            "Unleashed sync is not available for accounts with advanced ledgers enabled;"
            " nothing was synced",
            field="advanced_ledgers",
        )
    return Settings(**{name: options[name] for name in SWITCHES if name in options})


def _check_connector_options(options: Mapping[str, Any]) -> None:
    for name in ("api_id", "client_type"):
        if name in options and not (isinstance(options[name], str) and options[name].strip()):
            raise ConfigError(f"option {name} must be a non-empty text", field=name)
    ranges = {"page_size": (1, 1000), "max_retries": (0, 20)}
    for name, (low, high) in ranges.items():
        value = options.get(name, low)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"option {name} must be a whole number {low}..{high}", field=name)
    timeout = options.get("timeout_seconds", 30)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise ConfigError(
            "option timeout_seconds must be a number of seconds above 0", field="timeout_seconds"
        )


def tables() -> list[Any]:
    return list(ENTITIES)


def profile(
    conflict: ConflictRule = "field_lww",
    region: str = "NZ",
    owns_codes: bool = True,
    options: Mapping[str, Any] | None = None,
) -> Profile:
    chosen = settings(options)
    policy = ConflictPolicy(rule=conflict, tie_winner="hub")
    push = chosen.two_way
    salespersons = EntityMap(
        "salesperson",
        SALESPERSONS,
        [
            FieldMap("name", "FullName", "in"),
            FieldMap("email", "Email", "in"),
            FieldMap("active", "Obsolete", "in", transform="inverted"),
        ],
        create_in_system="never",
        on_system_delete="deactivate",
        on_hub_delete="ignore",
        conflict=policy,
        match=False,  # no code to match on: each Unleashed sales person is its own record
        push=False,  # sales persons are kept in Unleashed; the hub follows
        region=region,
    )
    company_fields = [
        FieldMap("code", "CustomerCode", "in" if owns_codes else "none"),
        FieldMap("name", "CustomerName"),
        FieldMap("phone", "PhoneNumber"),
        FieldMap("website", "Website"),
        FieldMap("active", "Obsolete", transform="inverted"),
    ]
    if chosen.account_manager_sync:
        company_fields.append(FieldMap("account_manager", "SalesPerson"))
    if chosen.address_sync:
        company_fields += [FieldMap(canonical, native) for canonical, native in ADDRESS_FIELDS]
    companies = EntityMap(
        "company",
        CUSTOMERS,
        company_fields,
        create_in_system="never",  # customers are opened in Unleashed (terms, tax, currency)
        on_system_delete="deactivate",
        on_hub_delete="deactivate",
        conflict=policy,
        push=push,
        region=region,
    )
    contacts = EntityMap(
        "person",
        CONTACTS,
        [
            # The contact's customer is chosen when it is created there and never moves.
            FieldMap("company", "CustomerGuid", only_on_create=True),
            FieldMap("first_name", "ContactFirstName"),
            FieldMap("last_name", "ContactLastName"),
            FieldMap("email", "Email"),
            FieldMap("phone", "PhoneNumber"),
            FieldMap("mobile", "MobileNumber"),
            FieldMap("fax", "FaxNumber"),
        ],
        create_in_system="on_request",  # only the per-contact "send to Unleashed" action
        # A contact deleted there (seen when its customer is read with all its contacts)
        # is deactivated in the hub, as deletes are everywhere: nothing is lost.
        on_system_delete="deactivate",
        # Contacts there have no inactive flag and a delete cannot be undone: a hub delete
        # leaves Unleashed alone.
        on_hub_delete="ignore",
        conflict=policy,
        push=push,
        hub_defaults={"kind": "contact"},
        required_for_create=("company",),
        region=region,
    )
    return Profile(NAME, [salespersons, companies, contacts])


def _fix_account_managers(config: Config, name: str) -> str:
    from accord.service.unleashed import fix_account_managers

    return fix_account_managers(config, name).summary()


PRESET = Preset(
    name=NAME,
    description="CRM companies and contacts <-> Unleashed customers, contacts, sales persons",
    profile=profile,
    tables=tables,
    nightly_jobs={"fix_account_managers": _fix_account_managers},
    switches={name: getattr(Settings(), name) for name in SWITCHES},
)
