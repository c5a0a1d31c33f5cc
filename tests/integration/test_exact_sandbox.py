"""The Exact Online sandbox behaves as the documentation says, seen over raw HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from accord.sandbox.exact import ExactSandbox, Fault, SandboxSettings

CLIENT = {"client_id": "cid", "client_secret": "sec"}
REDIRECT = "http://127.0.0.1:9/cb"


@pytest.fixture
def sandbox() -> Iterator[ExactSandbox]:
    settings = SandboxSettings(
        "cid", "sec", auto_consent=True, accounts=70, minutely_limit=5, minute_seconds=30
    )
    with ExactSandbox(settings) as running:
        yield running


def _code(client: httpx.Client) -> str:
    answer = client.get(
        "/api/oauth2/auth",
        params={"client_id": "cid", "redirect_uri": REDIRECT, "response_type": "code"},
    )
    return parse_qs(urlparse(answer.headers["location"]).query)["code"][0]


def _exchange(client: httpx.Client, code: str) -> httpx.Response:
    return client.post(
        "/api/oauth2/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **CLIENT},
    )


def _refresh(client: httpx.Client, token: str) -> httpx.Response:
    return client.post(
        "/api/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": token, **CLIENT}
    )


def test_a_code_works_once_and_expires_in_is_a_string(sandbox: ExactSandbox) -> None:
    with httpx.Client(base_url=sandbox.url) as client:
        code = _code(client)
        first = _exchange(client, code)
        assert first.status_code == 200 and first.json()["expires_in"] == "600"
        again = _exchange(client, code)
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_renewing_early_is_refused_and_a_used_refresh_token_expires_the_older(
    sandbox: ExactSandbox,
) -> None:
    with httpx.Client(base_url=sandbox.url) as client:
        first = _exchange(client, _code(client)).json()
        early = _refresh(client, first["refresh_token"])
        assert early.status_code == 401 and "not expired" in early.json()["error_description"]
        sandbox.server.expire_access_tokens()
        second = _refresh(client, first["refresh_token"]).json()
        sandbox.server.expire_access_tokens()
        third = _refresh(client, second["refresh_token"]).json()  # uses the new one
        assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])
        stale = _refresh(client, first["refresh_token"])
        assert stale.status_code == 400 and stale.json()["error"] == "invalid_grant"


def test_limits_errors_and_paging(sandbox: ExactSandbox) -> None:
    with httpx.Client(base_url=sandbox.url) as client:
        token = _exchange(client, _code(client)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        page = client.get("/api/v1/123456/crm/Accounts", params={"$select": "ID"}, headers=headers)
        body = page.json()["d"]
        assert len(body["results"]) == 60 and body["__next"].startswith(sandbox.url)
        assert page.headers["X-RateLimit-Minutely-Remaining"] == "4"
        assert page.headers["X-RateLimit-Remaining"] == "4999"
        rest = client.get(body["__next"], headers=headers).json()["d"]
        assert len(rest["results"]) == 10 and "__next" not in rest

        wrong = client.get("/api/v1/999/crm/Accounts", headers=headers)
        assert wrong.status_code == 403 and wrong.json()["error"]["message"]["value"]
        unauthorised = client.get("/api/v1/123456/crm/Accounts")
        assert unauthorised.status_code == 401
        sandbox.server.inject(Fault("crm/Contacts", 500))
        faulty = client.get("/api/v1/123456/crm/Contacts", headers=headers)
        assert (
            faulty.status_code == 500 and "Injected" in faulty.json()["error"]["message"]["value"]
        )

        limited = client.get("/api/v1/123456/crm/Accounts", headers=headers)
        assert limited.status_code == 429
        assert limited.headers["X-RateLimit-Minutely-Remaining"] == "0"
        assert "X-RateLimit-Remaining" not in limited.headers  # only the minutely ones
        assert sandbox.server.stats["429"] == 1


def test_created_accounts_get_right_aligned_codes_and_bad_values_are_refused(
    sandbox: ExactSandbox,
) -> None:
    with httpx.Client(base_url=sandbox.url) as client:
        token = _exchange(client, _code(client)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        made = client.post("/api/v1/123456/crm/Accounts", json={"Name": "X"}, headers=headers)
        assert made.status_code == 201
        code = made.json()["d"]["Code"]
        assert len(code) == 18 and code.strip().isdigit()
        bad = client.post(
            "/api/v1/123456/crm/Accounts", json={"Name": "Y", "Email": "nope"}, headers=headers
        )
        assert bad.status_code == 400
        assert bad.json()["error"]["message"]["value"].startswith("Email:")
        key = made.json()["d"]["ID"]
        put = client.put(
            f"/api/v1/123456/crm/Accounts(guid'{key}')", json={"Phone": "1"}, headers=headers
        )
        assert put.status_code == 204 and put.content == b""


def _bearer(client: httpx.Client) -> dict[str, str]:
    return {"Authorization": f"Bearer {_exchange(client, _code(client)).json()['access_token']}"}


def test_account_codes_are_unique_and_found_by_filter() -> None:
    settings = SandboxSettings("cid", "sec", auto_consent=True, accounts=3)
    with ExactSandbox(settings) as sandbox, httpx.Client(base_url=sandbox.url) as client:
        headers = _bearer(client)
        accounts = "/api/v1/123456/crm/Accounts"
        made = client.post(accounts, json={"Name": "A", "Code": "700123"}, headers=headers)
        assert made.status_code == 201 and made.json()["d"]["Code"] == "700123".rjust(18)
        twice = client.post(accounts, json={"Name": "B", "Code": "700123"}, headers=headers)
        assert twice.status_code == 400
        assert twice.json() == {
            "error": {"code": "", "message": {"lang": "", "value": "Code: 700123 already exists"}}
        }
        other = sandbox.server.data.of_kind(2)[0].values["ID"]
        taken = client.put(f"{accounts}(guid'{other}')", json={"Code": "700123"}, headers=headers)
        assert taken.status_code == 400 and "already exists" in taken.text
        for wanted in (f"Code eq '{'700123'.rjust(18)}'", "trim(Code) eq '700123'"):
            found = client.get(
                accounts, params={"$filter": wanted, "$select": "ID,Name"}, headers=headers
            ).json()["d"]["results"]
            assert [r["Name"] for r in found] == ["A"]


def test_an_endpoint_may_require_a_filter() -> None:
    settings = SandboxSettings(
        "cid", "sec", auto_consent=True, accounts=2, filter_required=("crm/Accounts",)
    )
    with ExactSandbox(settings) as sandbox, httpx.Client(base_url=sandbox.url) as client:
        headers = _bearer(client)
        bare = client.get("/api/v1/123456/crm/Accounts", headers=headers)
        assert bare.status_code == 400
        assert "$filter" in bare.json()["error"]["message"]["value"]
        filtered = client.get(
            "/api/v1/123456/crm/Accounts", params={"$filter": "Blocked eq false"}, headers=headers
        )
        assert filtered.status_code == 200 and len(filtered.json()["d"]["results"]) == 2
        contacts = client.get("/api/v1/123456/crm/Contacts", headers=headers)
        assert contacts.status_code == 200  # only the endpoints named


def test_an_unused_refresh_token_expires_after_its_lifetime() -> None:
    settings = SandboxSettings(
        "cid", "sec", auto_consent=True, refresh_token_seconds=0.5, refresh_not_before_seconds=0
    )
    with ExactSandbox(settings) as sandbox, httpx.Client(base_url=sandbox.url) as client:
        fresh = _exchange(client, _code(client)).json()
        # Used within its life, a refresh token gives a new one (with a new life).
        renewed = _refresh(client, fresh["refresh_token"])
        assert renewed.status_code == 200
        time.sleep(0.6)
        expired = _refresh(client, renewed.json()["refresh_token"])
        assert expired.status_code == 400
        assert expired.json() == {
            "error": "invalid_grant",
            "error_description": "Refresh token has expired",
        }
        assert sandbox.server.stats["token_calls"] == 3


def test_a_lost_answer_is_a_dropped_connection_after_the_work_is_done() -> None:
    settings = SandboxSettings("cid", "sec", auto_consent=True)
    with ExactSandbox(settings) as sandbox, httpx.Client(base_url=sandbox.url) as client:
        headers = _bearer(client)
        sandbox.server.inject(Fault("crm/Accounts", 201, method="POST", lose_answer=True))
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/api/v1/123456/crm/Accounts", json={"Name": "Made"}, headers=headers)
        assert [e.values["Name"] for e in sandbox.server.data.of_kind(2)] == ["Made"]
        assert sandbox.server.stats["lost_answers"] == 1
