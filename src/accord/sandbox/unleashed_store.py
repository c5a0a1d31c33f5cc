"""The sandbox Unleashed's data, in SQLite, with the service's validation rules.

Rules we know (pageSize 1..1000, modifiedSince dates, a customer needs a code and a name,
unique codes, sales person emails unique) are enforced; rules that are ours are stated:
a website must be a plain http(s) URL of at most 100 URL-safe characters, and a change
to a contact also stamps its customer's ``LastModifiedOn`` (so ``modifiedSince`` finds
customers whose contacts changed). Stamps are milliseconds and strictly increase.
Refusals raise ``RefusedError`` carrying the status and the error body the server answers.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from accord.clock import Clock, SystemClock

_WEBSITE = re.compile(
    r"^(https?://)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(/[A-Za-z0-9._~%!$&'()*+,;=:@/?#-]*)?$"
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
WEBSITE_MAX = 100
SCHEMA = """
CREATE TABLE IF NOT EXISTS salespersons (
    guid TEXT PRIMARY KEY, email TEXT UNIQUE, modified_ms INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS customers (
    guid TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, modified_ms INTEGER NOT NULL,
    data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS customers_modified ON customers (modified_ms, code);
CREATE TABLE IF NOT EXISTS contacts (
    guid TEXT PRIMARY KEY, customer_guid TEXT NOT NULL REFERENCES customers (guid),
    modified_ms INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS contacts_customer ON contacts (customer_guid);
"""
CUSTOMER_TEXT = (
    "CustomerCode", "CustomerName", "ContactFirstName", "ContactLastName", "Email", "EmailCC",
    "PhoneNumber", "MobileNumber", "FaxNumber", "DDINumber", "TollFreeNumber", "Website",
    "Notes", "PaymentTerm", "SellPriceTier", "TaxCode", "GSTVATNumber", "CustomerType",
)  # fmt: skip
CUSTOMER_OTHER = ("Obsolete", "StopCredit", "TaxRate", "DiscountRate", "CreditLimit", "Currency")
CONTACT_FIELDS = (
    "ContactFirstName", "ContactLastName", "Email", "PhoneNumber", "MobileNumber", "FaxNumber",
)  # fmt: skip
ADDRESS_FIELDS = (
    "AddressName", "AddressType", "StreetAddress", "StreetAddress2", "Suburb", "City",
    "Region", "Country", "PostalCode", "DeliveryInstruction", "Obsolete",
)  # fmt: skip
ORDER_BY = {
    "": "code, guid",
    "lastmodifiedon": "modified_ms, code",
    "createdon": "json_extract(data, '$.CreatedMs'), code",
}


class RefusedError(Exception):
    """A request the service refuses: the HTTP status and its error body."""

    def __init__(
        self, status: int, description: str, field: str | None = None, message: str = ""
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.field = field
        self.message = message or description

    def body(self) -> dict[str, Any]:
        errors = [{"Field": self.field, "Message": self.message}] if self.field else []
        return {"Description": self.description, "Errors": errors}


def api_date(ms: int) -> str:
    return f"/Date({ms})/"


def parse_modified_since(text: str) -> int:
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            moment = datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        return int(moment.timestamp() * 1000)
    raise RefusedError(
        400, f"modifiedSince {text!r} is not a date (YYYY-MM-DD[THH:MM:SS])", "modifiedSince"
    )


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int
    size: int
    number: int

    def body(self) -> dict[str, Any]:
        pages = -(-self.total // self.size)
        return {
            "Pagination": {
                "NumberOfItems": self.total,
                "PageSize": self.size,
                "PageNumber": self.number,
                "NumberOfPages": pages,
            },
            "Items": self.items,
        }


class UnleashedData:
    """Thread-safe: the server answers requests on several threads."""

    def __init__(self, path: str = ":memory:", clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.executescript(SCHEMA)
        self._lock = threading.RLock()
        self._last_ms = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def stamp(self) -> int:
        with self._lock:
            now = int(self.clock.now().timestamp() * 1000)
            self._last_ms = max(now, self._last_ms + 1)
            return self._last_ms

    # -- sales persons ---------------------------------------------------------------------
    def salespersons(self, number: int, size: int) -> Page:
        with self._lock:
            total = self._db.execute("SELECT count(*) FROM salespersons").fetchone()[0]
            rows = self._db.execute(
                "SELECT data FROM salespersons ORDER BY json_extract(data, '$.FullName'), guid"
                " LIMIT ? OFFSET ?",
                (size, (number - 1) * size),
            ).fetchall()
        return Page([orjson.loads(r[0]) for r in rows], total, size, number)

    def save_salesperson(self, guid: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._tx() as db:
            row = db.execute("SELECT data FROM salespersons WHERE guid = ?", (guid,)).fetchone()
            current = orjson.loads(row[0]) if row else {"Guid": guid, "Obsolete": False}
            merged = {
                **current,
                **{k: body[k] for k in ("FullName", "Email", "Obsolete") if k in body},
            }
            for name in ("FullName", "Email"):
                if not merged.get(name):
                    raise RefusedError(400, f"{name} is required", name)
                if len(str(merged[name])) > 256:
                    raise RefusedError(400, f"{name} holds at most 256 characters", name)
            clash = db.execute(
                "SELECT guid FROM salespersons WHERE lower(email) = lower(?) AND guid <> ?",
                (merged["Email"], guid),
            ).fetchone()
            if clash:
                raise RefusedError(
                    400, f"a sales person with email {merged['Email']} exists", "Email"
                )
            merged["LastModifiedOn"] = api_date(self.stamp())
            db.execute(
                "INSERT OR REPLACE INTO salespersons (guid, email, modified_ms, data) VALUES (?, ?, ?, ?)",
                (guid, merged["Email"], self._last_ms, orjson.dumps(merged).decode()),
            )
        return merged

    def _salesperson(self, db: sqlite3.Connection, given: Any) -> dict[str, Any] | None:
        if given in (None, ""):
            return None
        if isinstance(given, dict) and given.get("Guid"):
            row = db.execute(
                "SELECT data FROM salespersons WHERE guid = ?", (str(given["Guid"]),)
            ).fetchone()
        else:
            name = given.get("FullName") if isinstance(given, dict) else given
            row = db.execute(
                "SELECT data FROM salespersons WHERE json_extract(data, '$.FullName') = ?",
                (str(name),),
            ).fetchone()
        if row is None:
            raise RefusedError(400, f"sales person {given!r} does not exist", "SalesPerson")
        person = orjson.loads(row[0])
        return {"Guid": person["Guid"], "FullName": person["FullName"], "Email": person["Email"]}

    # -- customers ---------------------------------------------------------------------
    def customers(self, number: int, size: int, query: dict[str, str]) -> Page:
        where: list[str] = ["1 = 1"]
        args: list[object] = []
        if query.get("includeobsolete", "false").lower() != "true":
            where.append("json_extract(data, '$.Obsolete') = 0")
        if "modifiedsince" in query:
            where.append("modified_ms >= ?")
            args.append(parse_modified_since(query["modifiedsince"]))
        if "customercode" in query:
            where.append("code LIKE ? || '%'")
            args.append(query["customercode"])
        if "customername" in query:
            where.append("json_extract(data, '$.CustomerName') LIKE ? || '%'")
            args.append(query["customername"])
        if "customer" in query:
            where.append(
                "(instr(code, ?) > 0 OR instr(json_extract(data, '$.CustomerName'), ?) > 0)"
            )
            args += [query["customer"], query["customer"]]
        order = query.get("orderby", "").lower()
        if order not in ORDER_BY:
            raise RefusedError(
                400, f"orderBy {query['orderby']!r} is not LastModifiedOn or CreatedOn", "orderBy"
            )
        order_sql = ORDER_BY[order]
        with self._lock:
            total = self._db.execute(
                f"SELECT count(*) FROM customers WHERE {' AND '.join(where)}", args
            ).fetchone()[0]
            rows = self._db.execute(
                f"SELECT guid, data FROM customers WHERE {' AND '.join(where)} ORDER BY {order_sql}"
                " LIMIT ? OFFSET ?",
                (*args, size, (number - 1) * size),
            ).fetchall()
            with_contacts = query.get("includeallcontacts", "false").lower() == "true"
            items = [self._public(guid, data, with_contacts) for guid, data in rows]
        return Page(items, total, size, number)

    def customer(self, guid: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM customers WHERE guid = ?", (guid,)).fetchone()
            return self._public(guid, row[0], True) if row else None

    def _public(self, guid: str, data: str, with_contacts: bool) -> dict[str, Any]:
        item: dict[str, Any] = orjson.loads(data)
        item.pop("CreatedMs", None)
        if with_contacts:
            item["Contacts"] = self._contacts(guid)
        return item

    def save_customer(self, guid: str, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("Guid") not in (None, guid):
            raise RefusedError(
                400, "the Guid in the body differs from the one in the address", "Guid"
            )
        with self._tx() as db:
            row = db.execute("SELECT data FROM customers WHERE guid = ?", (guid,)).fetchone()
            creating = row is None
            current: dict[str, Any] = (
                orjson.loads(row[0]) if row else {"Guid": guid, "Obsolete": False, "Addresses": []}
            )
            merged = dict(current)
            for name in (*CUSTOMER_TEXT, *CUSTOMER_OTHER):
                if name in body:
                    merged[name] = body[name]
            if "SalesPerson" in body:
                merged["SalesPerson"] = self._salesperson(db, body["SalesPerson"])
            if "Addresses" in body:
                merged["Addresses"] = _merge_addresses(
                    current.get("Addresses") or [], body["Addresses"]
                )
            self._validate_customer(db, guid, merged)
            ms = self.stamp()
            if creating:
                merged["CreatedOn"], merged["CreatedMs"] = api_date(ms), ms
                merged.setdefault("Currency", {"CurrencyCode": "NZD"})
            merged["LastModifiedOn"] = api_date(ms)
            merged["Obsolete"] = bool(merged.get("Obsolete"))
            db.execute(
                "INSERT OR REPLACE INTO customers (guid, code, modified_ms, data) VALUES (?, ?, ?, ?)",
                (guid, merged["CustomerCode"], ms, orjson.dumps(merged).decode()),
            )
        saved = self.customer(guid)
        assert saved is not None
        return saved

    @staticmethod
    def _validate_customer(db: sqlite3.Connection, guid: str, merged: dict[str, Any]) -> None:
        for name in ("CustomerCode", "CustomerName"):
            if not str(merged.get(name) or "").strip():
                raise RefusedError(400, f"{name} is required", name)
        clash = db.execute(
            "SELECT guid FROM customers WHERE code = ? AND guid <> ?",
            (merged["CustomerCode"], guid),
        ).fetchone()
        if clash:
            raise RefusedError(
                400, f"customer code {merged['CustomerCode']} is in use", "CustomerCode"
            )
        website = merged.get("Website")
        if website and (len(str(website)) > WEBSITE_MAX or not _WEBSITE.match(str(website))):
            raise RefusedError(
                400,
                "Validation failed",
                "Website",
                f"Website {website!r} is not a valid web address",
            )
        email = merged.get("Email")
        if email and not _EMAIL.match(str(email)):
            raise RefusedError(
                400, "Validation failed", "Email", f"Email {email!r} is not a valid email address"
            )

    # -- contacts -------------------------------------------------------------------------
    def _contacts(self, customer: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT data FROM contacts WHERE customer_guid = ? ORDER BY guid", (customer,)
        ).fetchall()
        return [orjson.loads(r[0]) for r in rows]

    def contacts(self, customer: str) -> list[dict[str, Any]]:
        with self._lock:
            if not self._db.execute(
                "SELECT 1 FROM customers WHERE guid = ?", (customer,)
            ).fetchone():
                raise RefusedError(404, f"customer {customer} not found")
            return self._contacts(customer)

    def save_contact(
        self, customer: str, guid: str | None, body: dict[str, Any], *, creating: bool
    ) -> dict[str, Any]:
        guid = guid or str(body.get("Guid") or uuid.uuid4())
        with self._tx() as db:
            if not db.execute("SELECT 1 FROM customers WHERE guid = ?", (customer,)).fetchone():
                raise RefusedError(404, f"customer {customer} not found")
            row = db.execute(
                "SELECT customer_guid, data FROM contacts WHERE guid = ?", (guid,)
            ).fetchone()
            if row is not None and row[0] != customer:
                raise RefusedError(400, f"contact {guid} belongs to another customer", "Guid")
            if creating and row is not None:
                return dict(orjson.loads(row[1]))  # a repeated create: the contact it made
            if not creating and row is None:
                raise RefusedError(404, f"contact {guid} not found")
            current = orjson.loads(row[1]) if row else {"Guid": guid}
            merged = {**current, **{k: body[k] for k in CONTACT_FIELDS if k in body}}
            email = merged.get("Email")
            if email and not _EMAIL.match(str(email)):
                raise RefusedError(
                    400,
                    "Validation failed",
                    "Email",
                    f"Email {email!r} is not a valid email address",
                )
            if not (merged.get("ContactFirstName") or merged.get("ContactLastName") or email):
                raise RefusedError(400, "a contact needs a name or an email", "ContactFirstName")
            ms = self.stamp()
            merged["LastModifiedOn"] = api_date(ms)
            db.execute(
                "INSERT OR REPLACE INTO contacts (guid, customer_guid, modified_ms, data) VALUES (?, ?, ?, ?)",
                (guid, customer, ms, orjson.dumps(merged).decode()),
            )
            self._touch(db, customer, ms)
        return merged

    def delete_contact(self, customer: str, guid: str) -> None:
        with self._tx() as db:
            gone = db.execute(
                "DELETE FROM contacts WHERE guid = ? AND customer_guid = ?", (guid, customer)
            ).rowcount
            if not gone:
                raise RefusedError(404, f"contact {guid} not found")
            self._touch(db, customer, self.stamp())

    def _touch(self, db: sqlite3.Connection, customer: str, ms: int) -> None:
        row = db.execute("SELECT data FROM customers WHERE guid = ?", (customer,)).fetchone()
        data = orjson.loads(row[0])
        data["LastModifiedOn"] = api_date(ms)
        db.execute(
            "UPDATE customers SET modified_ms = ?, data = ? WHERE guid = ?",
            (ms, orjson.dumps(data).decode(), customer),
        )

    # -- for tests and the generator ------------------------------------------------------
    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                table: self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("salespersons", "customers", "contacts")
            }

    def all_contacts(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT customer_guid, data FROM contacts ORDER BY guid"
            ).fetchall()
        return [(r[0], orjson.loads(r[1])) for r in rows]

    def customer_by_code(self, code: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT guid FROM customers WHERE code = ?", (code,)).fetchone()
        return self.customer(row[0]) if row else None

    def all_customer_guids(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT guid FROM customers ORDER BY code")]


def _merge_addresses(current: list[dict[str, Any]], given: Any) -> list[dict[str, Any]]:
    """Addresses are matched by Guid, else by type; given parts overwrite, others stay."""
    if not isinstance(given, list):
        raise RefusedError(400, "Addresses must be a list", "Addresses")
    merged = [dict(a) for a in current]
    for index, address in enumerate(given):
        if not isinstance(address, dict):
            raise RefusedError(400, "an address must be an object", f"Addresses[{index}]")
        target = next(
            (
                a
                for a in merged
                if (address.get("Guid") and a.get("Guid") == address.get("Guid"))
                or (
                    not address.get("Guid")
                    and str(a.get("AddressType") or "").casefold()
                    == str(address.get("AddressType") or "").casefold()
                )
            ),
            None,
        )
        if target is None:
            target = {"Guid": str(uuid.uuid4()), "Obsolete": False}
            merged.append(target)
        target.update({k: address[k] for k in ADDRESS_FIELDS if k in address})
    return merged
