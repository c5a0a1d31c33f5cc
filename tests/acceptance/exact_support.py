"""An Exact Online sandbox on 127.0.0.1 and a hub connected to it, for the S004 tests."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from cryptography.fernet import Fernet

from accord.clock import Clock, SystemClock
from accord.config import Config, HubConfig, SystemConfig
from accord.connectors.base import (
    Capabilities,
    ChangeBatch,
    Connector,
    ExternalRecord,
    Operation,
    OperationResult,
)
from accord.engine import Plan
from accord.sandbox.exact import ExactSandbox, SandboxSettings
from accord.sandbox.exact_data import ENTITY_ACCOUNT, ENTITY_CONTACT, ExactData
from accord.service import exact_connect, queries
from accord.service import sync as sync_service
from accord.store import HubStore, records
from accord.store.types import HubRecord

CLIENT_ID = "accord-test-client"
CLIENT_SECRET = "s3cret-for-tests"
SYSTEM = "exact"


def consenting_browser(ca_file: str | None = None) -> Callable[[str], None]:
    """Opens the authorize URL and follows the redirect to the callback, as a browser does."""

    def open_url(url: str) -> None:
        verify = ssl.create_default_context(cafile=ca_file) if ca_file else True
        with httpx.Client(verify=verify, timeout=10) as client:
            page = client.get(url)
            if page.status_code == 302:
                client.get(page.headers["location"])
                return
            # The consent page: press "Allow".
            form = dict(httpx.QueryParams(url.split("?", 1)[1]))
            answer = client.post(url.split("?", 1)[0], data={**form, "decision": "allow"})
            client.get(answer.headers["location"])

    return open_url


@dataclass
class ExactWorld:
    config: Config
    store: HubStore
    sandbox: ExactSandbox

    @property
    def data(self) -> ExactData:
        return self.sandbox.server.data

    def sync(self, **options: Any) -> Plan:
        return sync_service.run(
            self.config, SYSTEM, store=self.store, clock=SystemClock(), **options
        )

    def hub_company(self, account_id: str) -> HubRecord:
        record_id = queries.find_record(self.store, f"{SYSTEM}:company:{account_id}")
        with self.store.transaction() as conn:
            record = records.get(conn, record_id)
        assert record is not None
        return record

    def accounts(self) -> list[dict[str, Any]]:
        return [e.values for e in self.data.of_kind(ENTITY_ACCOUNT)]

    def contacts(self) -> list[dict[str, Any]]:
        return [e.values for e in self.data.of_kind(ENTITY_CONTACT)]


def exact_config(tmp_path: Path, url: str, **options: Any) -> Config:
    return Config(
        hub=HubConfig(database=f"sqlite:///{tmp_path / 'hub.db'}", database_env=None),
        systems={
            SYSTEM: SystemConfig(
                kind="exact",
                preset="exact-online",
                url=url,
                sync="two-way",
                conflict="field_lww",
                secrets_env={"client_id": "EXACT_CLIENT_ID", "client_secret": "EXACT_SECRET"},
                options=options,
            )
        },
    )


@pytest.fixture
def exact_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXACT_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("EXACT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("ACCORD_SECRET_KEY", Fernet.generate_key().decode())


WorldFactory = Callable[..., ExactWorld]


@pytest.fixture
def make_exact(tmp_path: Path, exact_env: None) -> Iterator[WorldFactory]:
    """Start a sandbox with the given settings and connect a hub to it."""
    opened: list[ExactWorld] = []

    def make(**settings: Any) -> ExactWorld:
        sandbox = ExactSandbox(
            SandboxSettings(CLIENT_ID, CLIENT_SECRET, auto_consent=True, **settings)
        ).start()
        config = exact_config(tmp_path, sandbox.url)
        store = HubStore(config.hub.database)
        exact_connect.connect(config, SYSTEM, consenting_browser(), timeout=10)
        world = ExactWorld(config, store, sandbox)
        opened.append(world)
        return world

    yield make
    for world in opened:
        world.store.close()
        world.sandbox.stop()


class AccountsAsThings:
    """The Exact Online connector seen through the connector conformance suite's entity:
    its "things" with NAME and EMAIL are Exact accounts with Name and Email. Only names are
    translated; every call is the connector's own, over HTTP to a running sandbox."""

    FIELDS: ClassVar[dict[str, str]] = {"NAME": "Name", "EMAIL": "Email"}

    def __init__(self, connector: Connector, entity: str, on_close: Callable[[], None]) -> None:
        self.name = connector.name
        self.inner = connector
        self.entity = entity
        self._on_close = on_close

    def _record(self, record: ExternalRecord) -> ExternalRecord:
        values = {ours: record.values.get(theirs) for ours, theirs in self.FIELDS.items()}
        return replace(record, values={} if record.deleted else values)

    def _operation(self, op: Operation) -> Operation:
        values = {self.FIELDS[name]: value for name, value in op.values.items()}
        return replace(op, values=values)

    def entities(self) -> Sequence[str]:
        return [self.entity]

    def capabilities(self, entity: str) -> Capabilities:
        return self.inner.capabilities("accounts")

    def read_changes(
        self, entity: str, cursor: str | None, batch_size: int
    ) -> Iterator[ChangeBatch]:
        for batch in self.inner.read_changes("accounts", cursor, batch_size):
            yield ChangeBatch([self._record(r) for r in batch.records], batch.cursor)

    def read_by_keys(self, entity: str, keys: Sequence[str]) -> list[ExternalRecord]:
        return [self._record(r) for r in self.inner.read_by_keys("accounts", keys)]

    def list_keys(self, entity: str) -> Iterator[str]:
        return self.inner.list_keys("accounts")

    def count(self, entity: str) -> int:
        return self.inner.count("accounts")

    def note_writes(
        self, entity: str, cursor: str | None, results: Sequence[OperationResult]
    ) -> str | None:
        return cursor  # reads return our own writes; the engine knows them by version

    def refusals(
        self, entity: str, operations: Sequence[Operation]
    ) -> list[OperationResult | None]:
        return self.inner.refusals("accounts", [self._operation(op) for op in operations])

    def apply(self, entity: str, operations: Sequence[Operation]) -> list[OperationResult]:
        results = self.inner.apply("accounts", [self._operation(op) for op in operations])
        ours = {theirs: name for name, theirs in self.FIELDS.items()}
        return [replace(r, field=ours.get(r.field, r.field)) if r.field else r for r in results]

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            self._on_close()


def conformance_subject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entity: str, clock: Clock
) -> AccountsAsThings:
    """An empty sandbox, a hub connected to it, and the connector on its accounts."""
    from accord.service.systems import open_system

    monkeypatch.setenv("EXACT_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("EXACT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("ACCORD_SECRET_KEY", Fernet.generate_key().decode())
    # The suite makes many quick calls: a generous per-minute limit keeps it from pausing.
    settings = SandboxSettings(CLIENT_ID, CLIENT_SECRET, auto_consent=True, minutely_limit=6000)
    sandbox = ExactSandbox(settings).start()
    try:
        config = exact_config(tmp_path, sandbox.url)
        HubStore(config.hub.database).close()  # the hub's tables, tokens included
        exact_connect.connect(config, SYSTEM, consenting_browser(), timeout=10)
        connector, _ = open_system(config, SYSTEM, clock)
    except BaseException:
        sandbox.stop()
        raise
    return AccountsAsThings(connector, entity, sandbox.stop)
