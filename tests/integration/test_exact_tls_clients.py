"""The Exact Online sandbox over HTTPS with a given certificate: the ``accord sandbox exact``
command serving our connector, and an independent open-source client (the ``exactonline``
package from PyPI, unmodified, https-only with certificate checks) doing what it does."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from cryptography.fernet import Fernet

from accord.sandbox.exact import ExactSandbox, SandboxSettings
from accord.sandbox.exact_data import ENTITY_ACCOUNT
from accord.service import exact_connect
from accord.service import sync as sync_service
from accord.store import HubStore, links
from tests.acceptance.exact_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    SYSTEM,
    consenting_browser,
    exact_config,
)
from tests.integration.exact_certs import Certificates, make_certificates


@pytest.fixture
def exact_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXACT_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("EXACT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("ACCORD_SECRET_KEY", Fernet.generate_key().decode())


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def sandbox_process(certificates: Certificates) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "accord", "sandbox", "exact", "--port", str(port),
            "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET, "--auto-consent",
            "--accounts", "15", "--tls-cert", str(certificates.cert),
            "--tls-key", str(certificates.key),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                httpx.get(
                    f"{url}/api/oauth2/auth",
                    verify=ssl.create_default_context(cafile=certificates.ca),
                    timeout=2,
                )
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("the sandbox command did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_sandbox_command_serves_https_and_the_connector_syncs_over_it(
    sandbox_process: str, certificates: Certificates, tmp_path: Path, exact_secrets: None
) -> None:
    config = exact_config(tmp_path, sandbox_process, ca_file=str(certificates.ca))
    exact_connect.connect(config, SYSTEM, consenting_browser(str(certificates.ca)), timeout=10)
    store = HubStore(config.hub.database)
    try:
        sync_service.run(config, SYSTEM, store=store)
        with store.transaction() as conn:
            assert links.count_active(conn, SYSTEM, "company") == 15
    finally:
        store.close()


def test_a_client_that_does_not_trust_the_certificate_is_refused(
    sandbox_process: str,
) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{sandbox_process}/api/oauth2/auth", timeout=5)


def test_the_exactonline_package_runs_unmodified_against_the_sandbox(
    certificates: Certificates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exactonline.api import ExactApi
    from exactonline.storage.ini import IniStorage

    # The package verifies certificates against the default trust store.
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))
    settings = SandboxSettings(
        CLIENT_ID,
        CLIENT_SECRET,
        auto_consent=True,
        accounts=70,
        seed=4,
        access_token_seconds=25,  # under the client's 30 s margin: it renews on every call
        refresh_not_before_seconds=0,
    )
    with ExactSandbox(settings, tls_cert=certificates.cert, tls_key=certificates.key) as sandbox:
        ini = tmp_path / "exact.ini"
        ini.write_text(
            "[server]\n"
            f"auth_url = {sandbox.url}/api/oauth2/auth\n"
            f"rest_url = {sandbox.url}/api\n"
            f"token_url = {sandbox.url}/api/oauth2/token\n"
            "[application]\n"
            "base_url = https://127.0.0.1:9/exact-callback\n"
            f"client_id = {CLIENT_ID}\n"
            f"client_secret = {CLIENT_SECRET}\n"
        )
        api = ExactApi(storage=IniStorage(str(ini)))
        consent = httpx.get(
            api.create_auth_request_url(), verify=ssl.create_default_context(cafile=certificates.ca)
        )
        code = parse_qs(urlparse(consent.headers["location"]).query)["code"][0]
        api.request_token(code)

        divisions, current = api.get_divisions()
        assert current == settings.division and current in divisions
        api.set_division(current)

        everyone = api.relations.all()  # 70 accounts: two pages, joined through __next
        assert len(everyone) == 70 and {"ID", "Code", "Name"} <= set(everyone[0])
        one = sandbox.server.data.of_kind(ENTITY_ACCOUNT)[5].values
        found = api.relations.get(relation_code=one["Code"].strip())
        assert found["ID"] == one["ID"]

        created = api.relations.create({"Name": "Package Client Ltd"})
        api.relations.update(created["ID"], {"Phone": "+64 9 555 0100"})
        changed = sandbox.server.data.get(ENTITY_ACCOUNT, created["ID"])
        assert changed is not None and changed["Phone"] == "+64 9 555 0100"

        owing = sandbox.server.data.receivables[0]
        theirs = api.receivables.filter(relation_id=owing["AccountId"])
        assert {r["InvoiceNumber"] for r in theirs} == {
            r["InvoiceNumber"]
            for r in sandbox.server.data.receivables
            if r["AccountId"] == owing["AccountId"]
        }
        due_later = date.today() + timedelta(days=3650)
        assert len(api.receivables.filter(duedate__lt=due_later)) == len(
            sandbox.server.data.receivables
        )
        # Every call renewed the token and kept the rotated refresh token.
        assert sandbox.server.stats["token_calls"] > 5
        assert sandbox.server.stats["401"] == 0 and sandbox.server.stats["429"] == 0
        assert datetime.now(UTC).year >= 2024 and os.environ["SSL_CERT_FILE"]
