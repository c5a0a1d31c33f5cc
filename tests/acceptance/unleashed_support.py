"""A sandbox Unleashed over real HTTP on 127.0.0.1, linked to a hub, for the S001 tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from accord.clock import ManualClock
from accord.config import Config, HubConfig, SystemConfig
from accord.engine import Plan
from accord.sandbox.unleashed import Faults, UnleashedSandbox
from accord.sandbox.unleashed_generate import generate
from accord.service import queries
from accord.service import sync as sync_service
from accord.store import HubStore, records
from accord.store.types import HubRecord

SYSTEM = "unleashed"
API_ID = "6f1c2a4e-0d3b-4c9a-9e57-2b8f1a6c3d70"
API_KEY = "sandbox-key-not-a-secret"
KEY_ENV = "ACCORD_TEST_UNLEASHED_API_KEY"


@dataclass
class UnleashedWorld:
    config: Config
    store: HubStore
    sandbox: UnleashedSandbox
    clock: ManualClock

    @property
    def erp(self) -> Any:
        return self.sandbox.data

    def sync(self, **options: Any) -> Plan:
        return sync_service.run(self.config, SYSTEM, store=self.store, clock=self.clock, **options)

    def set_options(self, **changes: Any) -> None:
        system = self.config.systems[SYSTEM]
        options = {**system.options, **changes}
        self.config.systems[SYSTEM] = system.model_copy(update={"options": options})

    def set_system(self, **changes: Any) -> None:
        system = self.config.systems[SYSTEM]
        self.config.systems[SYSTEM] = system.model_copy(update=changes)

    def record(self, record_id: int) -> HubRecord:
        with self.store.transaction() as conn:
            found = records.get(conn, record_id)
        assert found is not None
        return found

    def company(self, guid: str) -> HubRecord:
        return self.record(queries.find_record(self.store, f"{SYSTEM}:company:{guid}"))

    def contact(self, key: str) -> HubRecord:
        return self.record(queries.find_record(self.store, f"{SYSTEM}:person:{key}"))

    def customers(self) -> list[dict[str, Any]]:
        found = [self.erp.customer(g) for g in self.erp.all_customer_guids()]
        return [c for c in found if c is not None]

    def customer(self, guid: str) -> dict[str, Any]:
        found = self.erp.customer(guid)
        assert found is not None
        return dict(found)

    def customer_with_contacts(self, skip: int = 0) -> dict[str, Any]:
        with_contacts = [c for c in self.customers() if c["Contacts"] and not c["Obsolete"]]
        return with_contacts[skip]

    def salesperson_guids(self) -> list[str]:
        return [p["Guid"] for p in self.erp.salespersons(1, 1000).items]


def open_world(
    tmp_path: Path,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    *,
    customers: int = 8,
    contacts: int = 20,
    faults: Faults | None = None,
    options: dict[str, Any] | None = None,
    hub_url: str | None = None,
) -> Iterator[UnleashedWorld]:
    monkeypatch.setenv(KEY_ENV, API_KEY)
    sandbox = UnleashedSandbox(API_ID, API_KEY, clock=clock, faults=faults)
    generate(sandbox.data, customers=customers, contacts=contacts, salespersons=4, seed=5)
    sandbox.start()
    config = Config(
        hub=HubConfig(database=hub_url or f"sqlite:///{tmp_path / 'hub.db'}", database_env=None),
        systems={
            SYSTEM: SystemConfig(
                kind="unleashed",
                preset="crm-unleashed",
                url=sandbox.url,
                sync="two-way",
                options={"api_id": API_ID, **(options or {})},
                secrets_env={"api_key": KEY_ENV},
            )
        },
    )
    store = HubStore(config.hub.database)
    try:
        yield UnleashedWorld(config, store, sandbox, clock)
    finally:
        store.close()
        sandbox.stop()
