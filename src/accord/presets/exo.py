"""Preset for an Exo-shaped ERP database (MYOB Exo Business, Debtors section).

Contacts are fanned out through ``DR_CONTACTS``: one ERP contact linked to several
customers becomes one hub contact per customer (S000-09). Column lengths are Exo's;
there is no department column, so the hub's department is never sent (S000-03).
Behaviour follows seed 000: ERP deletes leave the hub alone (S000-06), hub deletes
untick the ERP active flag (S000-07), the most recent edit wins (S000-05), and contacts
match on first and last name within a customer (S000-08).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accord.connectors.sql_tables import FanOut, TableSpec
from accord.errors import ConfigError
from accord.mapping.profile import ConflictPolicy, ConflictRule, EntityMap, FieldMap, Profile
from accord.presets import Preset

ADDRESS_COLUMNS = [
    ("ADDRESS1", "address.postal.line1"),
    ("ADDRESS2", "address.postal.line2"),
    ("ADDRESS3", "address.postal.line3"),
    ("ADDRESS4", "address.postal.line4"),
    ("ADDRESS5", "address.postal.city"),
]


def tables() -> list[TableSpec]:
    address = (*(column for column, _ in ADDRESS_COLUMNS), "POST_CODE")
    return [
        TableSpec(
            name="staff",
            table="STAFF",
            key="STAFFNO",
            columns=("STAFFNO", "NAME", "EMAIL", "ISACTIVE"),
            modified="LAST_UPDATED",
        ),
        TableSpec(
            name="customers",
            table="DR_ACCS",
            key="ACCNO",
            columns=(
                "ACCNO",
                "NAME",
                "PHONE",
                "FAX",
                "EMAIL",
                "WEBSITE",
                "SALESNO",
                "ISACTIVE",
                *address,
            ),
            modified="LAST_UPDATED",
            marker="X_ACCORD_ID",
        ),
        TableSpec(
            name="contacts",
            table="CONTACTS",
            key="SEQNO",
            columns=(
                "SALUTATION",
                "FIRSTNAME",
                "LASTNAME",
                "TITLE",
                "DIRECTPHONE",
                "MOBILE",
                "DIRECTFAX",
                "EMAIL",
                "NOTES",
                "ISACTIVE",
            ),
            modified="LAST_UPDATED",
            marker="X_ACCORD_ID",
            fan_out=FanOut(
                table="DR_CONTACTS",
                parent_key="ACCNO",
                child_key="CONTACT_SEQNO",
                columns=("DEFCONTACT",),
                copies=("FIRSTNAME", "LASTNAME", "DIRECTPHONE"),
                home="COMPANY_ACCNO",
            ),
        ),
    ]


def profile(
    conflict: ConflictRule = "record_lww",
    region: str = "NZ",
    owns_codes: bool = True,
    options: Mapping[str, Any] | None = None,
) -> Profile:
    if options:
        raise ConfigError(f"the exo preset takes no options (given: {', '.join(options)})")
    policy = ConflictPolicy(rule=conflict)
    staff = EntityMap(
        "salesperson",
        "staff",
        [
            FieldMap("code", "STAFFNO", "in"),
            FieldMap("name", "NAME", max_length=30),
            FieldMap("email", "EMAIL", max_length=60),
            FieldMap("active", "ISACTIVE", transform="yn"),
        ],
        create_in_system="never",
        on_system_delete="deactivate",
        on_hub_delete="ignore",
        conflict=policy,
        push=False,  # sales people are kept in the ERP; the hub follows
        region=region,
    )
    customers = EntityMap(
        "company",
        "customers",
        [
            FieldMap("code", "ACCNO", "in" if owns_codes else "none"),
            FieldMap("name", "NAME", max_length=60),
            FieldMap("phone", "PHONE", max_length=30),
            FieldMap("fax", "FAX", max_length=30),
            FieldMap("email", "EMAIL", max_length=60),
            FieldMap("website", "WEBSITE", max_length=60),
            FieldMap("account_manager", "SALESNO"),
            FieldMap("active", "ISACTIVE", transform="yn"),
            *[FieldMap(canonical, column, max_length=30) for column, canonical in ADDRESS_COLUMNS],
            FieldMap("address.postal.postcode", "POST_CODE", max_length=12),
        ],
        on_system_delete="deactivate",
        on_hub_delete="deactivate",
        conflict=policy,
        region=region,
    )
    contacts = EntityMap(
        "person",
        "contacts",
        [
            FieldMap("company", "ACCNO"),
            FieldMap("salutation", "SALUTATION", max_length=4),
            FieldMap("first_name", "FIRSTNAME", max_length=30),
            FieldMap("last_name", "LASTNAME", max_length=30),
            FieldMap("job_title", "TITLE", max_length=30),
            FieldMap("phone", "DIRECTPHONE", max_length=30),
            FieldMap("mobile", "MOBILE", max_length=30),
            FieldMap("fax", "DIRECTFAX", max_length=30),
            FieldMap("email", "EMAIL", max_length=60),
            FieldMap("notes", "NOTES", max_length=4096),
            FieldMap("is_primary", "DEFCONTACT", transform="yn"),
            FieldMap("active", "ISACTIVE", transform="yn"),
        ],
        on_system_delete="ignore",  # S000-06
        on_hub_delete="deactivate",  # S000-07
        conflict=policy,  # S000-05
        hub_defaults={"kind": "contact"},
        required_for_create=("company",),
        region=region,
    )
    return Profile("exo", [staff, customers, contacts])


PRESET = Preset(
    name="exo",
    description="Exo-shaped ERP database: debtor accounts, contacts shared through DR_CONTACTS",
    profile=profile,
    tables=tables,
)
