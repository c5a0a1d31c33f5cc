"""S004-01: connecting needs the admin's client id and secret, an interactive consent in
Exact Online, and then the financial-year start. Tokens are stored encrypted."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import select

from accord.connectors.exact_auth import ReconnectError
from accord.errors import AccordError, ConfigError
from accord.sandbox.exact import ExactSandbox, SandboxSettings
from accord.service import exact_connect
from accord.store import HubStore
from accord.store.exact_schema import secrets
from tests.acceptance.exact_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    SYSTEM,
    WorldFactory,
    consenting_browser,
    exact_config,
)


def test_s004_01_connect_asks_consent_then_stores_encrypted_tokens_and_division(
    tmp_path: Path, exact_env: None
) -> None:
    settings = SandboxSettings(CLIENT_ID, CLIENT_SECRET, division=987654)
    with ExactSandbox(settings) as sandbox:
        config = exact_config(tmp_path, sandbox.url)
        shown: list[str] = []

        def browser(url: str) -> None:
            shown.append(url)
            query = parse_qs(urlparse(url).query)
            assert query["client_id"] == [CLIENT_ID] and query["response_type"] == ["code"]
            page = httpx.get(url, timeout=10)
            assert page.status_code == 200 and "Allow" in page.text  # consent is asked
            consenting_browser()(url)

        connection = exact_connect.connect(config, SYSTEM, browser, timeout=10)
        assert connection.division == 987654 and connection.financial_year_start is None
        assert exact_connect.set_financial_year_start(config, SYSTEM, "04-01") == "04-01"
        found = exact_connect.connection(config, SYSTEM)
        assert found is not None and found.financial_year_start == "04-01"

        store = HubStore(config.hub.database)
        with store.transaction() as conn:
            (sealed,) = conn.execute(select(secrets.c.value)).scalars().all()
        store.close()
        # Neither token is readable in the database.
        grant = next(iter(sandbox.server.refresh_owner.values()))
        assert grant.refresh_tokens[-1] not in sealed
        assert all(token not in sealed for token in sandbox.server.access)


def test_s004_01_a_forged_state_is_refused_and_nothing_is_stored(
    tmp_path: Path, exact_env: None
) -> None:
    settings = SandboxSettings(CLIENT_ID, CLIENT_SECRET, auto_consent=True)
    with ExactSandbox(settings) as sandbox:
        config = exact_config(tmp_path, sandbox.url)

        def forger(url: str) -> None:
            page = httpx.get(url, timeout=10)
            location = page.headers["location"].replace("state=", "state=forged")
            httpx.get(location, timeout=10)

        with pytest.raises(AccordError, match="state does not match"):
            exact_connect.connect(config, SYSTEM, forger, timeout=10)
        assert exact_connect.connection(config, SYSTEM) is None
        assert sandbox.server.stats["token_calls"] == 0


def test_s004_01_refused_consent_stores_nothing(tmp_path: Path, exact_env: None) -> None:
    with ExactSandbox(SandboxSettings(CLIENT_ID, CLIENT_SECRET)) as sandbox:
        config = exact_config(tmp_path, sandbox.url)

        def refuser(url: str) -> None:
            form = dict(httpx.QueryParams(url.split("?", 1)[1]))
            answer = httpx.post(url.split("?")[0], data={**form, "decision": "deny"})
            httpx.get(answer.headers["location"], timeout=10)

        with pytest.raises(AccordError, match="consent was refused"):
            exact_connect.connect(config, SYSTEM, refuser, timeout=10)
        assert exact_connect.connection(config, SYSTEM) is None


def test_s004_01_without_a_secret_key_connecting_stops_before_consent(
    tmp_path: Path, exact_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACCORD_SECRET_KEY")
    config = exact_config(tmp_path, "http://127.0.0.1:9")
    shown: list[str] = []
    with pytest.raises(ConfigError, match="ACCORD_SECRET_KEY is not set"):
        exact_connect.connect(config, SYSTEM, shown.append, timeout=1)
    assert shown == []


def test_s004_01_the_financial_year_start_must_be_a_day(make_exact: WorldFactory) -> None:
    world = make_exact()
    with pytest.raises(AccordError, match="not a financial-year start"):
        exact_connect.set_financial_year_start(world.config, SYSTEM, "13-01")
    assert exact_connect.set_financial_year_start(world.config, SYSTEM, "2026-07-01") == "07-01"


def test_s004_01_disconnecting_withdraws_the_grant_and_forgets_the_tokens(
    make_exact: WorldFactory,
) -> None:
    world = make_exact(accounts=2)
    world.sync()
    assert exact_connect.disconnect(world.config, SYSTEM)
    grants = list(world.sandbox.server.refresh_owner.values())
    assert grants and all(g.revoked for g in grants)
    assert exact_connect.connection(world.config, SYSTEM) is None
    with world.store.transaction() as conn:
        assert conn.execute(select(secrets.c.name)).all() == []
    with pytest.raises(ReconnectError, match="not connected to Exact Online yet"):
        world.sync()
    assert not exact_connect.disconnect(world.config, SYSTEM)
