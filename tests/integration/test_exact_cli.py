"""The Exact Online commands as an admin runs them, in real processes against the sandbox:
connect (consent through the printed URL), sync, financials, show, import profiles."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from accord import config as config_module
from accord.cli.app import app
from accord.sandbox.exact import ExactSandbox, SandboxSettings
from tests.acceptance.exact_support import CLIENT_ID, CLIENT_SECRET, exact_config

ACCORD = [sys.executable, "-m", "accord"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accord(*args: str) -> str:
    # In-process (starting a process costs seconds); connecting runs as a real process.
    done = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert done.exit_code == 0, done.output
    return done.output


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    values = {
        "EXACT_CLIENT_ID": CLIENT_ID,
        "EXACT_SECRET": CLIENT_SECRET,
        "ACCORD_SECRET_KEY": Fernet.generate_key().decode(),
        "COLUMNS": "200",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return {**os.environ, **values}


def test_connect_sync_financials_show_and_profiles_from_the_command_line(
    tmp_path: Path, env: dict[str, str]
) -> None:
    settings = SandboxSettings(CLIENT_ID, CLIENT_SECRET, auto_consent=True, accounts=20, seed=3)
    with ExactSandbox(settings) as sandbox:
        config = exact_config(tmp_path, sandbox.url)
        (tmp_path / "accord.toml").write_text(config_module.render(config))
        port = _free_port()
        connect = subprocess.Popen(
            [*ACCORD, "connect", "exact", "--port", str(port), "--financial-year-start", "04-01"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert connect.stdout is not None
        url = ""
        deadline = time.monotonic() + 30
        while not url.startswith("http") and time.monotonic() < deadline:
            url = connect.stdout.readline().strip()
        consent = httpx.get(url, timeout=10)
        httpx.get(consent.headers["location"], timeout=10)
        out, err = connect.communicate(timeout=30)
        assert connect.returncode == 0, out + err
        assert "division 123456" in out and "financial year starts on 04-01" in out
        grant = next(iter(sandbox.server.refresh_owner.values()))
        assert grant.refresh_tokens[-1] not in out + err  # tokens are never printed

        _accord("sync", "exact")
        state = _accord("exact", "status")
        assert "division 123456" in state and "04-01" in state
        assert "API call(s), daily budget" in state  # what the last run used
        assert "open invoices of" in _accord("exact", "financials")
        owing = sandbox.server.data.receivables[0]
        shown = _accord("show", f"exact:company:{owing['AccountId']}")
        assert owing["AccountName"] in shown and "balance EUR" in shown
        assert str(owing["InvoiceNumber"]) in shown
        assert "financial year from " in shown and "brought forward" in shown

        _accord("profile", "new", "Customers", "--map", "name=Name", "--map", "phone=Phone")
        ran = _accord("profile", "run", "Customers", "--mode", "update")
        assert "0 created, 20 updated, 0 skipped, 0 failed" in ran
        _accord(
            "profile",
            "save-as",
            "Customers",
            "Customers by code",
            "--map",
            "code=Code",
            "--key",
            "Code",
        )
        listed = _accord("profile", "list")
        assert "Customers by code" in listed
        by_code = _accord("profile", "run", "Customers by code", "--mode", "import-update")
        # Found by code (the sync brought Exact's codes), and already up to date.
        assert "0 created, 0 updated, 20 skipped, 0 failed" in by_code
