"""Customers' Exact Online financials in the hub (S004-05): open invoices, balance, overdue.

``refresh`` reads the open receivables list (one paged read, not a call per customer),
groups it by account and replaces the system's stored figures in one transaction, so a
failed refresh leaves the previous figures whole. Amounts are kept in integer cents.

The financial-year start set after connecting (S004-01) splits a customer's open amount
into what was invoiced in the current financial year and what is brought forward from
earlier years.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, insert, select

from accord.clock import Clock, SystemClock, local_date, to_iso
from accord.config import Config
from accord.connectors.exact import odata_time, open_api
from accord.service.exact_connect import exact_system, token_store
from accord.store import HubStore, links
from accord.store.exact_schema import exact_connections, exact_financials, exact_invoices

RECEIVABLE_SELECT = (
    "AccountId,Amount,CurrencyCode,Description,DueDate,InvoiceDate,InvoiceNumber,YourRef"
)


@dataclass
class Invoice:
    number: str
    invoice_date: str | None
    due_date: str | None
    amount_cents: int
    currency: str
    description: str
    your_ref: str
    overdue: bool


@dataclass
class Financials:
    system: str
    account_id: str
    hub_id: int | None
    currency: str
    balance_cents: int
    overdue_cents: int
    refreshed_at: str
    invoices: list[Invoice] = field(default_factory=list)
    # The current financial year's first day, once the admin has set the start (S004-01).
    year_start: str | None = None

    @property
    def brought_forward_cents(self) -> int:
        """The open amount invoiced before the current financial year."""
        if self.year_start is None:
            return 0
        start = self.year_start
        return sum(i.amount_cents for i in self.invoices if (i.invoice_date or start) < start)


def current_year_start(month_day: str | None, today: date) -> date | None:
    """The first day of the financial year ``today`` falls in, for a start of ``MM-DD``."""
    if not month_day:
        return None
    month, day = (int(part) for part in month_day.split("-"))

    def in_year(year: int) -> date:
        try:
            return date(year, month, day)
        except ValueError:  # 29 February in a year without one
            return date(year, month, day - 1)

    start = in_year(today.year)
    return start if start <= today else in_year(today.year - 1)


def cents(amount: Any) -> int:
    return int((Decimal(str(amount or 0)) * 100).quantize(Decimal(1)))


def money(amount_cents: int, currency: str) -> str:
    sign = "-" if amount_cents < 0 else ""
    whole, part = divmod(abs(amount_cents), 100)
    return f"{sign}{currency} {whole:,}.{part:02d}"


def refresh(config: Config, name: str, store: HubStore, clock: Clock | None = None) -> int:
    """Read every open receivable from Exact and store the figures; returns customers."""
    system = exact_system(config, name)
    clock = clock or SystemClock()
    today = local_date(clock.now(), config.hub.time_zone).isoformat()
    api = open_api(name, system, token_store(store, name))
    try:
        rows = [
            row
            for page in api.pages("read/financial/ReceivablesList", {"$select": RECEIVABLE_SELECT})
            for row in page
        ]
    finally:
        api.close()
    by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_account[str(row["AccountId"]).lower()].append(row)
    at = to_iso(clock.now())
    with store.transaction() as conn:
        hub_ids = links.by_external(conn, name, "company", list(by_account))
        conn.execute(delete(exact_invoices).where(exact_invoices.c.system == name))
        conn.execute(delete(exact_financials).where(exact_financials.c.system == name))
        for account_id, items in by_account.items():
            invoices = [_invoice(item, today) for item in items]
            currency = invoices[0].currency
            link = hub_ids.get(account_id)
            conn.execute(
                insert(exact_financials).values(
                    system=name,
                    account_id=account_id,
                    hub_id=link.hub_id if link else None,
                    currency=currency,
                    balance_cents=sum(i.amount_cents for i in invoices),
                    overdue_cents=sum(i.amount_cents for i in invoices if i.overdue),
                    open_invoices=len(invoices),
                    refreshed_at=at,
                )
            )
            conn.execute(
                insert(exact_invoices),
                [
                    {
                        "system": name,
                        "account_id": account_id,
                        "invoice_number": i.number,
                        "invoice_date": i.invoice_date,
                        "due_date": i.due_date,
                        "amount_cents": i.amount_cents,
                        "currency": i.currency,
                        "description": i.description[:200],
                        "your_ref": i.your_ref[:100],
                    }
                    for i in invoices
                ],
            )
    return len(by_account)


def _day(value: Any) -> str | None:
    moment = odata_time(value)
    return moment[:10] if moment else None


def _invoice(row: dict[str, Any], today: str) -> Invoice:
    due = _day(row.get("DueDate"))
    return Invoice(
        number=str(row.get("InvoiceNumber") or ""),
        invoice_date=_day(row.get("InvoiceDate")),
        due_date=due,
        amount_cents=cents(row.get("Amount")),
        currency=str(row.get("CurrencyCode") or ""),
        description=str(row.get("Description") or ""),
        your_ref=str(row.get("YourRef") or ""),
        overdue=due is not None and due < today,
    )


def for_record(store: HubStore, hub_id: int, today: date) -> list[Financials]:
    """The stored figures of one hub customer, per Exact system, with its open invoices.

    ``today`` is the business's date (``accord.clock.local_date``): what is overdue is
    judged on it, not on the day of the last refresh, so a due date passing between two
    refreshes shows in the overdue amount as it does on the invoice.
    """
    day = today.isoformat()
    with store.transaction() as conn:
        rows = conn.execute(
            select(exact_financials).where(exact_financials.c.hub_id == hub_id)
        ).all()
        starts = dict(
            conn.execute(
                select(exact_connections.c.system, exact_connections.c.financial_year_start)
            ).all()
        )
        found = []
        for row in rows:
            year_start = current_year_start(starts.get(row.system), today)
            invoices = conn.execute(
                select(exact_invoices)
                .where(
                    exact_invoices.c.system == row.system,
                    exact_invoices.c.account_id == row.account_id,
                )
                .order_by(exact_invoices.c.due_date, exact_invoices.c.invoice_number)
            ).all()
            open_invoices = [
                Invoice(
                    i.invoice_number,
                    i.invoice_date,
                    i.due_date,
                    i.amount_cents,
                    i.currency,
                    i.description or "",
                    i.your_ref or "",
                    i.due_date is not None and i.due_date < day,
                )
                for i in invoices
            ]
            found.append(
                Financials(
                    row.system,
                    row.account_id,
                    row.hub_id,
                    row.currency,
                    row.balance_cents,
                    sum(i.amount_cents for i in open_invoices if i.overdue),
                    row.refreshed_at,
                    open_invoices,
                    year_start.isoformat() if year_start else None,
                )
            )
    return found


def nightly_refresh(config: Config, name: str) -> str:
    """The preset's nightly job: refresh every customer's figures."""
    store = HubStore(config.hub.resolved_url())
    try:
        count = refresh(config, name, store)
    finally:
        store.close()
    return f"refreshed open invoices of {count} customer(s) from Exact Online"
