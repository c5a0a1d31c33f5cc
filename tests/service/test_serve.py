"""`accord serve`: the web app with the scheduler inside, /metrics, and a clean SIGTERM."""

from __future__ import annotations

import signal
import socket
import urllib.request
from pathlib import Path

from accord.jobs import state
from accord.sandbox.exo import ExoEditor
from accord.service import queries
from accord.service.records import edit_record
from accord.service.systems import open_hub
from accord.store import HubStore
from tests.service.support import accord, count_runs, exo_link, wait_for, write_config


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())
    except OSError:
        return ""


def test_s001_03_serve_pushes_a_hub_edit_at_once_and_reports_metrics(tmp_path: Path) -> None:
    link = exo_link(tmp_path, "erp", push="immediate", pull="1h")
    settings = write_config(tmp_path / "accord.toml", f"sqlite:///{tmp_path / 'hub.db'}", [link])
    store = open_hub(settings)
    erp = ExoEditor(link.url)
    port = _free_port()
    server = accord("serve", "--port", str(port), cwd=tmp_path)
    metrics = f"http://127.0.0.1:{port}/metrics/"
    try:
        wait_for(lambda: count_runs(store, "erp", "ok") >= 1, 60, "the first pull")
        company = queries.find_record(store, "erp:company:5")
        edit_record(store, company, {"name": "Kowhai Builders Ltd"})
        wait_for(
            lambda: (erp.customer(5) or {}).get("NAME") == "Kowhai Builders Ltd",
            30,
            "the edit to reach the ERP",
        )
        wait_for(lambda: "accord_link_lag_seconds" in _get(metrics), 30, "/metrics")
        text = _get(metrics)
        assert 'accord_runs_total{direction="pull",status="ok",system="erp"} 1.0' in text
        assert 'accord_records_written_total{side="system",system="erp"}' in text
        assert 'accord_records_read_total{system="erp"}' in text
        assert 'accord_link_pending_changes{system="erp"} 0.0' in text
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
        erp.close()
        store.close()
    # Uvicorn re-raises the signal once shut down: the exit status says "ended by SIGTERM".
    assert server.returncode in (0, -signal.SIGTERM), err
    assert '"scheduler.stop"' in err and '"clean": true' in err
    assert "Application shutdown complete" in err


def _push_owed(store: HubStore, system: str) -> bool:
    with store.transaction() as conn:
        return state.Snapshot(conn).push_owed(system)


def test_serve_follows_a_system_switched_off_and_on_in_the_file(tmp_path: Path) -> None:
    link = exo_link(tmp_path, "erp", push="immediate", pull="1h")
    path = tmp_path / "accord.toml"
    settings = write_config(path, f"sqlite:///{tmp_path / 'hub.db'}", [link])
    store = open_hub(settings)
    erp = ExoEditor(link.url)
    server = accord("serve", "--port", str(_free_port()), cwd=tmp_path)

    def renamed() -> bool:
        return (erp.customer(5) or {}).get("NAME") == "Kowhai Builders Ltd"

    try:
        # The first look pulls and pushes; once both ran nothing is in flight.
        wait_for(lambda: count_runs(store, "erp", "ok") >= 2, 60, "the first pull and push")
        wait_for(lambda: count_runs(store, "erp", "running") == 0, 30, "the first runs to end")
        path.write_text(path.read_text().replace('sync = "two-way"', 'sync = "off"'))
        edit_record(
            store, queries.find_record(store, "erp:company:5"), {"name": "Kowhai Builders Ltd"}
        )
        # Switched off, the link is owed the edit instead of being sent it.
        wait_for(lambda: _push_owed(store, "erp") or renamed(), 30, "the edit to be noticed")
        assert not renamed()
        path.write_text(path.read_text().replace('sync = "off"', 'sync = "two-way"'))
        wait_for(renamed, 30, "the owed push once switched on again")
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
        erp.close()
        store.close()
    assert '"config.reloaded"' in err
