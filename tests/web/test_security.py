"""Security: escaping, roles, CSRF, login limits, cookies, stored secrets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from accord.store.web_schema import tokens, users
from accord.web.app import API_MODULES, API_PREFIX, PAGE_MODULES, create_app
from accord.web.security import LoginLimiter
from tests.web.support import PASSWORD, WebWorld, log_in

SCRIPT = '<script>alert("x")</script>'
IMG = '"><img src=x onerror=alert(1)>'


def test_script_injection_names_are_shown_as_text_everywhere(web: WebWorld) -> None:
    api = web.api()
    created = api.post(
        "/api/v1/customers",
        json={
            "fields": web.customer_fields(first_name=SCRIPT, last_name=IMG, home_location=SCRIPT)
        },
    )
    customer_id = created.json()["id"]
    api.post(
        f"/api/v1/customers/{customer_id}/contacts",
        json={"fields": {"first_name": SCRIPT, "job_title": IMG}},
    )
    api.post(
        "/api/v1/transactions",
        json={"customer_id": customer_id, "number": SCRIPT, "amount": 3, "location": IMG},
    )
    browser, _ = web.browser("viewer")
    pages = [
        f"/customers?q={SCRIPT}",
        f"/customers/{customer_id}",
        f"/customers/{customer_id}?tab=contacts",
        f"/customers/{customer_id}?tab=history",
        f"/records/{customer_id}/history",
        "/monitor",
    ]
    for path in pages:
        html = browser.get(path).text
        assert SCRIPT not in html and "<img src=x" not in html, path
    card = browser.get(f"/customers/{customer_id}").text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in card


def test_the_api_browser_may_load_its_own_scripts_and_nothing_else_may(web: WebWorld) -> None:
    docs = web.anonymous().get("/api/v1/docs")
    assert docs.status_code == 200 and "cdn.jsdelivr.net" in docs.text
    assert "cdn.jsdelivr.net" in docs.headers["content-security-policy"]
    page = web.anonymous().get("/login")
    assert "cdn.jsdelivr.net" not in page.headers["content-security-policy"]
    assert "unsafe-inline" not in page.headers["content-security-policy"]


def test_pages_carry_a_content_security_policy(web: WebWorld) -> None:
    response = web.anonymous().get("/login")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


def test_viewer_cannot_change_settings_or_records(web: WebWorld) -> None:
    viewer = web.api("viewer")
    assert viewer.patch("/api/v1/systems/erp", json={"sync": "off"}).status_code == 403
    assert (
        viewer.post("/api/v1/customers", json={"fields": web.customer_fields()}).status_code == 403
    )
    assert web.api("editor").patch("/api/v1/systems/erp", json={"sync": "off"}).status_code == 403
    browser, csrf = web.browser("viewer")
    page = browser.post("/settings/systems/erp", data={"csrf_token": csrf, "sync": "off"})
    assert page.status_code == 403
    assert web.config.systems["erp"].sync == "two-way"
    admin, admin_csrf = web.browser("admin")
    done = admin.post(
        "/settings/systems/erp",
        data={"csrf_token": admin_csrf, "sync": "import", "push": "15m", "pull": "1h"},
    )
    assert done.status_code == 303 and web.config.systems["erp"].sync == "import"


def test_form_post_without_csrf_token_is_refused(web: WebWorld) -> None:
    browser, csrf = web.browser("editor")
    form = {**web.customer_fields(), "price_level": "A", "active": "on"}
    assert browser.post("/customers/new", data=form).status_code == 403
    assert browser.post("/customers/new", data={**form, "csrf_token": "forged"}).status_code == 403
    assert web.api().get("/api/v1/customers").json()["total"] == 0
    # The API used with the session cookie needs the token too (in its header).
    assert (
        browser.post("/api/v1/customers", json={"fields": web.customer_fields()}).status_code == 403
    )
    made = browser.post("/customers/new", data={**form, "csrf_token": csrf})
    assert made.status_code == 303
    assert web.api().get("/api/v1/customers").json()["total"] == 1


def test_login_is_rate_limited(web: WebWorld) -> None:
    client = web.anonymous()
    for _ in range(5):
        assert log_in(client, "admin", "wrong password").status_code == 401
    blocked = log_in(client, "admin", PASSWORD)
    assert blocked.status_code == 429 and "accord_session" not in blocked.cookies


def test_session_cookie_is_http_only_same_site_and_secure_when_asked(web: WebWorld) -> None:
    app = create_app(web.config, store=web.store, clock=web.clock, secure_cookies=True)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        response = log_in(client, "viewer", PASSWORD)
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie


def test_login_redirects_only_within_the_site(web: WebWorld) -> None:
    for target in ("//evil.example/", "/\\evil.example", "/\tevil", "https://evil.example/"):
        response = log_in(web.anonymous(), "viewer", PASSWORD, next_page=target)
        assert response.headers["location"] == "/customers", target
    inside = log_in(web.anonymous(), "viewer", PASSWORD, next_page="/monitor")
    assert inside.headers["location"] == "/monitor"


def test_failed_logins_from_one_address_cannot_lock_the_admin_out_elsewhere() -> None:
    limiter = LoginLimiter(attempts=5, window=300)
    for _ in range(5):
        limiter.failed("203.0.113.9", "admin")
    assert limiter.blocked("203.0.113.9", "admin")
    assert limiter.blocked("203.0.113.9", "someone-else")  # the guessing address is stopped
    assert not limiter.blocked("198.51.100.7", "admin")  # the admin, elsewhere, is not
    # Guessing one name from many addresses meets the name's (higher) bar.
    for n in range(15):
        limiter.failed(f"192.0.2.{n}", "admin")
    assert limiter.blocked("198.51.100.7", "admin")
    assert not limiter.blocked("198.51.100.7", "viewer")


def test_every_state_changing_route_refuses_a_session_without_the_csrf_token(
    web: WebWorld,
) -> None:
    browser, _ = web.browser("admin")
    routers = [(API_PREFIX, m.router) for m in API_MODULES] + [("", m.router) for m in PAGE_MODULES]
    unsafe = [
        (method, prefix + route.path)
        for prefix, router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in sorted(route.methods - {"GET", "HEAD", "OPTIONS"})
    ]
    assert len(unsafe) > 20
    for method, path in unsafe:
        if path == "/login":
            continue  # the login form carries its own token (tested above)
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        response = browser.request(method, concrete, data={"x": "1"})
        assert response.status_code == 403, (method, path, response.status_code)


def test_login_post_without_the_forms_token_is_refused(web: WebWorld) -> None:
    client = web.anonymous()
    response = client.post("/login", data={"name": "viewer", "password": PASSWORD})
    assert response.status_code == 403 and "accord_session" not in response.cookies
    assert client.get("/customers").status_code == 303  # still logged out


def test_pages_need_a_login_and_logout_ends_the_session(web: WebWorld) -> None:
    anonymous = web.anonymous()
    assert anonymous.get("/customers").headers["location"].startswith("/login")
    browser, csrf = web.browser("viewer")
    assert browser.get("/customers").status_code == 200
    browser.post("/logout", data={"csrf_token": csrf})
    assert browser.get("/customers").status_code == 303


def test_passwords_and_tokens_are_stored_only_as_hashes(web: WebWorld, tmp_path: Path) -> None:
    with web.store.transaction() as conn:
        hashes = [row.password_hash for row in conn.execute(select(users))]
        token_hashes = [row.token_hash for row in conn.execute(select(tokens))]
    assert all(h.startswith("$argon2") and PASSWORD not in h for h in hashes)
    assert not set(web.tokens.values()) & set(token_hashes)


def test_metrics_ask_for_the_bearer_token_when_one_is_set(
    web: WebWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert web.anonymous().get("/metrics/").status_code == 200  # no token set: open
    monkeypatch.setenv("ACCORD_METRICS_TOKEN", "scrape-secret-7")
    with TestClient(create_app(web.config, store=web.store)) as client:
        missing = client.get("/metrics/")
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert "scrape-secret-7" not in missing.text
        wrong = client.get("/metrics/", headers={"Authorization": "Bearer scrape-secret"})
        assert wrong.status_code == 401
        right = client.get("/metrics/", headers={"Authorization": "Bearer scrape-secret-7"})
        assert right.status_code == 200 and "accord_runs_total" in right.text
        # The rest of the app is not behind the metrics token.
        assert client.get("/login").status_code == 200
