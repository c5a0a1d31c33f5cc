"""Customer records (S002): the hub's company records seen as a shop's customers.

Every change goes through ``service.records`` so it is validated, journaled and synced.
What a customer record shows beyond its canonical fields (transactions, orders, credit
history, photo) lives in the web tables; see ``service.pos`` for the point of sale.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from accord.clock import Clock, SystemClock, as_utc, to_iso
from accord.config import Config
from accord.errors import AccordError, ValidationError
from accord.service import records as record_service
from accord.service.accounts import CODES_LOCK
from accord.service.card_layout import load_layout
from accord.service.image_types import IMAGE_NAMES, image_type
from accord.service.people import EditOutcome, edit_person
from accord.service.unleashed import check_account_manager
from accord.store import HubStore
from accord.store import people as people_store
from accord.store import records as record_store
from accord.store.counters import allocate, hold
from accord.store.database import LIKE_ESCAPE, contains_pattern
from accord.store.schema import records, settings
from accord.store.types import HubRecord
from accord.store.web_schema import credit_entries, customer_search, orders, photos, transactions

ENTITY = "company"
PRICE_LEVELS = ("A", "B", "C")
AR_ACCOUNT_TYPES = ("", "open item", "balance forward")
ORDER_TYPES = ("work order", "back order", "special order", "layaway")
ORDER_STATUSES = ("pending", "completed")
CREDIT_KINDS = ("charge", "payment", "adjustment")
PHOTO_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif"}
MAX_PHOTO_BYTES = 2_000_000

# The fields of the customer card, in the order the card shows them, with their labels.
BASIC_FIELDS: tuple[tuple[str, str], ...] = (
    ("code", "Account number"),
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("company_name", "Company"),
    ("address.postal.line1", "Address line 1"),
    ("address.postal.line2", "Address line 2"),
    ("address.postal.line3", "Address line 3"),
    ("address.postal.line4", "Address line 4"),
    ("address.postal.city", "City"),
    ("address.postal.state", "State"),
    ("address.postal.postcode", "Zip code"),
    ("phone", "Telephone"),
    ("fax", "Fax"),
    ("email", "Email"),
)
SETTINGS_FIELDS: tuple[tuple[str, str], ...] = (
    ("home_location", "Home location"),
    ("location_group", "Location group"),
    ("tax_id", "Tax / resale id"),
    ("price_level", "Price level"),
    ("discount", "Discount %"),
    ("ar_account_type", "AR account type"),
    ("credit_limit", "Credit limit"),
    ("account_manager", "Account manager"),
)
FLAG_FIELDS: tuple[tuple[str, str], ...] = (
    ("active", "Active"),
    ("tax_exempt", "Tax exempt"),
    ("employee", "Employee"),
)
EDITABLE = {name for name, _ in (*BASIC_FIELDS, *SETTINGS_FIELDS, *FLAG_FIELDS)}
REQUIRED: tuple[tuple[str, str], ...] = (
    ("home_location", "Home location"),
    ("location_group", "Location group"),
)
CONTACT_FIELDS: tuple[tuple[str, str], ...] = (
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("job_title", "Relationship / title"),
    ("email", "Email"),
    ("phone", "Phone"),
    ("mobile", "Mobile"),
    ("notes", "Notes"),
)


@dataclass(frozen=True)
class CustomerRow:
    id: int
    code: str | None
    name: str
    phone: str | None
    email: str | None
    city: str | None
    active: bool


@dataclass(frozen=True)
class Page:
    items: list[CustomerRow]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


@dataclass(frozen=True)
class Stats:
    sales: int
    returns: int
    visits: int
    points: int
    spent_cents: int


def _fail(message: str, key: int | str, field: str | None = None) -> ValidationError:
    return ValidationError(message, entity=ENTITY, key=str(key), field=field)


def _name_as_company(
    data: dict[str, Any], key: int | str, current: dict[str, Any] | None
) -> dict[str, Any]:
    """``name``, as a customer is read back (the API's ``fields.name``), written: the
    company name, which the name is made from first. The name it already has changes
    nothing, so a record read and written back is no edit."""
    if "name" not in data:
        return data
    rest = {k: v for k, v in data.items() if k != "name"}
    name = data["name"]
    if current is not None and name == current.get("name"):
        return rest
    if "company_name" in rest and rest["company_name"] != name:
        raise _fail("name and company_name are one field here: give one of them", key, "name")
    return {**rest, "company_name": name}


def _clean_input(
    data: dict[str, Any], key: int | str, current: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Only the card's fields; empty strings mean 'no value'; checked choices."""
    clean: dict[str, Any] = {}
    for name, value in _name_as_company(data, key, current).items():
        if name not in EDITABLE:
            raise _fail(f"{name!r} is not a customer field", key, name)
        if isinstance(value, str):
            value = value.strip() or None
        elif isinstance(value, list | dict):
            raise _fail(f"{name} takes one value, not a list or a record", key, name)
        clean[name] = value
    level = clean.get("price_level")
    if level is not None:
        level = str(level).upper()
        if level not in PRICE_LEVELS:
            raise _fail(f"price level must be A, B or C, not {level!r}", key, "price_level")
        clean["price_level"] = level
    ar_type = clean.get("ar_account_type")
    if ar_type is not None and ar_type not in AR_ACCOUNT_TYPES:
        raise _fail(f"unknown AR account type {ar_type!r}", key, "ar_account_type")
    for name, low, high in (("discount", 0, 100), ("credit_limit", 0, 10**9)):
        if clean.get(name) is None:
            continue
        try:
            if isinstance(clean[name], bool):
                raise TypeError  # float(True) is 1.0: a yes/no is no percentage
            number = float(clean[name])
        except (TypeError, ValueError):
            raise _fail(f"not a number: {clean[name]!r}", key, name) from None
        if not low <= number <= high:
            raise _fail(f"must be between {low} and {high}", key, name)
        clean[name] = int(number) if number.is_integer() else number
    if clean.get("code") is not None:
        clean["code"] = str(clean["code"])
    manager = clean.get("account_manager")
    if manager is not None:
        # isascii: "²" is a digit to isdigit() but not a number to int().
        if isinstance(manager, bool) or not (str(manager).isascii() and str(manager).isdigit()):
            raise _fail("choose an account manager from the list", key, "account_manager")
        clean["account_manager"] = int(manager)
    return clean


def display_name(data: dict[str, Any]) -> str | None:
    """A business goes by its company name, a person by first and last name."""
    company = data.get("company_name")
    if company:
        return str(company)
    person = " ".join(str(data[f]) for f in ("first_name", "last_name") if data.get(f))
    # A record from a system that keeps one name field (an ERP's NAME) has only ``name``.
    return person or (str(data["name"]) if data.get("name") else None)


def _check_complete(data: dict[str, Any], key: int | str) -> None:
    if not display_name(data):
        raise _fail("a customer needs a first or last name, or a company", key, "last_name")
    for name, label in REQUIRED:
        if not data.get(name):
            raise _fail(f"{label} is required", key, name)


def _code_taken(conn: Connection, code: str, other_than: int | None) -> bool:
    """Whether another live account (a company or a person account) has ``code``, in any
    case. Holds the codes lock until the transaction ends: call it where the code is written."""
    hold(conn, CODES_LOCK)
    return any(rid != other_than for rid in people_store.accounts_with_code(conn, code))


def _check_code_free(conn: Connection, code: str, record_id: int | None) -> None:
    if _code_taken(conn, code, record_id):
        key = "new" if record_id is None else record_id
        raise _fail(f"account number {code} is already in use", key, "code")


def next_account_number(conn: Connection) -> str:
    """The next free number of the sequence; numbers typed in by people are skipped.
    Call it in the transaction that writes the number (the sequence's lock is held)."""
    (number,) = allocate(conn, CODES_LOCK, 1)
    if not _code_taken(conn, str(number), None):
        return str(number)
    # Taken (typed in, or imported from a system that numbers its own): continue after
    # the highest number in use rather than trying them one by one.
    codes = conn.execute(
        select(records.c.code).where(records.c.entity == ENTITY, records.c.code.is_not(None))
    )
    highest = max((int(c) for (c,) in codes if c and c.isascii() and c.isdigit()), default=number)
    (number,) = allocate(conn, CODES_LOCK, highest - number + 1)[-1:]
    return str(number)


def create_customer(
    store: HubStore,
    data: dict[str, Any],
    *,
    actor: str = "user",
    clock: Clock | None = None,
    config: Config | None = None,
    role: str | None = None,
) -> int:
    """``config`` given: the account manager is checked against the systems (S001-04).
    ``role`` given (an edit on a person's behalf): the company card layout applies."""
    clean = {k: v for k, v in _clean_input(data, "new").items() if v is not None}
    if role is not None:
        load_layout(store, ENTITY, role).check(clean, None, key="new")
    _check_complete(clean, "new")
    if config is not None and "account_manager" in clean:
        check_account_manager(config, store, "new", clean["account_manager"])
    clean.setdefault("active", True)
    clean.setdefault("price_level", "A")
    clean["name"] = display_name(clean)

    def numbered(conn: Connection, values: dict[str, Any]) -> None:
        # Checked (or handed out) in the create's own transaction, under the codes lock.
        if values.get("code"):
            _check_code_free(conn, str(values["code"]), None)
        else:
            values["code"] = next_account_number(conn)

    try:
        return record_service.create_record(
            store, ENTITY, clean, actor=actor, clock=clock, guard=numbered
        )
    except ValidationError as exc:
        exc.key = exc.key or "new"
        raise


def get_customer(store: HubStore, record_id: int) -> HubRecord:
    with store.transaction() as conn:
        record = record_store.get(conn, record_id)
    if record is None or record.entity != ENTITY or record.deleted:
        raise AccordError(f"no customer {record_id}", entity=ENTITY, key=str(record_id))
    return record


def update_customer(
    store: HubStore,
    record_id: int,
    changes: dict[str, Any],
    *,
    actor: str = "user",
    clock: Clock | None = None,
    config: Config | None = None,
    role: str | None = None,
) -> dict[str, list[Any]]:
    """``config`` given: a new account manager is checked against the systems (S001-04).
    ``role`` given (an edit on a person's behalf): the company card layout applies."""
    current = get_customer(store, record_id)
    clean = _clean_input(changes, record_id, current.data)
    if role is not None:
        load_layout(store, ENTITY, role).check(clean, current.data, key=str(record_id))
    manager = clean.get("account_manager")
    if config is not None and manager != current.data.get("account_manager"):
        check_account_manager(config, store, str(record_id), manager)
    merged = {**current.data, **clean}
    if not display_name(merged):
        raise _fail("a customer needs a first or last name, or a company", record_id, "last_name")
    # A required field cannot be emptied; records that came from a system without them
    # (an ERP knows no home location) stay editable until someone fills them in.
    for name, label in REQUIRED:
        if name in clean and not clean[name]:
            raise _fail(f"{label} is required", record_id, name)
    if "code" in clean and not clean["code"]:
        raise _fail("the account number cannot be empty", record_id, "code")

    def code_free(conn: Connection, values: dict[str, Any]) -> None:
        if values.get("code"):
            _check_code_free(conn, str(values["code"]), record_id)

    try:
        # The display name from the record as the write finds it: another edit of first
        # or last name made meanwhile is part of it.
        return record_service.edit_record(
            store,
            record_id,
            clean,
            actor=actor,
            clock=clock,
            derive=lambda data: {"name": display_name(data) or ""},
            guard=code_free,
        )
    except ValidationError as exc:
        exc.key = exc.key or str(record_id)
        raise


SEARCH_WATERMARK = "web.customer_search_seq"


# The fields a customer search looks in besides the name, and their index columns.
SEARCHED_FIELDS = {
    "code": customer_search.c.code_text,
    "email": customer_search.c.email_text,
    "phone": customer_search.c.phone_text,
}


def _search_texts(data: dict[str, Any]) -> dict[str, str | None]:
    phone = "".join(ch for ch in str(data.get("phone") or "") if ch.isdigit())

    def text(value: Any) -> str | None:
        return str(value).lower() if value not in (None, "") else None

    return {
        "text": text(data.get("name")) or "",
        "code_text": text(data.get("code")),
        "email_text": text(data.get("email")),
        "phone_text": phone or None,
    }


def refresh_search_index(conn: Connection, batch: int = 5000) -> int:
    """Bring the search rows up to date with the records; returns the rows rewritten.

    The watermark row is locked first (PostgreSQL), so concurrent searches catch up one
    after the other instead of writing the same rows twice; when nothing changed (the
    usual case) no lock is taken.
    """
    newest = conn.execute(
        select(func.max(records.c.seq)).where(records.c.entity == ENTITY)
    ).scalar_one()
    seen = conn.execute(select(settings.c.value).where(settings.c.key == SEARCH_WATERMARK)).first()
    if newest is None or (seen is not None and int(seen.value["seq"]) >= int(newest)):
        return 0
    row = conn.execute(
        select(settings.c.value).where(settings.c.key == SEARCH_WATERMARK).with_for_update()
    ).first()
    if row is None:
        # The first search of a new hub; another request may be making the row right now.
        try:
            with conn.begin_nested():
                conn.execute(insert(settings).values(key=SEARCH_WATERMARK, value={"seq": 0}))
        except IntegrityError:
            pass  # it did: wait for its catch-up and go on from where it left the mark
        row = conn.execute(
            select(settings.c.value).where(settings.c.key == SEARCH_WATERMARK).with_for_update()
        ).first()
    after = int(row.value["seq"]) if row is not None else 0
    rewritten = 0
    while True:
        changed = conn.execute(
            select(
                records.c.id,
                records.c.seq,
                records.c.label,
                records.c.active,
                records.c.deleted,
                records.c.data,
            )
            .where(records.c.entity == ENTITY, records.c.seq > after)
            .order_by(records.c.seq)
            .limit(batch)
        ).all()
        if not changed:
            break
        ids = [r.id for r in changed]
        conn.execute(delete(customer_search).where(customer_search.c.record_id.in_(ids)))
        conn.execute(
            insert(customer_search),
            [
                {
                    "record_id": r.id,
                    "seq": r.seq,
                    "label": r.label,
                    "active": bool(r.active),
                    "deleted": bool(r.deleted),
                    **_search_texts(r.data),
                }
                for r in changed
            ],
        )
        after = int(changed[-1].seq)
        rewritten += len(changed)
    if rewritten:
        conn.execute(
            update(settings).where(settings.c.key == SEARCH_WATERMARK).values(value={"seq": after})
        )
    return rewritten


def _search_condition(term: str, hidden: set[str]) -> ColumnElement[bool]:
    """Rows whose name, or a searched field not in ``hidden``, contains ``term``."""
    pattern = contains_pattern(term)
    columns = [customer_search.c.text]
    columns += [column for name, column in SEARCHED_FIELDS.items() if name not in hidden]
    options = [column.like(pattern, escape=LIKE_ESCAPE) for column in columns]
    # Phones are indexed as the digits of E.164: drop a national trunk zero (a term of
    # zeros alone would then match every phone).
    digits = "".join(ch for ch in term if ch.isdigit()).lstrip("0")
    if "phone" not in hidden and len(digits) >= 3 and not any(ch.isalpha() for ch in term):
        options.append(customer_search.c.phone_text.like(f"%{digits}%"))
    return or_(*options)


def search_customers(
    store: HubStore,
    term: str = "",
    *,
    page: int = 1,
    size: int = 25,
    include_inactive: bool = False,
    role: str | None = None,
) -> Page:
    """Customers whose name, account number, email or phone contains ``term``.

    Inactive customers leave the lookup unless asked for (S002-03). ``role`` given (a list
    shown to a person), the fields its company card layout hides are neither searched nor
    shown (S003-05).
    """
    page, size = max(1, page), min(max(1, size), 200)
    deleted: ColumnElement[Any] = customer_search.c.deleted
    active: ColumnElement[Any] = customer_search.c.active
    if term.strip():
        # With a term every row's text is read anyway: one plain pass over the table is
        # ten times faster than walking the flags' index and looking each row up. SQLite
        # cannot use an index through coalesce(), so the flags are wrapped in it.
        deleted, active = func.coalesce(deleted, True), func.coalesce(active, False)
    conditions: list[ColumnElement[bool]] = [deleted.is_(False)]
    if not include_inactive:
        conditions.append(active.is_(True))
    layout = load_layout(store, ENTITY, role) if role is not None else None
    if term.strip():
        hidden = {n for n in SEARCHED_FIELDS if layout and layout.access(n) == "hidden"}
        conditions.append(_search_condition(term.strip(), hidden))
    where = and_(*conditions)
    with store.transaction() as conn:
        refresh_search_index(conn)
        total = int(
            conn.execute(
                select(func.count()).select_from(customer_search).where(where)
            ).scalar_one()
        )
        offset = (page - 1) * size
        ids = (
            [
                int(r.record_id)
                for r in conn.execute(
                    select(customer_search.c.record_id)
                    .where(where)
                    .order_by(customer_search.c.label, customer_search.c.record_id)
                    .limit(size)
                    .offset(offset)
                )
            ]
            if offset < total  # past the end (however far: no 64-bit overflow) is empty
            else []
        )
        rows = {
            r.id: r
            for r in conn.execute(
                select(
                    records.c.id,
                    records.c.code,
                    records.c.label,
                    records.c.active,
                    records.c.deleted,
                    records.c.data,
                ).where(records.c.id.in_(ids))
            )
        }

    def shown(name: str, value: Any) -> Any:
        return None if layout is not None and layout.access(name) == "hidden" else value

    items = [
        CustomerRow(
            row.id,
            shown("code", row.code),
            row.label,
            shown("phone", row.data.get("phone")),
            shown("email", row.data.get("email")),
            shown("address.postal.city", row.data.get("address.postal.city")),
            bool(row.active) and not row.deleted,
        )
        for row in (rows[i] for i in ids)
        if not row.deleted
    ]
    return Page(items, total, page, size)


def stats(store: HubStore, record_id: int) -> Stats:
    """Sale and visit counts and campaign points (S002-05), from the posted transactions."""
    t = transactions
    with store.transaction() as conn:
        row = conn.execute(
            select(
                func.count().filter(t.c.kind == "sale").label("sales"),
                func.count().filter(t.c.kind == "return").label("returns"),
                func.count(func.distinct(t.c.local_date)).label("visits"),
                func.coalesce(func.sum(t.c.points), 0).label("points"),
                func.coalesce(func.sum(t.c.amount_cents), 0).label("spent"),
            ).where(t.c.record_id == record_id)
        ).one()
    return Stats(int(row.sales), int(row.returns), int(row.visits), int(row.points), int(row.spent))


def history(
    store: HubStore, record_id: int, start: date | None = None, end: date | None = None
) -> list[Any]:
    """The customer's transactions, oldest first, between two of the shop's dates (inclusive)."""
    query = select(transactions).where(transactions.c.record_id == record_id)
    if start:
        query = query.where(transactions.c.local_date >= start.isoformat())
    if end:
        query = query.where(transactions.c.local_date <= end.isoformat())
    with store.transaction() as conn:
        return list(conn.execute(query.order_by(transactions.c.at, transactions.c.id)))


def monthly_totals(rows: list[Any]) -> list[tuple[str, int]]:
    """Net amount per month (YYYY-MM, the shop's months) for the history chart, months
    without sales included."""
    totals: dict[str, int] = {}
    for row in rows:
        key = str(row.local_date)[:7]
        totals[key] = totals.get(key, 0) + int(row.amount_cents)
    if not totals:
        return []
    first, last = min(totals), max(totals)
    year, month = int(first[:4]), int(first[5:])
    months: list[tuple[str, int]] = []
    while True:
        key = f"{year:04d}-{month:02d}"
        months.append((key, totals.get(key, 0)))
        if key >= last:
            return months
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


# Contacts (S002-08): person records of kind "contact" that belong to the customer.


def contacts(store: HubStore, record_id: int) -> list[HubRecord]:
    with store.transaction() as conn:
        ids = [
            int(row.id)
            for row in conn.execute(
                select(records.c.id)
                .where(
                    records.c.entity == "person",
                    records.c.deleted.is_(False),
                    records.c.data["company"].as_integer() == record_id,
                )
                .order_by(records.c.label, records.c.id)
            )
        ]
        found = record_store.get_many(conn, ids)
    return [found[i] for i in ids]


def _clean_contact(data: dict[str, Any], key: int | str) -> dict[str, Any]:
    allowed = {name for name, _ in CONTACT_FIELDS}
    clean: dict[str, Any] = {}
    for name, value in data.items():
        if name not in allowed:
            raise ValidationError(
                f"{name!r} is not a contact field", entity="person", key=str(key), field=name
            )
        clean[name] = value.strip() or None if isinstance(value, str) else value
    return clean


def add_contact(
    store: HubStore,
    record_id: int,
    data: dict[str, Any],
    *,
    actor: str = "user",
    clock: Clock | None = None,
    role: str | None = None,
) -> int:
    get_customer(store, record_id)
    clean = {k: v for k, v in _clean_contact(data, "new").items() if v is not None}
    if role is not None:
        load_layout(store, "person", role).check(clean, None, key="new")
    if not (clean.get("first_name") or clean.get("last_name")):
        raise ValidationError(
            "a contact needs a first or last name", entity="person", key="new", field="last_name"
        )
    clean.update(company=record_id, kind="contact")
    return record_service.create_record(store, "person", clean, actor=actor, clock=clock)


def edit_contact(
    store: HubStore,
    contact_id: int,
    changes: dict[str, Any],
    *,
    actor: str = "user",
    clock: Clock | None = None,
    role: str | None = None,
    copy_to_linked: bool | None = None,
) -> EditOutcome:
    """Edit a customer's contact as the person card would (S003-02): when its email or
    phones change and linked records of the same person hold other values, nothing is
    written until ``copy_to_linked`` answers (see ``people.edit_person``)."""
    with store.transaction() as conn:
        current = record_store.get(conn, contact_id)
    if current is None or current.entity != "person" or current.deleted:
        raise AccordError(f"no contact {contact_id}", entity="person", key=str(contact_id))
    clean = _clean_contact(changes, contact_id)
    merged = {**current.data, **clean}
    if not (merged.get("first_name") or merged.get("last_name")):
        raise ValidationError(
            "a contact needs a first or last name",
            entity="person",
            key=str(contact_id),
            field="last_name",
        )
    return edit_person(
        store,
        contact_id,
        clean,
        copy_to_linked=copy_to_linked,
        role=role,
        actor=actor,
        clock=clock,
    )


# Orders (S002-10) and the credit account (S002-06).


def orders_of(store: HubStore, record_id: int) -> list[Any]:
    with store.transaction() as conn:
        return list(
            conn.execute(
                select(orders)
                .where(orders.c.record_id == record_id)
                .order_by(orders.c.placed_at.desc())
            )
        )


def add_order(
    store: HubStore,
    record_id: int,
    *,
    number: str,
    order_type: str,
    status: str = "pending",
    location: str | None = None,
    amount_due_cents: int = 0,
    placed_at: str | None = None,
    closed_at: str | None = None,
    clock: Clock | None = None,
) -> int:
    get_customer(store, record_id)
    number = number.strip()
    if order_type not in ORDER_TYPES:
        raise _fail(f"order type must be one of {', '.join(ORDER_TYPES)}", record_id, "order_type")
    if status not in ORDER_STATUSES:
        raise _fail(
            f"order status must be pending or completed, not {status!r}", record_id, "status"
        )
    if not number:
        raise _fail("an order needs a number", record_id, "number")
    if amount_due_cents < 0:
        raise _fail("an amount due cannot be negative", record_id, "amount_due")
    placed_at = _moment(placed_at, record_id, "placed_at")
    closed_at = _moment(closed_at, record_id, "closed_at")
    at = placed_at or to_iso((clock or SystemClock()).now())
    with store.transaction() as conn:
        if conn.execute(select(orders.c.id).where(orders.c.number == number)).first():
            raise _fail(f"order number {number} already exists", record_id, "number")
        return int(
            conn.execute(
                insert(orders)
                .values(
                    record_id=record_id,
                    number=number,
                    order_type=order_type,
                    status=status,
                    location=location,
                    amount_due_cents=amount_due_cents,
                    placed_at=at,
                    closed_at=closed_at,
                )
                .returning(orders.c.id)
            ).scalar_one()
        )


def _moment(value: str | None, record_id: int, field: str) -> str | None:
    """An ISO 8601 date and time (an offset, or none for UTC) as the hub writes times."""
    if value is None:
        return None
    try:
        return to_iso(as_utc(datetime.fromisoformat(value)))
    except (TypeError, ValueError):
        raise _fail(f"not an ISO 8601 date and time: {value!r}", record_id, field) from None


# A hundred billion in cents: beyond any one order or credit entry, inside 64 bits.
MAX_CENTS = 10**13


def to_cents(amount: float, record_id: int, field: str) -> int:
    """An amount of money as whole cents; not-a-number, infinities and absurd sizes are
    refused naming the record and field."""
    if not math.isfinite(amount) or abs(amount) * 100 >= MAX_CENTS:
        raise _fail(f"not an amount: {amount!r}", record_id, field)
    # Half-up on the decimal text, as transactions are: 0.285 is 29 cents, not 28.
    return int((Decimal(str(amount)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def credit_history(store: HubStore, record_id: int) -> tuple[list[Any], int]:
    """The credit account's entries, newest first, and the balance in cents."""
    with store.transaction() as conn:
        rows = list(
            conn.execute(
                select(credit_entries)
                .where(credit_entries.c.record_id == record_id)
                .order_by(credit_entries.c.at.desc(), credit_entries.c.id.desc())
            )
        )
    return rows, sum(int(r.amount_cents) for r in rows)


def add_credit_entry(
    store: HubStore,
    record_id: int,
    *,
    kind: str,
    amount_cents: int,
    reference: str | None = None,
    note: str | None = None,
    clock: Clock | None = None,
) -> int:
    """A charge raises the balance, a payment lowers it; an adjustment goes either way."""
    customer = get_customer(store, record_id)
    if kind not in CREDIT_KINDS:
        raise _fail(
            f"credit entry kind must be one of {', '.join(CREDIT_KINDS)}", record_id, "kind"
        )
    if not customer.data.get("ar_account_type"):
        raise _fail("the customer has no accounts-receivable account", record_id, "ar_account_type")
    signed = (
        -abs(amount_cents)
        if kind == "payment"
        else abs(amount_cents)
        if kind == "charge"
        else amount_cents
    )
    at = to_iso((clock or SystemClock()).now())
    with store.transaction() as conn:
        # One writer per customer at a time (the row lock on PostgreSQL; SQLite serialises
        # writers): the balance checked against the limit is the balance charged, and the
        # limit the one in force now (read under the lock: it may have just been lowered).
        conn.execute(select(records.c.id).where(records.c.id == record_id).with_for_update())
        locked = record_store.get(conn, record_id)
        assert locked is not None  # records are never removed, only marked deleted
        if not locked.data.get("ar_account_type"):
            raise _fail(
                "the customer has no accounts-receivable account", record_id, "ar_account_type"
            )
        limit = locked.data.get("credit_limit")
        if reference:
            # A client retrying after a lost answer sends the same reference: once only.
            earlier = conn.execute(
                select(credit_entries).where(
                    credit_entries.c.record_id == record_id,
                    credit_entries.c.reference == reference,
                )
            ).first()
            if earlier is not None:
                if (earlier.kind, earlier.amount_cents) != (kind, signed):
                    raise _fail(
                        f"reference {reference} was used for another entry", record_id, "reference"
                    )
                return int(earlier.id)
        balance = conn.execute(
            select(func.coalesce(func.sum(credit_entries.c.amount_cents), 0)).where(
                credit_entries.c.record_id == record_id
            )
        ).scalar_one()
        if kind == "charge" and limit is not None and balance + signed > round(float(limit) * 100):
            raise _fail(
                f"the charge would exceed the credit limit of {limit}", record_id, "credit_limit"
            )
        return int(
            conn.execute(
                insert(credit_entries)
                .values(
                    record_id=record_id,
                    kind=kind,
                    amount_cents=signed,
                    reference=reference,
                    note=note,
                    at=at,
                )
                .returning(credit_entries.c.id)
            ).scalar_one()
        )


# Photo (S002-07): stored beside the record; its URL is a canonical field, so the change
# is journaled and reaches the point of sale through the change feed.


def set_photo(
    store: HubStore,
    record_id: int,
    content: bytes,
    content_type: str,
    *,
    actor: str = "user",
    clock: Clock | None = None,
    role: str | None = None,
) -> str:
    """Store a customer's photo and point its ``photo_url`` at it.

    ``role`` given (an edit on a person's behalf): the company card layout applies.
    """
    current = get_customer(store, record_id)
    if role is not None:
        layout = load_layout(store, ENTITY, role)
        layout.check({"photo_url": "a new photo"}, current.data, key=str(record_id))
    if not content or len(content) > MAX_PHOTO_BYTES:
        raise _fail(
            f"a photo must have 1 byte to {MAX_PHOTO_BYTES // 1_000_000} MB", record_id, "photo_url"
        )
    # The type served back is the one the bytes show; the declared one only has to agree
    # when it names an image type at all (some clients send application/octet-stream).
    found = image_type(content)
    declared = content_type.split(";")[0].strip().lower()
    if found is None or (declared in PHOTO_TYPES and declared != found):
        shown = declared or "no type"
        raise _fail(
            f"a photo must be a {IMAGE_NAMES} image; this file is not one ({shown})",
            record_id,
            "photo_url",
        )
    content_type = found
    digest = hashlib.sha256(content).hexdigest()
    at = to_iso((clock or SystemClock()).now())
    with store.transaction() as conn:
        conn.execute(photos.delete().where(photos.c.record_id == record_id))
        conn.execute(
            insert(photos).values(
                record_id=record_id,
                content_type=content_type,
                data=content,
                digest=digest,
                updated_at=at,
            )
        )
    url = photo_url(record_id, digest)
    record_service.edit_record(store, record_id, {"photo_url": url}, actor=actor, clock=clock)
    return url


def photo_path(record_id: int) -> str:
    return f"/api/v1/customers/{record_id}/photo"


def photo_url(record_id: int, digest: str) -> str:
    """Where the record's photo is served; the digest makes a new photo a new URL."""
    return f"{photo_path(record_id)}?v={digest[:16]}"


def photo_stored(store: HubStore, record_id: int, url: str | None) -> bool:
    """Whether ``url`` (a photo_url this record had) names the photo stored now: only
    the latest photo is kept, so an earlier URL would show the latest one."""
    if not url:
        return True  # no photo: nothing to serve
    with store.reading() as conn:
        digest = conn.execute(
            select(photos.c.digest).where(photos.c.record_id == record_id)
        ).scalar_one_or_none()
    return digest is not None and url.endswith(f"?v={digest[:16]}")


def get_photo(store: HubStore, record_id: int) -> tuple[bytes, str] | None:
    with store.transaction() as conn:
        row = conn.execute(select(photos).where(photos.c.record_id == record_id)).first()
    return None if row is None else (bytes(row.data), str(row.content_type))
