"""Browser flows with Playwright driving the system's Chromium against a live server.

Skipped when Chromium is not installed, except in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.sandbox.exo import ExoEditor
from accord.service import customers, people, queries
from accord.service import users as user_service
from accord.service.systems import open_hub
from accord.store import records
from accord.web.server import serve_in_thread
from tests.service.support import accord, count_runs, exo_link, wait_for, write_config
from tests.web.support import PASSWORD, WebWorld, web_world

CHROMIUM = Path("/usr/bin/chromium")

if not CHROMIUM.exists():
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium", pytrace=False)
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()


def _live(world: WebWorld, browser: Browser) -> Iterator[tuple[Page, str]]:
    with serve_in_thread(world.app) as base:
        context = browser.new_context(base_url=base)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        yield page, base
        context.close()


def _log_in(page: Page, role: str = "editor") -> None:
    page.goto("/customers")
    page.get_by_label("Name").fill(role)
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")  # the whole form works from the keyboard
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()


def test_log_in_create_customer_add_contact_edit_and_see_it_reach_the_erp(
    tmp_path: Path, browser: Browser
) -> None:
    with web_world(tmp_path) as world:
        world.api().post("/api/v1/systems/erp/sync")  # the hub holds the ERP's customers first
        for page, _ in _live(world, browser):
            _log_in(page)
            page.get_by_role("link", name="New customer").click()
            page.get_by_label("First name").fill("Hemi")
            page.get_by_label("Last name").fill("Walker")
            page.get_by_label("Company").fill("Walker Timber")
            page.get_by_label("Telephone").fill("09 300 1234")
            page.get_by_label("Home location").fill("Main Street")
            page.get_by_label("Location group").fill("All stores")
            page.get_by_role("button", name="Create customer").click()
            expect(page.get_by_role("heading", name="Walker Timber")).to_be_visible()
            customer_id = int(page.url.rstrip("/").split("/")[-1])

            page.get_by_role("link", name="Contacts").click()
            page.locator("#c-first_name").fill("Aroha")
            page.locator("#c-last_name").fill("Walker")
            page.locator("#c-job_title").fill("spouse")
            page.get_by_role("button", name="Save contact").click()
            expect(page.get_by_role("cell", name="Aroha")).to_be_visible()

            page.get_by_role("link", name="Details").click()
            page.get_by_label("Company").fill("Walker Timber Ltd")
            page.get_by_role("button", name="Save").click()
            expect(page.get_by_role("status")).to_have_text("Saved.")

            page.get_by_role("link", name="Sync monitor").click()
            page.get_by_role("button", name="Sync now").click()
            expect(page.get_by_role("status")).to_contain_text("Sync of erp done")

            page.goto(f"/customers/{customer_id}?tab=sync")
            expect(page.locator(".state")).to_have_text("synced")
        accno = int(customers.get_customer(world.store, customer_id).data["code"])
        assert world.erp.customer(accno)["NAME"] == "Walker Timber Ltd"
        assert ("Aroha", "Walker") in {
            (c["FIRSTNAME"], c["LASTNAME"]) for c in world.erp.contacts_of(accno)
        }


def test_resolve_a_held_conflict(tmp_path: Path, browser: Browser) -> None:
    with web_world(tmp_path, conflict="hold") as world:
        api = world.api()
        api.post("/api/v1/systems/erp/sync")
        company = api.get("/api/v1/customers", params={"size": 1}).json()["items"][0]
        accno = int(company["account_number"])
        api.patch(
            f"/api/v1/customers/{company['id']}", json={"fields": {"email": "hub@shop.example"}}
        )
        world.erp.update_customer(accno, EMAIL="erp@shop.example")
        api.post("/api/v1/systems/erp/sync")
        assert len(queries.open_conflicts(world.store)) == 1
        for page, _ in _live(world, browser):
            _log_in(page)
            page.get_by_role("link", name="Sync monitor").click()
            expect(page.get_by_role("cell", name="erp@shop.example")).to_be_visible()
            page.get_by_role(
                "button", name=f"Keep the hub value for email of record {company['id']}"
            ).click()
            expect(page.get_by_role("status")).to_contain_text("resolved")
            expect(page.get_by_text("No held conflicts.")).to_be_visible()
            page.get_by_role("button", name="Sync now").click()
            expect(page.get_by_role("status")).to_contain_text("Sync of erp done")
        assert queries.open_conflicts(world.store) == []
        assert world.erp.customer(accno)["EMAIL"] == "hub@shop.example"


def test_live_search_and_keyboard_navigation(tmp_path: Path, browser: Browser) -> None:
    with web_world(tmp_path) as world:
        for name in ("Kahu", "Moana", "Kahurangi"):
            customers.create_customer(
                world.store, world.customer_fields(last_name=name), clock=world.clock
            )
        for page, _ in _live(world, browser):
            _log_in(page, "viewer")
            expect(page.get_by_role("link", name="New customer")).to_have_count(
                0
            )  # viewers read only
            page.get_by_label("Search by name").press_sequentially("kahu")
            expect(page.locator("#results tbody tr")).to_have_count(2)
            expect(page.get_by_role("link", name="Ana Moana")).to_have_count(0)
            page.keyboard.press("Tab")
            page.keyboard.press("Tab")
            page.keyboard.press("Tab")
            focused = page.evaluate("document.activeElement.textContent")
            assert focused.strip() in {"Ana Kahu", "Ana Kahurangi", "Search"}


def test_s003_03_merge_two_people_choosing_fields_on_the_merge_page(
    tmp_path: Path, browser: Browser
) -> None:
    with web_world(tmp_path) as world:
        keep = people.create_person_account(
            world.store,
            {"salutation": "Mr", "first_name": "Hemi", "last_name": "Ruru", "language": "mi"},
            clock=world.clock,
        )
        drop = people.create_person_account(
            world.store,
            {"salutation": "Dr", "first_name": "Hemi", "last_name": "Ruru-Smith", "suffix": "Jr"},
            clock=world.clock,
        )
        for page, _ in _live(world, browser):
            _log_in(page)
            page.goto(f"/people/{keep}")
            page.get_by_label("Merge record").fill(str(drop))
            page.get_by_role("button", name="Choose fields…").click()
            expect(page.get_by_role("heading", name="Merge two records")).to_be_visible()
            page.get_by_role("radio", name="Dr", exact=True).check()
            page.get_by_role("radio", name="Ruru", exact=True).check()
            page.get_by_role("button", name="Merge", exact=True).click()
            expect(page.get_by_role("status")).to_have_text("Merged.")
            expect(page.get_by_label("Last name")).to_have_value("Ruru")
            expect(page.get_by_label("Suffix")).to_have_value("Jr")  # empty here: taken over
            page.goto(f"/people/{drop}")
            expect(page.get_by_role("alert")).to_contain_text(f"no hub record {drop}")
        with world.store.transaction() as conn:
            kept = records.get(conn, keep)
        assert kept is not None
        assert (kept.data["salutation"], kept.data["last_name"], kept.data["language"]) == (
            "Dr",
            "Ruru",
            "mi",
        )


def test_s002_a_save_changes_only_what_the_user_changed_in_the_form(
    tmp_path: Path, browser: Browser
) -> None:
    with web_world(tmp_path) as world:
        fields = world.customer_fields(phone="09 300 0001")
        customer_id = customers.create_customer(world.store, fields, clock=world.clock)
        contact = people.create_contact(
            world.store,
            customer_id,
            {"first_name": "Aroha", "last_name": "Walker", "email": "aroha@walker.example"},
            clock=world.clock,
        )
        for page, _ in _live(world, browser):
            _log_in(page)
            page.goto(f"/customers/{customer_id}")
            # A colleague changes the phone while the card is open; this user the email.
            customers.update_customer(
                world.store, customer_id, {"phone": "09 300 0002"}, clock=world.clock
            )
            page.get_by_label("Email").fill("ana@ngata.example")
            page.get_by_role("button", name="Save", exact=True).click()
            expect(page.get_by_role("status")).to_have_text("Saved.")
            expect(page.get_by_label("Telephone")).to_have_value("+6493000002")

            page.get_by_role("link", name="Contacts").click()
            page.get_by_label("Contact", exact=True).select_option(str(contact))
            page.locator("#c-phone").fill("09 300 1234")
            page.get_by_role("button", name="Save contact").click()
            expect(page.get_by_role("cell", name="+6493001234")).to_be_visible()
            expect(page.get_by_role("cell", name="aroha@walker.example")).to_be_visible()
        data = customers.get_customer(world.store, customer_id).data
        assert (data["email"], data["phone"]) == ("ana@ngata.example", "+6493000002")
        with world.store.transaction() as conn:
            found = records.get(conn, contact)
        assert found is not None
        assert (found.data["email"], found.data["last_name"]) == ("aroha@walker.example", "Walker")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_s001_03_a_hub_edit_reaches_the_erp_through_the_immediate_push_of_accord_serve(
    tmp_path: Path, browser: Browser
) -> None:
    link = exo_link(tmp_path, "erp", push="immediate", pull="1h")
    settings = write_config(tmp_path / "accord.toml", f"sqlite:///{tmp_path / 'hub.db'}", [link])
    store = open_hub(settings)
    user_service.add_user(store, "editor", PASSWORD, "editor")
    erp = ExoEditor(link.url)
    port = _free_port()
    server = accord("serve", "--port", str(port), cwd=tmp_path)
    try:
        wait_for(lambda: count_runs(store, "erp", "ok") >= 1, 60, "the first pull")
        with browser.new_context(base_url=f"http://127.0.0.1:{port}") as context:
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            _log_in(page)
            page.get_by_role("link", name="New customer").click()
            page.get_by_label("First name").fill("Hemi")
            page.get_by_label("Last name").fill("Walker")
            page.get_by_label("Company").fill("Walker Timber")
            page.get_by_label("Home location").fill("Main Street")
            page.get_by_label("Location group").fill("All stores")
            page.get_by_role("button", name="Create customer").click()
            expect(page.get_by_role("heading", name="Walker Timber")).to_be_visible()
            customer_id = int(page.url.rstrip("/").split("/")[-1])
            accno = int(customers.get_customer(store, customer_id).data["code"])
            # No sync run is started by hand: the running service pushes the new record.
            wait_for(lambda: erp.customer(accno) is not None, 30, "the new customer in the ERP")

            page.get_by_label("Company").fill("Walker Timber Ltd")
            page.get_by_role("button", name="Save").click()
            expect(page.get_by_role("status")).to_have_text("Saved.")
            wait_for(
                lambda: (erp.customer(accno) or {}).get("NAME") == "Walker Timber Ltd",
                30,
                "the edit to reach the ERP",
            )

            def shows_synced() -> bool:
                page.goto(f"/customers/{customer_id}?tab=sync")
                return page.locator(".state").first.inner_text() == "synced"

            wait_for(shows_synced, 30, "the sync tab to show synced", every=0.5)
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)
        erp.close()
        store.close()
