"""S004-05: each customer shows its Exact invoice list, balance and overdue amount.
S004-06: a customer can be created in Exact Online directly from the hub."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from accord.clock import ManualClock, local_date
from accord.errors import AccordError
from accord.sandbox.exact import Fault
from accord.sandbox.exact_data import ENTITY_ACCOUNT
from accord.service import exact_connect, financials
from accord.service.exact_customers import create_customer
from accord.service.records import create_record
from accord.store import links
from tests.acceptance.exact_support import SYSTEM, WorldFactory


def test_s004_05_open_invoices_balance_and_overdue_per_customer(
    make_exact: WorldFactory,
) -> None:
    world = make_exact(accounts=6, seed=11)
    world.sync()
    account = world.accounts()[2]
    now = datetime.now(UTC)
    with world.data.lock:
        world.data.receivables = [
            r for r in world.data.receivables if r["AccountId"] != account["ID"]
        ]
    world.data.add_receivable(
        str(account["ID"]), 100.10, now - timedelta(days=40), now - timedelta(days=10)
    )
    world.data.add_receivable(
        str(account["ID"]), 250.00, now - timedelta(days=5), now + timedelta(days=25)
    )
    world.data.add_receivable(
        str(account["ID"]), -20.05, now - timedelta(days=3), now - timedelta(days=1)
    )

    assert financials.refresh(world.config, SYSTEM, world.store) >= 1
    hub = world.hub_company(str(account["ID"]))
    (found,) = financials.for_record(world.store, hub.id, now.date())
    assert found.balance_cents == 10010 + 25000 - 2005
    assert found.overdue_cents == 10010 - 2005
    assert [i.amount_cents for i in found.invoices] == [10010, -2005, 25000]  # by due date
    assert [i.overdue for i in found.invoices] == [True, True, False]
    assert financials.money(found.balance_cents, found.currency) == "EUR 330.05"


def test_s004_05_overdue_goes_by_the_business_s_date(make_exact: WorldFactory) -> None:
    world = make_exact(accounts=3, seed=11)
    world.sync()
    account = world.accounts()[1]
    with world.data.lock:
        world.data.receivables.clear()
    due_10th = datetime(2026, 6, 10, tzinfo=UTC)
    world.data.add_receivable(str(account["ID"]), 70.00, due_10th - timedelta(days=30), due_10th)
    world.data.add_receivable(
        str(account["ID"]), 30.00, due_10th - timedelta(days=20), due_10th + timedelta(days=10)
    )
    # 20:00 UTC on the 10th is 08:00 on the 11th in Auckland: the first invoice is overdue.
    config = world.config.model_copy(
        update={"hub": world.config.hub.model_copy(update={"time_zone": "Pacific/Auckland"})}
    )
    refreshed = ManualClock(datetime(2026, 6, 10, 20, 0, tzinfo=UTC))
    financials.refresh(config, SYSTEM, world.store, clock=refreshed)
    hub = world.hub_company(str(account["ID"]))
    today = local_date(refreshed.now(), config.hub.time_zone)
    assert today == date(2026, 6, 11)
    (found,) = financials.for_record(world.store, hub.id, today)
    assert [i.overdue for i in found.invoices] == [True, False]
    assert found.overdue_cents == 7000
    # Three weeks on, with no refresh since, the second is overdue too, in the total as well.
    (later,) = financials.for_record(world.store, hub.id, date(2026, 7, 1))
    assert [i.overdue for i in later.invoices] == [True, True]
    assert later.overdue_cents == later.balance_cents == 10000


def test_s004_05_a_failed_refresh_keeps_the_previous_figures(make_exact: WorldFactory) -> None:
    world = make_exact(accounts=8, seed=5, page_size=2)
    world.sync()
    financials.refresh(world.config, SYSTEM, world.store)
    with_invoices = {str(r["AccountId"]).lower() for r in world.data.receivables}
    hub_ids = [world.hub_company(a).id for a in with_invoices]
    today = datetime.now(UTC).date()
    before = {h: financials.for_record(world.store, h, today)[0].balance_cents for h in hub_ids}
    world.sandbox.server.inject(Fault("ReceivablesList", 400, times=1, message="Bad request"))
    world.data.receivables.clear()
    # The first page is refused: nothing is replaced.
    with pytest.raises(AccordError, match="Bad request"):
        financials.refresh(world.config, SYSTEM, world.store)
    after = {h: financials.for_record(world.store, h, today)[0].balance_cents for h in hub_ids}
    assert after == before and before


def test_s004_06_a_customer_is_created_in_exact_from_the_hub(make_exact: WorldFactory) -> None:
    world = make_exact(accounts=2)
    world.sync()
    hub_id = create_record(
        world.store,
        "company",
        {"name": "Kauri Joinery Ltd", "email": "office@kaurijoinery.co.nz", "phone": "09 555 0123"},
    )
    other = create_record(world.store, "company", {"name": "Not Asked For Ltd"})
    account_id = create_customer(world.config, SYSTEM, world.store, hub_id).account_id
    created = world.data.get(ENTITY_ACCOUNT, account_id)
    assert created is not None
    assert created["Name"] == "Kauri Joinery Ltd" and created["Status"] == "C"
    assert created["Email"] == "office@kaurijoinery.co.nz" and created["Code"].strip()
    with world.store.transaction() as conn:
        assert links.by_hub(conn, SYSTEM, "company", [other]) == {}  # only on request
    # Asking again finds the link: no second account.
    assert create_customer(world.config, SYSTEM, world.store, hub_id).account_id == account_id
    assert len(world.accounts()) == 3
    # The next sync pulls Exact's code for it into the hub.
    world.sync()
    assert world.hub_company(account_id).data["code"] == created["Code"].strip()


def test_s004_06_a_value_exact_refuses_is_left_out_and_named(make_exact: WorldFactory) -> None:
    world = make_exact(accounts=1)
    hub_id = create_record(world.store, "company", {"name": "Tasman Freight", "email": "ok@tf.nz"})
    world.sandbox.server.inject(
        Fault("crm/Accounts", 400, method="POST", message="Email: e-mail domain refused")
    )
    created = create_customer(world.config, SYSTEM, world.store, hub_id)
    assert created.refused == ["email: e-mail domain refused"]
    account = world.data.get(ENTITY_ACCOUNT, created.account_id)
    assert account is not None and account["Name"] == "Tasman Freight" and "Email" not in account


def test_s004_06_a_customer_without_a_name_is_not_created(make_exact: WorldFactory) -> None:
    world = make_exact(accounts=1)
    hub_id = create_record(world.store, "company", {"email": "nameless@tf.nz"})
    with pytest.raises(AccordError, match="did not create hub customer"):
        create_customer(world.config, SYSTEM, world.store, hub_id)
    assert len(world.accounts()) == 1


def test_s004_05_open_amounts_are_split_at_the_financial_year_start(
    make_exact: WorldFactory,
) -> None:
    world = make_exact(accounts=3, seed=11)
    world.sync()
    account = world.accounts()[0]
    now = datetime.now(UTC)
    with world.data.lock:
        world.data.receivables.clear()
    world.data.add_receivable(
        str(account["ID"]), 80.00, now - timedelta(days=60), now - timedelta(days=30)
    )
    world.data.add_receivable(
        str(account["ID"]), 45.50, now - timedelta(days=2), now + timedelta(days=28)
    )
    financials.refresh(world.config, SYSTEM, world.store)
    hub = world.hub_company(str(account["ID"]))
    (unset,) = financials.for_record(world.store, hub.id, now.date())
    assert unset.year_start is None and unset.brought_forward_cents == 0
    # The financial year began 20 days ago: the older invoice is brought forward.
    start = (now - timedelta(days=20)).date()
    exact_connect.set_financial_year_start(world.config, SYSTEM, start.isoformat())
    (found,) = financials.for_record(world.store, hub.id, now.date())
    assert found.year_start == start.isoformat()
    assert found.brought_forward_cents == 8000 and found.balance_cents == 12550


@pytest.mark.parametrize(
    ("month_day", "today", "expected"),
    [
        ("04-01", date(2026, 12, 2), date(2026, 4, 1)),
        ("04-01", date(2026, 3, 31), date(2025, 4, 1)),
        ("01-01", date(2026, 1, 1), date(2026, 1, 1)),
        ("02-29", date(2026, 3, 5), date(2026, 2, 28)),
        (None, date(2026, 3, 5), None),
    ],
)
def test_s004_01_the_current_financial_year_begins_on_the_last_start_day(
    month_day: str | None, today: date, expected: date | None
) -> None:
    assert financials.current_year_start(month_day, today) == expected
