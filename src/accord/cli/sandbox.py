"""``accord sandbox ...``: local stand-ins for outside systems, to try a profile safely.

Each sandbox speaks its system's documented interface (an Exo-shaped database here; API
servers for the others), so what works against it is written against the real thing.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

sandbox_app = typer.Typer(
    help="Local stand-ins for outside systems, filled with realistic data.",
    no_args_is_help=True,
)
console = Console()


@sandbox_app.command("exo")
def exo(
    url: Annotated[str, typer.Argument(help="SQLAlchemy URL of an empty database to fill")],
    customers: Annotated[int, typer.Option(help="debtor accounts (DR_ACCS rows)")] = 2000,
    contacts: Annotated[int, typer.Option(help="contacts (CONTACTS rows)")] = 5000,
    seed: Annotated[int, typer.Option(help="random seed: the same seed makes the same data")] = 7,
) -> None:
    """Create an Exo-shaped ERP database (debtors, contacts, their links, staff)."""
    from accord.sandbox.exo import generate

    try:
        stats = generate(url, customers=customers, contacts=contacts, seed=seed)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    console.print(
        f"made {stats.customers:,} customers, {stats.contacts:,} contacts"
        f" ({stats.shared_contacts:,} shared by several customers),"
        f" {stats.salespersons} sales people"
    )
