"""An Exact Online sandbox on 127.0.0.1 and a hub connected to it, for the S004 tests."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from accord.clock import SystemClock
from accord.config import Config, HubConfig, SystemConfig
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
