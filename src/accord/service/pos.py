"""The point of sale's side of the hub: the customer change feed and posted transactions.

The feed is built on the journal's monotonic sequence: a till keeps the highest ``seq``
it has seen and asks for what changed after it. An active customer comes with what the
till needs (S002-03/04/07); a customer made inactive or deleted comes once as a removal
(``active: false`` and no details), so the till drops it and it leaves the till's lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from accord.clock import Clock, SystemClock, from_iso, local_date, to_iso
from accord.errors import ValidationError
from accord.service.customers import ENTITY, get_customer
from accord.store import HubStore
from accord.store import records as record_store
from accord.store.web_schema import transactions

FEED_FIELDS = (
    "code",
    "name",
    "first_name",
    "last_name",
    "company_name",
    "phone",
    "email",
    "location_group",
    "home_location",
    "price_level",
    "discount",
    "tax_exempt",
    "employee",
    "photo_url",
)
KINDS = ("sale", "return")


@dataclass(frozen=True)
class FeedItem:
    seq: int
    id: int
    active: bool
    fields: dict[str, Any]


def changes_since(
    store: HubStore, after: int, limit: int = 500, location_group: str | None = None
) -> tuple[list[FeedItem], int]:
    """Customers changed after journal sequence ``after``; and the sequence to ask from next.

    With ``location_group``, a till sees only that group's customers: one of another
    group comes as a removal, so a customer moved to another group leaves this till.
    """
    limit = min(max(1, limit), 5000)
    with store.transaction() as conn:
        changed = record_store.changed_since(conn, ENTITY, after, limit)
    items = []
    for record in changed:
        live = not record.deleted and record.data.get("active") is not False
        if location_group is not None and record.data.get("location_group") != location_group:
            live = False
        fields = (
            {name: record.data.get(name) for name in FEED_FIELDS}
            if live
            else {"code": record.data.get("code")}
        )
        items.append(FeedItem(record.seq, record.id, live, fields))
    return items, (changed[-1].seq if changed else after)


MAX_AMOUNT = Decimal(1_000_000_000)  # per transaction; anything larger is a typing error


MAX_POINTS = 10**9  # inside the 32-bit column on every database


def _cents(value: object, key: str) -> int:
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or abs(amount) > MAX_AMOUNT:
        raise ValidationError(
            f"not an amount (a number up to {MAX_AMOUNT:,}): {value!r}",
            entity="transaction",
            key=key,
            field="amount",
        )
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def post_transaction(
    store: HubStore,
    *,
    customer_id: int,
    number: str,
    kind: str,
    amount: object,
    points: int | None = None,
    location: str | None = None,
    at: datetime | None = None,
    clock: Clock | None = None,
    zone: tzinfo = UTC,
) -> tuple[int, bool]:
    """Record a sale or return; returns (transaction id, created).

    Its day (for visits and the history) is the date on the till's clock where the till
    gave its time with an offset, else the date in ``zone``, the business's time zone.

    Posting the same transaction number again (a till retrying after a lost answer) is
    accepted once and changes nothing; the same number with other details is refused.
    Campaign points default to one per whole unit of currency spent (negative on returns).
    """
    number = number.strip()
    if not number:
        raise ValidationError(
            "a transaction needs a number", entity="transaction", key="new", field="number"
        )
    if kind not in KINDS:
        raise ValidationError(
            f"kind must be sale or return, not {kind!r}",
            entity="transaction",
            key=number,
            field="kind",
        )
    get_customer(store, customer_id)
    cents = _cents(amount, number)
    if cents < 0:
        # The kind says which way the money went; a negative sale would count as a sale.
        raise ValidationError(
            f"an amount is given as a positive number; money back is a return: {amount!r}",
            entity="transaction",
            key=number,
            field="amount",
        )
    if kind == "return":
        cents = -cents
    if points is not None and (isinstance(points, bool) or abs(points) > MAX_POINTS):
        raise ValidationError(
            f"points must be a whole number up to {MAX_POINTS:,}: {points!r}",
            entity="transaction",
            key=number,
            field="points",
        )
    # Points a till gives for a return are taken back, whichever sign it gave them.
    earned = int(cents / 100) if points is None else (-abs(points) if cents < 0 else points)
    now = (clock or SystemClock()).now()
    when = to_iso(at or now)
    shop_day = shop_date(at or now, zone).isoformat()
    with store.transaction() as conn:
        existing = _posted(conn, number, customer_id, kind, cents)
        if existing is not None:
            return existing, False
        try:
            with conn.begin_nested():
                new_id = conn.execute(
                    insert(transactions)
                    .values(
                        record_id=customer_id,
                        number=number,
                        kind=kind,
                        amount_cents=cents,
                        points=earned,
                        location=location,
                        at=when,
                        local_date=shop_day,
                        created_at=to_iso(now),
                    )
                    .returning(transactions.c.id)
                ).scalar_one()
        except IntegrityError:
            # The same number posted at the same moment by a retrying till: one wins.
            existing = _posted(conn, number, customer_id, kind, cents)
            if existing is None:
                raise
            return existing, False
    return int(new_id), True


def shop_date(moment: datetime, zone: tzinfo) -> date:
    """The calendar date of a sale: as the till's clock showed it where the till gave a
    local time (a non-zero offset), else in the business's zone."""
    return moment.date() if moment.utcoffset() else local_date(moment, zone)


def _posted(conn: Connection, number: str, customer_id: int, kind: str, cents: int) -> int | None:
    """The id of this transaction if its number was posted already (with the same details)."""
    existing = conn.execute(select(transactions).where(transactions.c.number == number)).first()
    if existing is None:
        return None
    if (existing.record_id, existing.kind, existing.amount_cents) != (customer_id, kind, cents):
        raise ValidationError(
            "transaction number already posted with other details",
            entity="transaction",
            key=number,
            field="number",
        )
    return int(existing.id)


def parse_time(text: str | None) -> datetime | None:
    """Accept the hub's own time format or any ISO 8601 time with a zone."""
    if not text:
        return None
    try:
        return from_iso(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                f"not a time: {text!r} (use ISO 8601, e.g. 2026-03-01T10:00:00Z)",
                entity="transaction",
                field="at",
            ) from None
        if moment.tzinfo is None:
            raise ValidationError(
                "a time needs a zone (e.g. Z)", entity="transaction", field="at"
            ) from None
        return moment
