"""The canonical entities and their fields.

A hub record is a flat mapping of canonical field name to value, so the merge works field
by field. Addresses are typed and flattened as ``address.<type>.<part>`` (for example
``address.postal.line1``); custom fields are ``custom.<name>`` and need no declaration.
References to other hub records (a person's company, a company's account manager) hold the
referenced hub record's id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from accord.errors import ConfigError

FieldKind = Literal["text", "bool", "email", "phone", "website", "ref", "number"]

ADDRESS_TYPES = ("postal", "delivery")
ADDRESS_PARTS = ("line1", "line2", "line3", "line4", "city", "state", "postcode", "country")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: FieldKind = "text"
    ref_entity: str | None = None


@dataclass(frozen=True)
class EntitySpec:
    name: str
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    label_fields: tuple[str, ...] = ()

    def spec_for(self, name: str) -> FieldSpec:
        if name in self.fields:
            return self.fields[name]
        if name.startswith("custom."):
            return FieldSpec(name)
        raise ConfigError(f"unknown field {name!r} of entity {self.name!r}", entity=self.name)

    def label(self, data: dict[str, object]) -> str:
        parts = [str(data[f]) for f in self.label_fields if data.get(f)]
        return " ".join(parts)


def _fields(*specs: FieldSpec) -> dict[str, FieldSpec]:
    return {spec.name: spec for spec in specs}


def _address_fields() -> list[FieldSpec]:
    return [FieldSpec(f"address.{kind}.{part}") for kind in ADDRESS_TYPES for part in ADDRESS_PARTS]


COMPANY = EntitySpec(
    "company",
    _fields(
        FieldSpec("code"),
        FieldSpec("name"),
        FieldSpec("phone", "phone"),
        FieldSpec("fax", "phone"),
        FieldSpec("email", "email"),
        FieldSpec("website", "website"),
        FieldSpec("account_manager", "ref", ref_entity="salesperson"),
        FieldSpec("active", "bool"),
        FieldSpec("notes"),
        FieldSpec("tax_id"),
        # Customer record (point of sale / retail, S002): a person or a business.
        FieldSpec("first_name"),
        FieldSpec("last_name"),
        FieldSpec("company_name"),
        FieldSpec("home_location"),
        FieldSpec("location_group"),  # which locations see the customer
        FieldSpec("price_level"),  # A, B or C
        FieldSpec("discount", "number"),  # automatic discount, percent
        FieldSpec("tax_exempt", "bool"),
        FieldSpec("employee", "bool"),
        FieldSpec("ar_account_type"),  # accounts receivable: none, open item, balance forward
        FieldSpec("credit_limit", "number"),
        FieldSpec("photo_url"),
        # Accounts (S003): customer, prospect or supplier; debtor and creditor codes.
        FieldSpec("account_type"),
        FieldSpec("debtor_code"),
        FieldSpec("creditor_code"),
        *_address_fields(),
    ),
    label_fields=("name",),
)

PERSON = EntitySpec(
    "person",
    _fields(
        FieldSpec("kind"),  # "contact" (of a company) or "account" (a person account)
        FieldSpec("company", "ref", ref_entity="company"),
        # A person account's account code, type and debtor/creditor codes (S003).
        FieldSpec("code"),
        FieldSpec("account_type"),
        FieldSpec("debtor_code"),
        FieldSpec("creditor_code"),
        FieldSpec("salutation"),
        FieldSpec("first_name"),
        FieldSpec("middle_name"),
        FieldSpec("last_name"),
        FieldSpec("initials"),
        FieldSpec("suffix"),
        FieldSpec("job_title"),
        FieldSpec("department"),
        FieldSpec("email", "email"),
        FieldSpec("phone", "phone"),
        FieldSpec("mobile", "phone"),
        FieldSpec("fax", "phone"),
        FieldSpec("notes"),
        FieldSpec("is_primary", "bool"),
        FieldSpec("active", "bool"),
        FieldSpec("language"),
        *_address_fields(),
    ),
    label_fields=("first_name", "last_name"),
)

SALESPERSON = EntitySpec(
    "salesperson",
    _fields(
        FieldSpec("code"),
        FieldSpec("name"),
        FieldSpec("email", "email"),
        FieldSpec("active", "bool"),
    ),
    label_fields=("name",),
)

ENTITIES: dict[str, EntitySpec] = {e.name: e for e in (SALESPERSON, COMPANY, PERSON)}
# Referenced entities first, so a pull can resolve references to records it just linked.
SYNC_ORDER: tuple[str, ...] = ("salesperson", "company", "person")


def entity_spec(name: str) -> EntitySpec:
    try:
        return ENTITIES[name]
    except KeyError:
        raise ConfigError(f"unknown entity {name!r}; known: {', '.join(ENTITIES)}") from None
