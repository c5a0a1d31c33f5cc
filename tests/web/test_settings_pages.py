"""Settings for admins: "Connect Exact Online" through the web app's OAuth2 flow (S004-01),
the import-profiles editor (S004-02, S004-03), and the preset's switches."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from accord.presets import preset
from accord.sandbox.exact import ExactSandbox, SandboxSettings
from accord.service import exact_connect
from accord.service import import_profiles as profiles
from accord.service import users as user_service
from accord.store import HubStore
from accord.web.app import create_app
from tests.acceptance.exact_support import CLIENT_ID, CLIENT_SECRET, SYSTEM, exact_config
from tests.acceptance.exact_support import exact_env as exact_env  # the fixture
from tests.web.support import PASSWORD, log_in

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Admin:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        found = _CSRF.search(client.get("/settings").text)
        assert found
        self.csrf = found.group(1)

    def post(self, path: str, **data: str) -> Any:
        return self.client.post(path, data={**data, "csrf_token": self.csrf})


@pytest.fixture
def exact_web(tmp_path: Path, exact_env: None) -> Iterator[tuple[ExactSandbox, Admin, HubStore]]:
    settings = SandboxSettings(CLIENT_ID, CLIENT_SECRET, auto_consent=True, accounts=6, seed=3)
    with ExactSandbox(settings) as sandbox:
        config = exact_config(tmp_path, sandbox.url)
        store = HubStore(config.hub.database)
        for role in ("admin", "viewer"):
            user_service.add_user(store, role, PASSWORD, role)
        with TestClient(create_app(config, store=store), follow_redirects=False) as client:
            assert log_in(client, "admin", PASSWORD, "/settings").status_code == 303
            yield sandbox, Admin(client), store
        store.close()


def _connect(admin: Admin) -> tuple[str, Any]:
    started = admin.post(f"/settings/systems/{SYSTEM}/connect")
    assert started.status_code == 303
    authorize = started.headers["location"]
    assert authorize.startswith("http://127.0.0.1:") and "state=" in authorize
    # The admin's browser at Exact Online (which consents at once) is sent back here.
    answer = httpx.get(authorize, timeout=10)
    assert answer.status_code == 302
    callback = answer.headers["location"]
    assert callback.startswith("http://testserver/settings/connect/callback?")
    return callback, admin.client.get(callback)


def test_s004_01_connect_exact_online_from_the_settings_page(
    exact_web: tuple[ExactSandbox, Admin, HubStore],
) -> None:
    sandbox, admin, store = exact_web
    page = admin.client.get("/settings").text
    assert "Not connected to Exact Online yet." in page
    assert f'action="/settings/systems/{SYSTEM}/connect"' in page

    forged = admin.client.get("/settings/connect/callback", params={"code": "x", "state": "y"})
    assert forged.status_code == 303 and "problem=" in forged.headers["location"]
    assert "forged or stale" in admin.client.get(forged.headers["location"]).text

    callback, done = _connect(admin)
    assert done.status_code == 303 and "connected=exact" in done.headers["location"]
    shown = admin.client.get(done.headers["location"]).text
    assert "Connected exact to Exact Online division 123456" in shown
    assert "Connected to division <strong>123456</strong>" in shown
    config = admin.client.app.state.accord.config  # type: ignore[attr-defined]
    connection = exact_connect.connection(config, SYSTEM)
    assert connection is not None and connection.division == 123456
    assert exact_connect.token_store(store, SYSTEM).load() is not None

    year = admin.post(f"/settings/systems/{SYSTEM}/year-start", financial_year_start="04-01")
    assert year.status_code == 303
    assert "financial year starts on 04-01" in admin.client.get(year.headers["location"]).text
    bad = admin.post(f"/settings/systems/{SYSTEM}/year-start", financial_year_start="13-40")
    assert "not a financial-year start" in admin.client.get(bad.headers["location"]).text

    # A replayed answer (its state was used once already) is refused.
    replayed = admin.client.get(callback)
    assert "forged or stale" in admin.client.get(replayed.headers["location"]).text
    assert sandbox.server.stats["token_calls"] == 1


def test_s004_03_import_profiles_are_edited_saved_as_new_and_run_from_settings(
    exact_web: tuple[ExactSandbox, Admin, HubStore],
) -> None:
    _, admin, store = exact_web
    _connect(admin)
    listing = admin.client.get("/settings/import-profiles")
    assert listing.status_code == 200 and "No import profiles yet." in listing.text
    editor = admin.client.get("/settings/import-profiles/new", params={"target": "company"})
    assert editor.status_code == 200 and 'name="map.name"' in editor.text

    refused = admin.post(
        "/settings/import-profiles",
        title="Customers",
        system=SYSTEM,
        target="company",
        key_field="Code",
        **{"map.name": "Name"},
    )
    assert refused.status_code == 422 and "map the key field Code" in refused.text

    created = admin.post(
        "/settings/import-profiles",
        title="Customers",
        system=SYSTEM,
        target="company",
        key_field="Code",
        **{"map.name": "Name", "map.code": "Code", "map.phone": "Phone"},
    )
    assert created.status_code == 303
    profile_id = int(created.headers["location"].split("/")[-1].split("?")[0])
    saved = profiles.get(store, profile_id)
    assert saved.mapping == {"name": "Name", "code": "Code", "phone": "Phone"}
    assert saved.key_field == "Code" and saved.hub_key == "code"
    opened = admin.client.get(f"/settings/import-profiles/{profile_id}").text
    assert "<option selected>Code</option>" in opened

    ran = admin.post(
        f"/settings/import-profiles/{profile_id}",
        action="run",
        mode="import",
        title="Customers",
        system=SYSTEM,
        target="company",
        key_field="Code",
        **{"map.name": "Name", "map.code": "Code", "map.phone": "Phone", "map.email": "Email"},
    )
    assert ran.status_code == 200, ran.text
    assert "Run report" in ran.text and "Ran: " in ran.text
    report = profiles.last_runs(store, profile_id, 1)[0]
    assert report.counts["created"] >= 1 and report.counts["failed"] == 0
    assert profiles.get(store, profile_id).mapping["email"] == "Email"  # saved before the run

    again = admin.post(
        f"/settings/import-profiles/{profile_id}",
        action="run",
        mode="update",
        title="Customers",
        system=SYSTEM,
        target="company",
        key_field="Code",
        **{"map.name": "Name", "map.code": "Code", "map.phone": "Phone", "map.email": "Email"},
    )
    assert again.status_code == 200 and f"{report.counts['created']} skipped" in again.text

    copy = admin.post(
        f"/settings/import-profiles/{profile_id}",
        action="save_as_new",
        new_title="Customers, names only",
        title="Customers",
        system=SYSTEM,
        target="company",
        key_field="ID",
        **{"map.name": "Name"},
    )
    assert copy.status_code == 303
    titles = [p.title for p in profiles.list_profiles(store)]
    assert titles == ["Customers", "Customers, names only"]
    assert profiles.get(store, "Customers").key_field == "Code"  # the original is unchanged
    listed = admin.client.get("/settings/import-profiles").text
    assert "Customers, names only" in listed and "(update)" in listed


def test_import_profiles_and_connect_are_for_admins_only(
    exact_web: tuple[ExactSandbox, Admin, HubStore],
) -> None:
    _, admin, _ = exact_web
    app = admin.client.app
    with TestClient(app, follow_redirects=False) as viewer:
        assert log_in(viewer, "viewer", PASSWORD).status_code == 303
        found = _CSRF.search(viewer.get("/settings").text)
        assert found
        assert viewer.get("/settings/import-profiles").status_code == 403
        connect = viewer.post(
            f"/settings/systems/{SYSTEM}/connect", data={"csrf_token": found.group(1)}
        )
        assert connect.status_code == 403
        assert "Connect Exact Online" not in viewer.get("/settings").text
    assert admin.client.post(f"/settings/systems/{SYSTEM}/connect").status_code == 403  # no CSRF


def test_presets_declare_their_switches() -> None:
    switches = preset("crm-unleashed").switches
    assert switches == {
        "sync_enabled": True,
        "account_manager_sync": True,
        "nightly_account_manager_fix": False,
        "address_sync": True,
    }
    assert preset("exo").switches == {}
