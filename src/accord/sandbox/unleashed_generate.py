"""Realistic data for the sandbox Unleashed: sales persons, customers, their contacts.

The same seed makes the same data (Guids included). A data file is the JSON shape the
API answers: ``{"Salespersons": [...], "Customers": [...]}`` with each customer's
``Contacts`` and ``Addresses`` inside.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from accord.clock import ManualClock
from accord.sandbox import fake_data as fake
from accord.sandbox.unleashed_store import RefusedError, UnleashedData

HISTORY = timedelta(days=90)


@dataclass(frozen=True)
class Generated:
    salespersons: int
    customers: int
    contacts: int


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def generate(
    data: UnleashedData,
    *,
    customers: int = 200,
    contacts: int = 500,
    salespersons: int = 6,
    seed: int = 7,
) -> Generated:
    if min(customers, contacts, salespersons) < 0:
        raise ValueError("counts cannot be negative")
    if contacts and not customers:
        raise ValueError("contacts need at least one customer")
    rng = random.Random(seed)
    # Records were made over the last months, not all in this second: spread the stamps.
    real = data.clock
    writes = max(1, salespersons + customers + contacts)
    data.clock = ManualClock(real.now() - HISTORY, step=HISTORY / writes)
    try:
        return _generate(data, rng, customers, contacts, salespersons)
    finally:
        data.clock = real


def _generate(
    data: UnleashedData, rng: random.Random, customers: int, contacts: int, salespersons: int
) -> Generated:
    people: list[str] = []
    for _ in range(salespersons):
        first, last = rng.choice(fake.FIRST_NAMES), rng.choice(fake.LAST_NAMES)
        guid = _guid(rng)
        email = fake.person_email(first, last, "sales.example.co.nz", rng)
        email = f"{len(people)}.{email}"  # unique, as Unleashed requires
        data.save_salesperson(guid, {"FullName": f"{first} {last}", "Email": email})
        people.append(guid)
    codes: set[str] = set()
    guids: list[str] = []
    for index in range(customers):
        city = rng.choice(fake.NZ_CITIES if rng.random() < 0.85 else fake.CITIES)
        name = fake.business_name(rng, city.country)
        code = fake.alphacode(name)[:8] or "CUST"
        code = f"{code}{index:04d}" if code in codes or rng.random() < 0.5 else code
        codes.add(code)
        guid = _guid(rng)
        body: dict[str, Any] = {
            "CustomerCode": code,
            "CustomerName": name,
            "PhoneNumber": fake.phone(rng, city),
            "Email": f"{rng.choice(fake.EMAIL_BOXES)}@{fake.domain_for(name, city.country)}",
            "Website": f"https://www.{fake.domain_for(name, city.country)}",
            "SalesPerson": {"Guid": rng.choice(people)} if people and rng.random() < 0.8 else None,
            "Addresses": [
                {
                    "AddressType": "Postal",
                    "StreetAddress": fake.street_address(rng, city.country),
                    "Suburb": rng.choice(city.suburbs),
                    "City": city.name,
                    "Country": "New Zealand" if city.country == "NZ" else "Australia",
                    "PostalCode": fake.postcode(rng, city),
                }
            ],
        }
        data.save_customer(guid, body)
        guids.append(guid)
    for _ in range(contacts):
        customer = rng.choice(guids)
        first, last = rng.choice(fake.FIRST_NAMES), rng.choice(fake.LAST_NAMES)
        city = rng.choice(fake.NZ_CITIES)
        contact = {
            "Guid": _guid(rng),
            "ContactFirstName": first,
            "ContactLastName": last,
            "Email": fake.person_email(first, last, "example.co.nz", rng),
            "PhoneNumber": fake.phone(rng, city),
            "MobileNumber": fake.mobile(rng, city) if rng.random() < 0.7 else None,
            "FaxNumber": fake.phone(rng, city) if rng.random() < 0.1 else None,
        }
        data.save_contact(customer, None, contact, creating=True)
    return Generated(salespersons, customers, contacts)


def load_file(data: UnleashedData, path: Path) -> Generated:
    """Load a data file; a refused record is named with the service's reason."""
    try:
        raw = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable JSON file ({exc})") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected an object with Salespersons and Customers")
    counts = [0, 0, 0]
    label = "file"
    try:
        for person in raw.get("Salespersons") or []:
            label = f"sales person {person.get('FullName') or person.get('Guid')!r}"
            data.save_salesperson(str(person.get("Guid") or uuid.uuid4()), person)
            counts[0] += 1
        for customer in raw.get("Customers") or []:
            label = f"customer {customer.get('CustomerCode') or customer.get('Guid')!r}"
            guid = str(customer.get("Guid") or uuid.uuid4())
            data.save_customer(guid, {**customer, "Guid": guid})
            counts[1] += 1
            for contact in customer.get("Contacts") or []:
                label = f"contact {contact.get('Guid') or contact.get('Email')!r} of {label}"
                data.save_contact(guid, None, contact, creating=True)
                counts[2] += 1
    except RefusedError as refusal:
        where = refusal.field or "record"
        raise ValueError(f"{path}: {label} refused ({where}): {refusal.message}") from None
    return Generated(*counts)
