"""Matching against a system that numbers its own accounts (owns_codes).

The hub numbers a customer made at the till (S002-01) while the ERP, which owns the
account numbers, numbers its own new customers: both can hand out the same next number
between two syncs. The hub's number is provisional; matching on it alone would merge two
different customers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from accord.clock import ManualClock
from accord.config import Config
from accord.sandbox.exo import DR_ACCS, create_schema
from accord.service import customers
from accord.service import sync as sync_service
from accord.store import HubStore
from accord.store.database import make_system_engine
from accord.store.schema import records as records_table
from tests.support import exo_erps_config

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _world(tmp_path: Path) -> tuple[Config, HubStore, ManualClock]:
    engine = make_system_engine(f"sqlite:///{tmp_path / 'erp1.db'}")
    create_schema(engine)
    engine.dispose()
    config = exo_erps_config(tmp_path, "erp1")
    return config, HubStore(config.hub.database), ManualClock(START, step=timedelta(seconds=1))


def _erp_adds(tmp_path: Path, accno: int, name: str) -> None:
    engine = make_system_engine(f"sqlite:///{tmp_path / 'erp1.db'}")
    with engine.begin() as conn:
        stamp = datetime(2026, 3, 2, 9, 30)
        conn.execute(
            insert(DR_ACCS).values(ACCNO=accno, NAME=name, ISACTIVE="Y", LAST_UPDATED=stamp)
        )
    engine.dispose()


def _erp_names(tmp_path: Path) -> dict[int, str]:
    engine = make_system_engine(f"sqlite:///{tmp_path / 'erp1.db'}")
    with engine.connect() as conn:
        rows = conn.execute(select(DR_ACCS.c.ACCNO, DR_ACCS.c.NAME)).all()
    engine.dispose()
    return {int(accno): str(name) for accno, name in rows}


def _hub_codes(store: HubStore) -> dict[str, str]:
    with store.transaction() as conn:
        rows = conn.execute(
            select(records_table.c.data).where(records_table.c.entity == "company")
        ).all()
    return {str(row.data["name"]): str(row.data.get("code")) for row in rows}


def _till_customer(store: HubStore, clock: ManualClock, company: str, code: str = "") -> int:
    fields = {
        "company_name": company,
        "first_name": "Ana",
        "last_name": "Ngata",
        "home_location": "Main Street",
        "location_group": "All stores",
    }
    return customers.create_customer(store, {**fields, "code": code or None}, clock=clock)


def test_a_number_the_hub_gave_does_not_merge_a_different_erp_customer(tmp_path: Path) -> None:
    config, store, clock = _world(tmp_path)
    try:
        walk_in = _till_customer(store, clock, "Till Walkin")
        assert customers.get_customer(store, walk_in).data["code"] == "1"
        _erp_adds(tmp_path, 1, "Bob's Plumbing")  # the ERP's own account 1, meanwhile
        sync_service.run(config, "erp1", store=store, clock=clock)
        sync_service.run(config, "erp1", store=store, clock=clock)
        erp = _erp_names(tmp_path)
        assert sorted(erp.values()) == ["Bob's Plumbing", "Till Walkin"]
        walk_in_accno = next(a for a, n in erp.items() if n == "Till Walkin")
        # Two customers, each with the ERP's number: the walk-in renumbered by its owner.
        assert _hub_codes(store) == {"Bob's Plumbing": "1", "Till Walkin": str(walk_in_accno)}
    finally:
        store.close()


def test_a_number_typed_in_the_hub_still_matches_the_same_erp_customer(tmp_path: Path) -> None:
    config, store, clock = _world(tmp_path)
    try:
        _till_customer(store, clock, "Acme Ltd", code="5")
        _erp_adds(tmp_path, 5, "ACME  ltd")  # the same customer, entered in both places
        sync_service.run(config, "erp1", store=store, clock=clock)
        assert list(_erp_names(tmp_path)) == [5]  # linked, not created again
        assert list(_hub_codes(store).values()) == ["5"]
    finally:
        store.close()
