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
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from accord import config as config_module
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


class _FormReader(HTMLParser):
    """What a browser posts for the form with ``action`` when nobody touches it."""

    def __init__(self, action: str) -> None:
        super().__init__(convert_charrefs=True)
        self.action = action
        self.fields: dict[str, str] = {}
        self.found = False
        self._inside = False
        self._fieldsets: list[bool] = []  # disabled or not, innermost last
        self._select: tuple[str, list[tuple[str, bool]]] | None = None
        self._option: tuple[str | None, bool, list[str]] | None = None
        self._textarea: tuple[str, list[str]] | None = None

    def _off(self, attrs: dict[str, str | None]) -> bool:
        return "disabled" in attrs or any(self._fieldsets)

    def handle_starttag(self, tag: str, attr_list: list[tuple[str, str | None]]) -> None:
        attrs = dict(attr_list)
        if tag == "form":
            self._inside = attrs.get("action") == self.action
            self.found = self.found or self._inside
        if not self._inside:
            return
        name = attrs.get("name")
        if tag == "fieldset":
            self._fieldsets.append("disabled" in attrs)
        elif tag == "input" and name and not self._off(attrs):
            kind = (attrs.get("type") or "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.fields[name] = attrs.get("value") or "on"
            elif kind not in ("submit", "button", "reset", "image", "file"):
                self.fields[name] = attrs.get("value") or ""
        elif tag == "select" and name and not self._off(attrs):
            self._select = (name, [])
        elif tag == "option" and self._select is not None:
            self._option = (attrs.get("value"), "selected" in attrs, [])
        elif tag == "textarea" and name and not self._off(attrs):
            self._textarea = (name, [])

    def handle_data(self, data: str) -> None:
        if self._option is not None:
            self._option[2].append(data)
        if self._textarea is not None:
            self._textarea[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if not self._inside:
            return
        if tag == "form":
            self._inside = False
        elif tag == "fieldset" and self._fieldsets:
            self._fieldsets.pop()
        elif tag == "option" and self._select is not None and self._option is not None:
            value, selected, text = self._option
            self._select[1].append(
                (" ".join("".join(text).split()) if value is None else value, selected)
            )
            self._option = None
        elif tag == "select" and self._select is not None:
            name, options = self._select
            chosen = [value for value, selected in options if selected] or [
                value for value, _ in options[:1]
            ]
            if chosen:
                self.fields[name] = chosen[-1]
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            name, text = self._textarea
            self.fields[name] = "".join(text).removeprefix("\n")
            self._textarea = None


def form_fields(page: str, action: str) -> dict[str, str]:
    """The fields the form posting to ``action`` sends as the page rendered it: every
    input, hidden ones included, ticked boxes only, the selected options; nothing that is
    disabled. Change the ones the user changes, then post the lot, as a browser does."""
    reader = _FormReader(action)
    reader.feed(page)
    reader.close()
    assert reader.found, f"the page has no form posting to {action}"
    return reader.fields


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
    tmp_path: Path, *, conflict: str | None = None, customers: int = 6, file: bool = False
) -> Iterator[WebWorld]:
    """``file``: the configuration is written to ``tmp_path / "accord.toml"`` and read from
    there, as `accord serve` reads it (else it lives in memory only)."""
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
    if file:
        config_module.save(config, tmp_path / "accord.toml")
        config = config_module.load(tmp_path / "accord.toml")
    store = HubStore(config.hub.database)
    app = create_app(config, store=store, clock=clock)
    world = WebWorld(config, store, clock, app, ExoEditor(erp_url, clock=clock), dict(tokens))
    try:
        yield world
    finally:
        world.close()


def held_email_conflict(world: WebWorld) -> tuple[int, int]:
    """A customer's email changed in the hub and in the ERP (a world made with
    ``conflict="hold"``): its record id and the id of the conflict held for it."""
    api = world.api("admin")
    api.post("/api/v1/systems/erp/sync")
    company = api.get("/api/v1/customers", params={"size": 1}).json()["items"][0]
    accno = int(api.get(f"/api/v1/records/{company['id']}/sync").json()[0]["external_id"])
    api.patch(f"/api/v1/customers/{company['id']}", json={"fields": {"email": "hub@shop.example"}})
    world.erp.update_customer(accno, EMAIL="erp@shop.example")
    api.post("/api/v1/systems/erp/sync")
    held = api.get("/api/v1/conflicts").json()
    assert [c["field"] for c in held] == ["email"], held
    return int(company["id"]), int(held[0]["id"])
