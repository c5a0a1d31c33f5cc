"""A hub with the web app in front of it, users of every role, and an Exo sandbox ERP."""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from accord.clock import ManualClock
from accord.config import Config, HubConfig, SystemConfig
from accord.sandbox.exo import ExoEditor, generate
from accord.service import users as user_service
from accord.store import HubStore
from accord.web.app import create_app

PASSWORD = "correct horse battery"
ROLES = ("admin", "editor", "viewer")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def log_in(client: TestClient, name: str, password: str, next_page: str = "/customers") -> Any:
    """Post the login form as a browser does: with the token of the form just loaded."""
    form = client.get("/login")
    found = _CSRF.search(form.text)
    assert found, "the login form carries no CSRF token"
    data = {"name": name, "password": password, "next": next_page, "csrf_token": found.group(1)}
    return client.post("/login", data=data)


@dataclass
class WebWorld:
    config: Config
    store: HubStore
    clock: ManualClock
    app: FastAPI
    erp: ExoEditor
    tokens: dict[str, str] = field(default_factory=dict)
    _clients: list[TestClient] = field(default_factory=list)

    def api(self, role: str = "editor") -> TestClient:
        """A client that sends the role's API token."""
        client = TestClient(self.app, headers={"Authorization": f"Bearer {self.tokens[role]}"})
        self._clients.append(client)
        return client

    def anonymous(self) -> TestClient:
        client = TestClient(self.app, follow_redirects=False)
        self._clients.append(client)
        return client

    def browser(self, role: str = "editor") -> tuple[TestClient, str]:
        """A client logged in through the login form, and its CSRF token."""
        client = self.anonymous()
        response = log_in(client, role, PASSWORD)
        assert response.status_code == 303, response.text
        page = client.get("/customers")
        found = _CSRF.search(page.text)
        assert found, "the page carries no CSRF token"
        return client, found.group(1)

    def customer_fields(self, **changes: Any) -> dict[str, Any]:
        base = {
            "first_name": "Ana",
            "last_name": "Ngata",
            "home_location": "Main Street",
            "location_group": "All stores",
        }
        return {**base, **changes}

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self.erp.close()
        self.store.close()


# Building a hub (migrations, three argon2 password hashes) and a sandbox ERP is the slow
# part of a test: it is done once per shape and the database files are copied per test.
_TEMPLATES: dict[int, tuple[Path, dict[str, str]]] = {}


def _template(customers: int) -> tuple[Path, dict[str, str]]:
    if customers in _TEMPLATES:
        return _TEMPLATES[customers]
    folder = Path(tempfile.mkdtemp(prefix="accord-web-template-"))
    atexit.register(shutil.rmtree, folder, True)
    clock = ManualClock(step=timedelta(milliseconds=1))
    generate(
        f"sqlite:///{folder / 'erp.db'}",
        customers=customers,
        contacts=customers * 2,
        seed=5,
        clock=clock,
    )
    store = HubStore(f"sqlite:///{folder / 'hub.db'}")
    tokens = {}
    for role in ROLES:
        user_service.add_user(store, role, PASSWORD, role, clock=clock)
        tokens[role] = user_service.create_token(store, role, "tests", clock=clock)
    store.close()  # the last connection to close folds the write-ahead log into the file
    _TEMPLATES[customers] = (folder, tokens)
    return folder, tokens


@contextmanager
def web_world(
    tmp_path: Path, *, conflict: str | None = None, customers: int = 6
) -> Iterator[WebWorld]:
    folder, tokens = _template(customers)
    for name in ("erp.db", "hub.db"):
        shutil.copyfile(folder / name, tmp_path / name)
    clock = ManualClock(start=datetime(2026, 1, 2, tzinfo=UTC), step=timedelta(milliseconds=1))
    erp_url = f"sqlite:///{tmp_path / 'erp.db'}"
    config = Config(
        hub=HubConfig(database=f"sqlite:///{tmp_path / 'hub.db'}", database_env=None),
        systems={
            "erp": SystemConfig(
                kind="sql", preset="exo", url=erp_url, sync="two-way", conflict=conflict
            )
        },
    )
    store = HubStore(config.hub.database)
    app = create_app(config, store=store, clock=clock)
    world = WebWorld(config, store, clock, app, ExoEditor(erp_url, clock=clock), dict(tokens))
    try:
        yield world
    finally:
        world.close()
