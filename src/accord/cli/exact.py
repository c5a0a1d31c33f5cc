"""``accord connect exact``, ``accord exact ...`` and ``accord show``: Exact Online.

Connecting prints the authorize URL, receives the answer on 127.0.0.1 and then asks for
the financial-year start (S004-01). Tokens are never printed.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from accord import config as config_module
from accord.cli import render
from accord.cli.options import ConfigOption
from accord.clock import SystemClock, local_date, local_moment
from accord.config import DEFAULT_CONFIG
from accord.service import exact_connect, financials, queries
from accord.service.exact_customers import create_customer
from accord.service.systems import open_hub
from accord.store import records

connect_app = typer.Typer(help="Connect an outside system that needs a person's consent.")
exact_app = typer.Typer(help="Exact Online: financials, creating customers.", no_args_is_help=True)
console = Console()
SystemOption = Annotated[str, typer.Option("--system", "-s", help="the Exact Online system")]


@connect_app.command("exact")
def connect_exact(
    system: SystemOption = "exact",
    config: ConfigOption = DEFAULT_CONFIG,
    port: Annotated[
        int, typer.Option(help="callback port on 127.0.0.1 (as registered with the app)")
    ] = 8765,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the consent")] = 300,
    financial_year_start: Annotated[
        str | None, typer.Option(help="MM-DD; asked for when not given")
    ] = None,
) -> None:
    """Authorise Accord in Exact Online (client id and secret from the environment)."""
    settings = config_module.load(config)

    def show(url: str) -> None:
        console.print("Open this address, sign in to Exact Online and allow access:")
        console.print(url, soft_wrap=True)

    connection = exact_connect.connect(settings, system, show, port=port, timeout=timeout)
    console.print(
        f"connected: division {connection.division}"
        + (f" ({connection.user_name})" if connection.user_name else "")
    )
    text = financial_year_start or typer.prompt("Financial year starts on (MM-DD)", "01-01")
    month_day = exact_connect.set_financial_year_start(settings, system, text)
    console.print(f"financial year starts on {month_day}")


@exact_app.command("status")
def status(system: SystemOption = "exact", config: ConfigOption = DEFAULT_CONFIG) -> None:
    """The connection: division, financial-year start, and the last run's API budget."""
    settings = config_module.load(config)
    found = exact_connect.connection(settings, system)
    if found is None:
        console.print(f"not connected: run `accord connect exact --system {system}`")
        return
    console.print(
        f"connected to division {found.division}"
        + (f" as {found.user_name}" if found.user_name else "")
        + f" since {local_moment(found.connected_at, settings.hub.time_zone)}"
    )
    console.print(f"financial year starts on {found.financial_year_start or '(not set)'}")
    console.print(f"last run: {found.last_budget or 'none yet'}")


@exact_app.command("disconnect")
def disconnect(system: SystemOption = "exact", config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Withdraw Accord's access in Exact Online and forget the stored tokens."""
    if exact_connect.disconnect(config_module.load(config), system):
        console.print("disconnected: access withdrawn in Exact Online, tokens forgotten")
    else:
        console.print("was not connected")


@exact_app.command("year-start")
def year_start(
    month_day: Annotated[str, typer.Argument(help="MM-DD")],
    system: SystemOption = "exact",
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Set the financial-year start of a connected Exact Online system."""
    settings = config_module.load(config)
    console.print(
        f"financial year starts on {exact_connect.set_financial_year_start(settings, system, month_day)}"
    )


@exact_app.command("financials")
def refresh_financials(
    system: SystemOption = "exact", config: ConfigOption = DEFAULT_CONFIG
) -> None:
    """Read every customer's open invoices from Exact Online into the hub."""
    settings = config_module.load(config)
    store = open_hub(settings)
    try:
        count = financials.refresh(settings, system, store)
    finally:
        store.close()
    console.print(f"open invoices of {count} customer(s) refreshed")


@exact_app.command("create-customer")
def create(
    record: Annotated[str, typer.Argument(help="hub id, or system:entity:key")],
    system: SystemOption = "exact",
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Create a hub customer in Exact Online and link the two (S004-06)."""
    settings = config_module.load(config)
    store = open_hub(settings)
    try:
        created = create_customer(settings, system, store, queries.find_record(store, record))
    finally:
        store.close()
    console.print(f"created in Exact Online: account {created.account_id}")
    for refused in created.refused:
        console.print(f"  [yellow]left out[/yellow] {refused}")


def show(
    record: Annotated[str, typer.Argument(help="hub id, or system:entity:key")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """A hub record: its fields and, for a customer, its Exact Online invoices and balance."""
    settings = config_module.load(config)
    store = open_hub(settings)
    try:
        record_id = queries.find_record(store, record)
        with store.transaction() as conn:
            found = records.get(conn, record_id)
        today = local_date(SystemClock().now(), settings.hub.time_zone)
        figures = financials.for_record(store, record_id, today)
    finally:
        store.close()
    assert found is not None
    state = " (deleted)" if found.deleted else ""
    console.print(f"[bold]{found.entity} {record_id}[/bold]{state}")
    for name, value in sorted(found.data.items()):
        console.print(f"  {name}: {render.short(value, 80)}")
    for item in figures:
        console.print(
            f"[bold]{item.system}[/bold] balance {financials.money(item.balance_cents, item.currency)},"
            f" overdue {financials.money(item.overdue_cents, item.currency)}"
            f" (invoices as of {local_moment(item.refreshed_at, settings.hub.time_zone)})"
        )
        if item.year_start:
            earlier = item.brought_forward_cents
            console.print(
                f"  financial year from {item.year_start}:"
                f" {financials.money(item.balance_cents - earlier, item.currency)} open from this"
                f" year, {financials.money(earlier, item.currency)} brought forward"
            )
        rows = [
            [
                i.number,
                i.invoice_date or "",
                i.due_date or "",
                financials.money(i.amount_cents, i.currency),
                "overdue" if i.overdue else "",
                i.description,
            ]
            for i in item.invoices
        ]
        console.print(
            render.rows_table(
                "open invoices", ["invoice", "date", "due", "amount", "", "description"], rows
            )
        )


def register(app: typer.Typer) -> None:
    app.add_typer(connect_app, name="connect")
    app.add_typer(exact_app, name="exact")
    app.command("show")(show)
