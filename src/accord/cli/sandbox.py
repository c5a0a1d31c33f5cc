"""``accord sandbox ...``: local stand-ins for outside systems, to try a profile safely.

Each sandbox speaks its system's documented interface (an Exo-shaped database here; API
servers for the others), so what works against it is written against the real thing.
"""

from __future__ import annotations

from pathlib import Path
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


@sandbox_app.command("unleashed")
def unleashed(
    api_id: Annotated[str, typer.Option(help="the API id clients must send")],
    api_key: Annotated[
        str, typer.Option(envvar="UNLEASHED_API_KEY", help="the API key requests are signed with")
    ],
    port: Annotated[int, typer.Option(help="port on 127.0.0.1 (0: any free port)")] = 8089,
    customers: Annotated[int, typer.Option(help="customers to generate")] = 200,
    contacts: Annotated[
        int | None, typer.Option(help="contacts (default 2.5 per customer)")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="JSON file of Salespersons and Customers instead")
    ] = None,
    database: Annotated[str, typer.Option(help="SQLite file to keep the data in")] = ":memory:",
    fault_rate: Annotated[float, typer.Option(help="share of requests given a fault")] = 0.0,
    fault_seed: Annotated[int | None, typer.Option(help="seed of the fault choices")] = None,
    fault_kinds: Annotated[
        str, typer.Option(help="which faults: any of 429,500,slow,drop")
    ] = "429,500,slow,drop",
    seed: Annotated[int, typer.Option(help="random seed of the generated data")] = 7,
) -> None:
    """Serve a local Unleashed API (signed requests, paging, faults on request)."""
    from accord.sandbox.unleashed import Faults, UnleashedSandbox
    from accord.sandbox.unleashed_generate import generate, load_file

    try:
        kinds = tuple(k.strip() for k in fault_kinds.split(",") if k.strip())
        faults = Faults(rate=fault_rate, seed=fault_seed, kinds=kinds)
        server = UnleashedSandbox(api_id, api_key, database=database, port=port, faults=faults)
    except (ValueError, OSError) as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        if data is not None:
            made = load_file(server.data, data)
        elif not any(server.data.counts().values()):
            count = contacts if contacts is not None else customers * 5 // 2
            made = generate(server.data, customers=customers, contacts=count, seed=seed)
        else:
            made = None
    except ValueError as exc:
        server.stop()
        raise typer.BadParameter(str(exc)) from None
    held = server.data.counts()
    console.print(
        f"Unleashed sandbox on {server.url} (api id {api_id}):"
        f" {held['customers']:,} customers, {held['contacts']:,} contacts,"
        f" {held['salespersons']} sales persons"
        + (" (new)" if made else "")
        + (f"; faults on {fault_rate:.0%} of requests" if fault_rate else "")
        + ". Ctrl-C stops it."
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        console.print("stopped")


@sandbox_app.command("exact")
def exact(
    client_id: Annotated[str, typer.Option(help="the OAuth client id the app registers")],
    client_secret: Annotated[
        str, typer.Option(envvar="EXACT_CLIENT_SECRET", help="the OAuth client secret")
    ],
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8090,
    auto_consent: Annotated[
        bool, typer.Option("--auto-consent", help="skip the consent page: redirect at once")
    ] = False,
    accounts: Annotated[int, typer.Option(help="CRM accounts to generate (with contacts)")] = 100,
    tls_cert: Annotated[Path | None, typer.Option(help="serve HTTPS with this certificate")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="the certificate's private key")] = None,
    token_lifetime: Annotated[float, typer.Option(help="access-token lifetime, seconds")] = 600,
    minutely_limit: Annotated[int, typer.Option(help="API calls allowed per minute")] = 60,
    daily_limit: Annotated[int, typer.Option(help="API calls allowed per day")] = 5000,
    fault: Annotated[
        list[str] | None,
        typer.Option(help="PATH:STATUS[:TIMES]: answer requests to PATH with STATUS"),
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed of the generated data")] = 7,
) -> None:
    """Serve a local Exact Online (OAuth2, division, CRM OData subset, rate limits)."""
    from accord.sandbox.exact import Fault, SandboxSettings, serve

    settings = SandboxSettings(
        client_id,
        client_secret,
        auto_consent=auto_consent,
        accounts=accounts,
        seed=seed,
        access_token_seconds=token_lifetime,
        minutely_limit=minutely_limit,
        daily_limit=daily_limit,
    )
    faults = []
    for text in fault or []:
        path, _, rest = text.partition(":")
        status, _, times = rest.partition(":")
        if not path or not status.isdigit() or (times and not times.isdigit()):
            raise typer.BadParameter(f"not PATH:STATUS[:TIMES]: {text!r}", param_hint="--fault")
        faults.append(Fault(path, int(status), int(times or 1_000_000)))
    scheme = "https" if tls_cert else "http"
    console.print(f"Exact Online sandbox on {scheme}://127.0.0.1:{port} (Ctrl+C stops it)")
    try:
        serve(settings, port, tls_cert, tls_key, faults)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
