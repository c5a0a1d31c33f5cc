"""The data behind the Exact Online sandbox: CRM accounts and contacts, the deleted log,
open receivables, and the sync timestamps that order every change.

Every write bumps one division-wide ``Timestamp`` (as the sync endpoints expose it) and
sets ``Modified``. Tests edit the Exact side through the same methods the HTTP handlers
use, so what a test does is what a user of Exact Online would do.
"""

from __future__ import annotations

import random
import re
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from accord.sandbox import fake_data

CODE_WIDTH = 18
ENTITY_ACCOUNT = 2
ENTITY_CONTACT = 5

ACCOUNT_FIELDS = (
    "ID", "Code", "Name", "Phone", "PhoneExtension", "Email", "Website", "Fax",
    "AddressLine1", "AddressLine2", "AddressLine3", "City", "Postcode", "State", "Country",
    "CountryName", "AccountManager", "AccountManagerFullName", "MainContact", "Status",
    "IsSales", "IsSupplier", "Blocked", "Created", "Modified", "Division",
)  # fmt: skip
CONTACT_FIELDS = (
    "ID", "Account", "AccountName", "FirstName", "MiddleName", "LastName", "FullName",
    "Initials", "Title", "TitleDescription", "JobTitleDescription", "Email", "BusinessEmail",
    "Phone", "PhoneExtension", "BusinessPhone", "Mobile", "BusinessMobile", "BusinessFax",
    "Notes", "IsMainContact", "Created", "Modified",
)  # fmt: skip
READ_ONLY = {"ID", "Created", "Modified", "Division", "FullName", "AccountName", "CountryName"}
MAX_LENGTHS = {"Name": 50, "Email": 100, "Phone": 30, "Fax": 30, "Website": 100, "City": 50}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SandboxError(Exception):
    """A request the sandbox refuses: HTTP status and Exact's message text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def odata_date(moment: datetime) -> str:
    return f"/Date({int(moment.timestamp() * 1000)})/"


def parse_odata_date(text: str) -> datetime:
    match = re.fullmatch(r"/Date\((-?\d+)\)/", text)
    if not match:
        raise ValueError(f"not an OData date: {text!r}")
    return datetime.fromtimestamp(int(match.group(1)) / 1000, UTC)


def padded_code(code: str) -> str:
    return str(code).strip().rjust(CODE_WIDTH)


@dataclass
class Entity:
    kind: int  # ENTITY_ACCOUNT or ENTITY_CONTACT
    values: dict[str, Any]
    timestamp: int


@dataclass
class ExactData:
    division: int = 123456
    rows: dict[str, Entity] = field(default_factory=dict)
    deleted: list[dict[str, Any]] = field(default_factory=list)
    receivables: list[dict[str, Any]] = field(default_factory=list)
    timestamp: int = 1000
    next_code: int = 1
    lock: threading.RLock = field(default_factory=threading.RLock)

    # -- reading --------------------------------------------------------------------------
    def of_kind(self, kind: int) -> list[Entity]:
        with self.lock:
            return [e for e in self.rows.values() if e.kind == kind]

    def get(self, kind: int, key: str) -> dict[str, Any] | None:
        with self.lock:
            entity = self.rows.get(key.lower())
            return dict(entity.values) if entity and entity.kind == kind else None

    def deleted_since(self, after: int) -> list[dict[str, Any]]:
        with self.lock:
            return [d for d in self.deleted if d["Timestamp"] > after]

    # -- writing (HTTP handlers and tests alike) ------------------------------------------
    def create(self, kind: int, values: dict[str, Any], now: datetime) -> dict[str, Any]:
        with self.lock:
            clean = self._validated(kind, values, creating=True)
            key = str(uuid.uuid4())
            clean["ID"] = key
            clean["Created"] = odata_date(now)
            clean["Division"] = self.division
            if kind == ENTITY_ACCOUNT:
                clean.setdefault("Status", "C")
                clean.setdefault("Blocked", False)
                clean.setdefault("IsSales", True)
                clean.setdefault("IsSupplier", False)
                if clean.get("Code") in (None, ""):
                    clean["Code"] = self._new_code()
                else:
                    self._code_free(clean["Code"], None)
            else:
                clean.setdefault("IsMainContact", False)
            entity = Entity(kind, clean, 0)
            self.rows[key] = entity
            self._touch(entity, now)
            return dict(entity.values)

    def update(self, kind: int, key: str, values: dict[str, Any], now: datetime) -> None:
        with self.lock:
            entity = self.rows.get(key.lower())
            if entity is None or entity.kind != kind:
                raise SandboxError(404, "Not found")
            clean = self._validated(kind, values, creating=False)
            if kind == ENTITY_ACCOUNT and clean.get("Code") not in (None, ""):
                self._code_free(clean["Code"], entity.values["ID"])
            entity.values.update(clean)
            self._touch(entity, now)

    def delete(self, kind: int, key: str, now: datetime) -> None:
        with self.lock:
            entity = self.rows.get(key.lower())
            if entity is None or entity.kind != kind:
                raise SandboxError(404, "Not found")
            del self.rows[key.lower()]
            self.timestamp += 1
            self.deleted.append(
                {
                    "ID": str(uuid.uuid4()),
                    "Timestamp": self.timestamp,
                    "EntityKey": key.lower(),
                    "EntityType": kind,
                    "DeletedBy": str(uuid.UUID(int=1)),
                    "DeletedDate": odata_date(now),
                    "Division": self.division,
                }
            )

    def add_receivable(
        self,
        account_id: str,
        amount: float,
        invoice_date: datetime,
        due_date: datetime,
        description: str = "",
    ) -> dict[str, Any]:
        with self.lock:
            account = self.get(ENTITY_ACCOUNT, account_id)
            if account is None:
                raise SandboxError(404, "Not found")
            number = 20000 + len(self.receivables) + 1
            row = {
                "HID": number,
                "AccountId": account["ID"],
                "AccountCode": account["Code"],
                "AccountName": account["Name"],
                "Amount": round(amount, 2),
                "AmountInTransit": 0.0,
                "CurrencyCode": "EUR",
                "Description": description or f"Invoice {number}",
                "DueDate": odata_date(due_date),
                "EntryNumber": number,
                "InvoiceDate": odata_date(invoice_date),
                "InvoiceNumber": number,
                "JournalCode": "70",
                "YourRef": "",
                "Notes": "",
            }
            self.receivables.append(row)
            return dict(row)

    # -- inside -----------------------------------------------------------------------------
    def _touch(self, entity: Entity, now: datetime) -> None:
        self.timestamp += 1
        entity.timestamp = self.timestamp
        entity.values["Modified"] = odata_date(now)
        if entity.kind == ENTITY_CONTACT:
            first, last = entity.values.get("FirstName"), entity.values.get("LastName")
            entity.values["FullName"] = " ".join(p for p in (first, last) if p)
            account = self.rows.get(str(entity.values.get("Account") or "").lower())
            entity.values["AccountName"] = account.values.get("Name") if account else None

    def _code_free(self, code: str, owner: str | None) -> None:
        """Exact's account codes are unique within a division."""
        for other in self.of_kind(ENTITY_ACCOUNT):
            if other.values.get("Code") == code and other.values.get("ID") != owner:
                raise SandboxError(400, f"Code: {code.strip()} already exists")

    def _new_code(self) -> str:
        taken = {str(e.values.get("Code", "")).strip() for e in self.of_kind(ENTITY_ACCOUNT)}
        while str(self.next_code) in taken:
            self.next_code += 1
        code = padded_code(str(self.next_code))
        self.next_code += 1
        return code

    def _validated(self, kind: int, values: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        known = ACCOUNT_FIELDS if kind == ENTITY_ACCOUNT else CONTACT_FIELDS
        clean: dict[str, Any] = {}
        for name, value in values.items():
            if name == "__metadata":
                continue
            if name not in known:
                raise SandboxError(400, f"Property '{name}' does not exist on this entity")
            if name in READ_ONLY:
                continue
            if isinstance(value, str) and len(value) > MAX_LENGTHS.get(name, 255):
                raise SandboxError(
                    400, f"{name}: value too long (at most {MAX_LENGTHS.get(name, 255)})"
                )
            if name in ("Email", "BusinessEmail") and value and not _EMAIL.match(str(value)):
                raise SandboxError(400, f"{name}: invalid e-mail address: {value}")
            if name == "Code" and value not in (None, ""):
                value = padded_code(str(value))
            clean[name] = value
        if kind == ENTITY_ACCOUNT and creating and not clean.get("Name"):
            raise SandboxError(400, "Name: mandatory")
        if kind == ENTITY_ACCOUNT and "Name" in clean and not clean["Name"]:
            raise SandboxError(400, "Name: mandatory")
        if kind == ENTITY_CONTACT and creating:
            account = str(clean.get("Account") or "").lower()
            if account not in self.rows or self.rows[account].kind != ENTITY_ACCOUNT:
                raise SandboxError(400, "Account: mandatory (an existing account)")
            if not clean.get("LastName") and not clean.get("FirstName"):
                raise SandboxError(400, "LastName: mandatory")
        return clean


def generate(
    data: ExactData,
    accounts: int,
    *,
    seed: int = 7,
    now: datetime | None = None,
    max_contacts: int = 3,
) -> None:
    """Fill ``data`` with ``accounts`` customers, one to ``max_contacts`` contacts each (none
    when 0), and open receivables (some overdue) for about a third of them."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    for _ in range(accounts):
        city = rng.choice(fake_data.NZ_CITIES)
        name = fake_data.business_name(rng)[:50]
        domain = fake_data.domain_for(name, "NZ")
        account = data.create(
            ENTITY_ACCOUNT,
            {
                "Name": name,
                "Phone": fake_data.phone(rng, city),
                "Email": f"{rng.choice(fake_data.EMAIL_BOXES)}@{domain}",
                "Website": f"www.{domain}",
                "AddressLine1": fake_data.street_address(rng),
                "City": city.name,
                "Postcode": fake_data.postcode(rng, city),
                "Country": "NZ",
                "Status": "C",
            },
            now,
        )
        for index in range(rng.randint(1, max_contacts) if max_contacts else 0):
            first, last = rng.choice(fake_data.FIRST_NAMES), rng.choice(fake_data.LAST_NAMES)
            data.create(
                ENTITY_CONTACT,
                {
                    "Account": account["ID"],
                    "FirstName": first,
                    "LastName": last,
                    "Email": fake_data.person_email(first, last, domain, rng),
                    "Phone": fake_data.phone(rng, city),
                    "Mobile": fake_data.mobile(rng, city),
                    "JobTitleDescription": rng.choice(fake_data.JOB_TITLES),
                    "IsMainContact": index == 0,
                },
                now,
            )
        if rng.random() < 0.35:
            for _ in range(rng.randint(1, 3)):
                issued = now - timedelta(days=rng.randint(5, 90))
                data.add_receivable(
                    account["ID"],
                    rng.randint(50_00, 5_000_00) / 100,
                    issued,
                    issued + timedelta(days=30),
                )


def select(values: dict[str, Any], fields: Iterable[str] | None) -> dict[str, Any]:
    if fields is None:
        return dict(values)
    return {name: values.get(name) for name in fields}
