"""An Exo-shaped sandbox ERP linked to a hub, for the scenario tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from accord.clock import ManualClock
from accord.config import Config, HubConfig, SystemConfig
from accord.engine import Plan
from accord.sandbox.exo import ExoEditor, generate
from accord.service import queries
from accord.service import sync as sync_service
from accord.store import HubStore, links, records
from accord.store.types import HubRecord


@dataclass
class ExoWorld:
    config: Config
    store: HubStore
    erp: ExoEditor
    clock: ManualClock

    def sync(self, **options: Any) -> Plan:
        return sync_service.run(self.config, "erp", store=self.store, clock=self.clock, **options)

    def plan(self) -> Plan:
        return self.sync(dry_run=True)

    def hub_contact(self, seqno: int, accno: int) -> HubRecord:
        record_id = queries.find_record(self.store, f"erp:person:{seqno}@{accno}")
        with self.store.transaction() as conn:
            record = records.get(conn, record_id)
        assert record is not None
        return record

    def hub_company(self, accno: int) -> HubRecord:
        record_id = queries.find_record(self.store, f"erp:company:{accno}")
        with self.store.transaction() as conn:
            record = records.get(conn, record_id)
        assert record is not None
        return record

    def contact_link_keys(self) -> list[str]:
        with self.store.transaction() as conn:
            return sorted(key for key, _ in links.external_ids(conn, "erp", "person"))


@pytest.fixture
def exo(tmp_path: Path, clock: ManualClock) -> Iterator[ExoWorld]:
    erp_url = f"sqlite:///{tmp_path / 'erp.db'}"
    generate(erp_url, customers=12, contacts=30, seed=3, clock=clock)
    config = Config(
        hub=HubConfig(database=f"sqlite:///{tmp_path / 'hub.db'}", database_env=None),
        systems={"erp": SystemConfig(kind="sql", preset="exo", url=erp_url, sync="two-way")},
    )
    store = HubStore(config.hub.database)
    editor = ExoEditor(erp_url, clock=clock)
    yield ExoWorld(config, store, editor, clock)
    editor.close()
    store.close()


def a_plain_contact(erp: ExoEditor, skip: int = 0) -> dict[str, Any]:
    """An active contact of one customer only, with a valid email."""
    shared = set(erp.shared_contacts())
    found = 0
    for accno in range(1, 200):
        for contact in erp.contacts_of(accno):
            seqno = int(str(contact["SEQNO"]))
            if (
                seqno in shared
                or contact.get("ISACTIVE") != "Y"
                or "@@" in str(contact.get("EMAIL"))
            ):
                continue
            if found == skip:
                return {**contact, "SEQNO": seqno, "ACCNO": accno}
            found += 1
    raise AssertionError("no plain contact in the sandbox")
