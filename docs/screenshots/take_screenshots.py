"""Screenshots of the web app's main pages, for the README.

    .venv/bin/python docs/screenshots/take_screenshots.py

Builds a hub from a sandbox Exo-shaped ERP in a temporary folder, adds a customer with
transactions, orders, a credit account and contacts, leaves one conflict held for review,
serves the app on 127.0.0.1 and drives Debian's Chromium (/usr/bin/chromium) through the
pages, writing PNG files beside this script.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.fernet import Fernet
from playwright.sync_api import sync_playwright

from accord.clock import ManualClock
from accord.config import Config, HubConfig, SystemConfig
from accord.sandbox.exo import ExoEditor, generate
from accord.service import customers, pos
from accord.service import import_profiles as profiles
from accord.service import sync as sync_service
from accord.service import users as user_service
from accord.store import HubStore
from accord.web.app import create_app
from accord.web.server import serve_in_thread

HERE = Path(__file__).parent
PASSWORD = "screenshots-only"


def build(folder: Path) -> tuple[Config, HubStore, ManualClock, int]:
    clock = ManualClock(start=datetime(2026, 3, 1, 9, tzinfo=UTC), step=timedelta(seconds=1))
    erp_url = f"sqlite:///{folder / 'erp.db'}"
    generate(erp_url, customers=40, contacts=90, seed=7, clock=clock)
    config = Config(
        hub=HubConfig(database=f"sqlite:///{folder / 'hub.db'}", database_env=None),
        systems={
            "erp": SystemConfig(
                kind="sql", preset="exo", url=erp_url, sync="two-way", conflict="hold"
            ),
            # A CRM not yet switched on: the settings page shows its switches.
            "crm": SystemConfig(
                kind="unleashed",
                preset="crm-unleashed",
                owns_codes=False,
                options={"account_manager_sync": True, "address_sync": False},
            ),
            # Exact Online before anyone connected it: the "Connect Exact Online" button.
            "exact": SystemConfig(
                kind="exact",
                preset="exact-online",
                url="https://start.exactonline.nl",
                secrets_env={"client_id": "EXACT_CLIENT_ID", "client_secret": "EXACT_SECRET"},
            ),
        },
    )
    store = HubStore(config.hub.database)
    sync_service.run(config, "erp", store=store, clock=clock)
    customer = customers.create_customer(
        store,
        {
            "first_name": "Aroha",
            "last_name": "Walker",
            "company_name": "Walker Timber",
            "address.postal.line1": "12 Rata Street",
            "address.postal.city": "Whangārei",
            "address.postal.postcode": "0110",
            "phone": "09 438 1200",
            "email": "aroha@walkertimber.example",
            "home_location": "Whangārei",
            "location_group": "Northland stores",
            "price_level": "B",
            "discount": 5,
            "ar_account_type": "open item",
            "credit_limit": 2000,
        },
        clock=clock,
    )
    for i, (amount, day) in enumerate(
        [(120, 5), (64.5, 20), (310, 40), (45, 75), (220, 90), (99, 120)]
    ):
        at = datetime(2026, 1, 1, 10, tzinfo=UTC) + timedelta(days=day)
        pos.post_transaction(
            store,
            customer_id=customer,
            number=f"T{1000 + i}",
            kind="sale",
            amount=amount,
            location="Whangārei",
            at=at,
            clock=clock,
        )
    pos.post_transaction(
        store,
        customer_id=customer,
        number="R1001",
        kind="return",
        amount=30,
        location="Whangārei",
        at=datetime(2026, 4, 2, tzinfo=UTC),
        clock=clock,
    )
    customers.add_order(
        store,
        customer,
        number="LA-204",
        order_type="layaway",
        location="Whangārei",
        amount_due_cents=18000,
        clock=clock,
    )
    customers.add_credit_entry(
        store, customer, kind="charge", amount_cents=45000, reference="INV-88", clock=clock
    )
    customers.add_credit_entry(
        store, customer, kind="payment", amount_cents=20000, reference="PMT-12", clock=clock
    )
    customers.add_contact(
        store,
        customer,
        {
            "first_name": "Hemi",
            "last_name": "Walker",
            "job_title": "spouse",
            "mobile": "021 555 0134",
        },
        clock=clock,
    )
    customers.update_customer(store, customer, {"discount": 10, "price_level": "C"}, clock=clock)
    # One held conflict: both sides changed the same phone number.
    erp = ExoEditor(erp_url, clock=clock)
    held = customers.search_customers(store, "", size=1).items[0]
    customers.update_customer(store, held.id, {"phone": "09 111 2222"}, clock=clock)
    erp.update_customer(int(held.code or 0), PHONE="09 333 4444")
    erp.close()
    sync_service.run(config, "erp", store=store, clock=clock)
    profiles.save(
        store,
        profiles.ImportProfile(
            "Customers",
            "exact",
            "company",
            "account",
            {"code": "Code", "name": "Name", "phone": "Phone", "email": "Email"},
            "Code",
        ),
        clock,
    )
    user_service.add_user(store, "admin", PASSWORD, "admin")
    return config, store, clock, customer


def main() -> None:
    # The settings page reads the Exact connection, kept encrypted with this key.
    os.environ.setdefault("ACCORD_SECRET_KEY", Fernet.generate_key().decode())
    with tempfile.TemporaryDirectory() as folder:
        config, store, _, customer = build(Path(folder))
        app = create_app(config, store=store)
        with serve_in_thread(app) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"]
            )
            page = browser.new_page(base_url=base, viewport={"width": 1280, "height": 860})
            page.goto("/login")
            page.screenshot(path=str(HERE / "login.png"))
            page.get_by_label("Name").fill("admin")
            page.get_by_label("Password").fill(PASSWORD)
            page.keyboard.press("Enter")
            page.wait_for_url("**/customers")
            shots = {
                "customers.png": "/customers",
                "customer-card.png": f"/customers/{customer}",
                "customer-history.png": f"/customers/{customer}?tab=history",
                "customer-contacts.png": f"/customers/{customer}?tab=contacts",
                "customer-credit.png": f"/customers/{customer}?tab=credit",
                "monitor.png": "/monitor",
                "plan.png": "/monitor/plan/erp",
                "record-history.png": f"/records/{customer}/history",
                "settings.png": "/settings",
                "import-profile.png": "/settings/import-profiles/1",
            }
            for name, path in shots.items():
                page.goto(path)
                page.screenshot(path=str(HERE / name), full_page=name != "plan.png")
                print(f"wrote {name}")
            browser.close()
        store.close()


if __name__ == "__main__":
    main()
