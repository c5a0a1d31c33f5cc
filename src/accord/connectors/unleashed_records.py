"""Unleashed JSON objects <-> the flat native values the mapping layer sees.

A customer's default (postal) address is flattened as ``PostalAddress.<part>``; its sales
person (documented both as a name and as an object) becomes the sales person's Guid; a
contact carries its customer's Guid as ``CustomerGuid``. Contact keys are
``<contact Guid>@<customer Guid>``, because every contact call names its customer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from accord.clock import to_iso
from accord.connectors.base import ExternalRecord, NativeValues
from accord.connectors.unleashed_http import api_date_ms, ms_to_datetime

CUSTOMER_FIELDS = (
    "CustomerCode",
    "CustomerName",
    "PhoneNumber",
    "MobileNumber",
    "FaxNumber",
    "Email",
    "Website",
    "Notes",
    "ContactFirstName",
    "ContactLastName",
    "Obsolete",
)
ADDRESS_PARTS = (
    "StreetAddress",
    "StreetAddress2",
    "Suburb",
    "City",
    "Region",
    "Country",
    "PostalCode",
)
ADDRESS_PREFIX = "PostalAddress."
DEFAULT_ADDRESS_TYPE = "Postal"
CONTACT_FIELDS = (
    "ContactFirstName",
    "ContactLastName",
    "Email",
    "PhoneNumber",
    "MobileNumber",
    "FaxNumber",
)
SALESPERSON_FIELDS = ("FullName", "Email", "Obsolete")
CUSTOMER_GUID = "CustomerGuid"
SALES_PERSON = "SalesPerson"


def contact_key(contact_guid: str, customer_guid: str) -> str:
    return f"{contact_guid}@{customer_guid}"


def split_contact_key(key: str) -> tuple[str, str]:
    contact, sep, customer = key.partition("@")
    if not sep or not contact or not customer:
        raise ValueError(f"not an Unleashed contact key (contact@customer): {key!r}")
    return contact, customer


def version_of(ms: int | None, values: Mapping[str, Any]) -> str:
    # The stamp alone could repeat for two edits in one millisecond; the hash cannot.
    digest = hashlib.sha1(orjson.dumps(dict(values), option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"{ms or 0}-{digest[:12]}"


def record(key: str, values: NativeValues, ms: int | None) -> ExternalRecord:
    modified = to_iso(ms_to_datetime(ms)) if ms is not None else None
    return ExternalRecord(key, values, version_of(ms, values), modified)


def default_address(item: Mapping[str, Any]) -> Mapping[str, Any]:
    addresses = [a for a in item.get("Addresses") or [] if isinstance(a, dict)]
    for address in addresses:
        if str(address.get("AddressType") or "").casefold() == DEFAULT_ADDRESS_TYPE.casefold():
            return address
    return {}


def sales_person_guid(value: Any, guid_by_name: Mapping[str, str]) -> str | None:
    """A sales person given as an object (Guid, FullName) or as a bare name -> its Guid."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        if value.get("Guid"):
            return str(value["Guid"])
        value = value.get("FullName")
        if not value:
            return None
    name = str(value)
    return guid_by_name.get(name.casefold(), name)


def customer_values(item: Mapping[str, Any], guid_by_name: Mapping[str, str]) -> NativeValues:
    values: NativeValues = {name: item.get(name) for name in CUSTOMER_FIELDS}
    values[SALES_PERSON] = sales_person_guid(item.get(SALES_PERSON), guid_by_name)
    address = default_address(item)
    for part in ADDRESS_PARTS:
        values[ADDRESS_PREFIX + part] = address.get(part)
    return values


def customer_record(item: Mapping[str, Any], guid_by_name: Mapping[str, str]) -> ExternalRecord:
    return record(
        str(item["Guid"]),
        customer_values(item, guid_by_name),
        api_date_ms(item.get("LastModifiedOn")),
    )


def contact_record(item: Mapping[str, Any], customer_guid: str) -> ExternalRecord:
    values: NativeValues = {name: item.get(name) for name in CONTACT_FIELDS}
    values[CUSTOMER_GUID] = customer_guid
    key = contact_key(str(item["Guid"]), customer_guid)
    return record(key, values, api_date_ms(item.get("LastModifiedOn")))


def salesperson_record(item: Mapping[str, Any]) -> ExternalRecord:
    values: NativeValues = {name: item.get(name) for name in SALESPERSON_FIELDS}
    return record(str(item["Guid"]), values, api_date_ms(item.get("LastModifiedOn")))


def customer_body(values: Mapping[str, Any]) -> dict[str, Any]:
    """Flat native values -> the JSON of a customer write (only the fields given)."""
    body: dict[str, Any] = {name: values[name] for name in CUSTOMER_FIELDS if name in values}
    if SALES_PERSON in values:
        guid = values[SALES_PERSON]
        body[SALES_PERSON] = {"Guid": guid} if guid else None
    address = {
        part: values[ADDRESS_PREFIX + part]
        for part in ADDRESS_PARTS
        if ADDRESS_PREFIX + part in values
    }
    if address:
        body["Addresses"] = [{"AddressType": DEFAULT_ADDRESS_TYPE, **address}]
    return body


def contact_body(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: values[name] for name in CONTACT_FIELDS if name in values}


def native_field(refused: str | None) -> str | None:
    """The flat native name of a field the service named in an error body."""
    if not refused:
        return None
    if refused.startswith("Addresses"):
        part = refused.rsplit(".", 1)[-1]
        return ADDRESS_PREFIX + part if part in ADDRESS_PARTS else refused
    return refused
