"""Every log line of a run carries its run id; no log line carries a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from sqlalchemy import select
from sqlalchemy.engine import make_url

from accord.config import Config, HubConfig, SystemConfig
from accord.errors import AccordError
from accord.jobs import logs, tasks
from accord.sandbox.exo import generate
from accord.sandbox.unleashed import UnleashedSandbox
from accord.sandbox.unleashed_generate import generate as generate_unleashed
from accord.store import HubStore
from accord.store.schema import runs

pytestmark = pytest.mark.postgres

API_ID = "0b6e3f1a-5c2d-4e8f-9a17-3d4c5b6a7e80"
API_KEY = "unleashed-key-5f2a91c7"
WRONG_KEY = "unleashed-key-wrong-8d3e"
HUB_PASSWORD = "hub-password-2b7f04"
ERP_PASSWORD = "erp-password-a93c11"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The JSON lines the jobs log (structlog and the standard library's records)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    logs.configure(stream=stream, stdlib_level=logging.DEBUG)
    try:
        yield stream
    finally:
        root.handlers, root.level = handlers, level
        structlog.reset_defaults()


def test_every_line_of_a_run_names_the_run_and_no_line_holds_a_secret(
    tmp_path: Path,
    pg_schema_url: str,
    captured: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub_url = _password_url(pg_schema_url, HUB_PASSWORD)
    monkeypatch.setenv("ACCORD_TEST_LOG_HUB_URL", hub_url)
    monkeypatch.setenv("ACCORD_TEST_LOG_KEY", API_KEY)
    monkeypatch.setenv("ACCORD_TEST_LOG_WRONG_KEY", WRONG_KEY)
    monkeypatch.setenv("ACCORD_TEST_LOG_ERP_URL", _password_url(pg_schema_url, ERP_PASSWORD))
    exo_url = f"sqlite:///{tmp_path / 'exo.db'}"
    generate(exo_url, customers=6, contacts=12, seed=11)
    sandbox = UnleashedSandbox(API_ID, API_KEY)
    generate_unleashed(sandbox.data, customers=5, contacts=8, salespersons=2, seed=4)
    sandbox.start()

    def unleashed(key_env: str) -> SystemConfig:
        return SystemConfig(
            kind="unleashed",
            preset="crm-unleashed",
            url=sandbox.url,
            sync="two-way",
            options={"api_id": API_ID},
            secrets_env={"api_key": key_env},
            owns_codes=False,
        )

    settings = Config(
        # As deployed: the hub's password comes from the environment, never the file.
        hub=HubConfig(database_env="ACCORD_TEST_LOG_HUB_URL"),
        systems={
            "erp": SystemConfig(kind="sql", preset="exo", url=exo_url, sync="two-way"),
            "shop": unleashed("ACCORD_TEST_LOG_KEY"),
            "locked": unleashed("ACCORD_TEST_LOG_WRONG_KEY"),
            # An ERP database reached through a URL with a password in it, which refuses
            # the connector (no ERP tables there): the run fails.
            "missing": SystemConfig(
                kind="sql",
                preset="exo",
                url_env="ACCORD_TEST_LOG_ERP_URL",
                sync="two-way",
                owns_codes=False,
            ),
        },
    )
    store = HubStore(hub_url)
    try:
        assert tasks.sync_link(settings, "erp", "both", store=store).status == "ok"
        assert tasks.sync_link(settings, "shop", "both", store=store).status == "ok"
        stopped = tasks.sync_link(settings, "erp", "pull", store=store, stop=lambda: True)
        assert stopped.status == "stopped"
        with pytest.raises(AccordError) as refused:  # the service answers 403
            tasks.sync_link(settings, "locked", "pull", store=store)
        logging.getLogger("accord.test").error("job failed", exc_info=refused.value)
        # Fails before its run starts (no ERP tables there); the worker logs the error.
        with pytest.raises(AccordError) as missing:
            tasks.sync_link(settings, "missing", "pull", store=store)
        logging.getLogger("accord.test").error("job failed", exc_info=missing.value)
        with store.transaction() as conn:
            run_systems = {row.id: row.system for row in conn.execute(select(runs))}
    finally:
        store.close()
        sandbox.stop()

    text = captured.getvalue()
    for secret in (API_KEY, WRONG_KEY, HUB_PASSWORD, ERP_PASSWORD):
        assert secret not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert sorted(run_systems.values()) == ["erp", "erp", "locked", "shop"]
    # A run's lines: from its start to its end, tied to it by the system and direction.
    seen: dict[int, list[str]] = {}
    for line in lines:
        if "system" not in line:
            continue
        if line["event"] == "job.failed":  # before its run began: there is no run id
            assert line["system"] == "missing" and "run_id" not in line, line
            continue
        assert "run_id" in line, line
        assert run_systems[line["run_id"]] == line["system"], line
        seen.setdefault(line["run_id"], []).append(str(line["event"]))
    assert set(seen) == set(run_systems)
    assert [line["system"] for line in lines if line["event"] == "job.failed"] == ["missing"]
    for run_id, events in seen.items():
        assert events[0] == "run.start", (run_id, events)
        ends = [e for e in events if e in ("run.finish", "run.failed")]
        assert len(ends) == 1, (run_id, events)
    # Lines the standard library logs during a run (the HTTP client's) carry it as well.
    shop_runs = {i for i, s in run_systems.items() if s == "shop"}
    assert any(line.get("logger") and line.get("run_id") in shop_runs for line in lines), (
        "no standard-library line from the Unleashed run"
    )


def _password_url(url: str, password: str) -> str:
    parsed = make_url(url)
    if parsed.password:  # a server that checks passwords: the real one is the secret
        return url
    return parsed.set(password=password).render_as_string(hide_password=False)
