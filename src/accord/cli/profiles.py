"""``accord profile ...``: import profiles from Exact Online (S004-02..04).

accord profile new "Customers" --target company --map name=Name --map code=Code
accord profile run "Customers" --mode import-update
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from accord import config as config_module
from accord.cli import render
from accord.cli.options import ConfigOption
from accord.config import DEFAULT_CONFIG
from accord.errors import AccordError
from accord.service import import_profiles as profiles
from accord.service.import_profiles import SOURCE_FIELDS, SOURCE_FOR, ImportProfile, Mode
from accord.service.systems import open_hub

profile_app = typer.Typer(
    help="Import profiles: saved imports from Exact Online.", no_args_is_help=True
)
console = Console()
MapOption = Annotated[
    list[str] | None, typer.Option("--map", help="HUB_FIELD=EXACT_FIELD (repeat for each field)")
]
MODES: dict[str, Mode] = {"import": "import", "import-update": "import_update", "update": "update"}


def _mapping(items: list[str] | None) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items or []:
        hub_field, sep, exact_field = item.partition("=")
        if not sep or not hub_field.strip() or not exact_field.strip():
            raise AccordError(f"not HUB_FIELD=EXACT_FIELD: {item!r}")
        mapping[hub_field.strip()] = exact_field.strip()
    return mapping


def _print(profile: ImportProfile) -> None:
    console.print(
        f"[bold]{profile.title}[/bold] (#{profile.id}): Exact {profile.source}s ->"
        f" hub {profile.target}s of system {profile.system};"
        f" key {profile.key_field} (hub field {profile.hub_key})"
    )
    rows = [[hub, exact] for hub, exact in profile.mapping.items()]
    console.print(render.rows_table("mapping", ["hub field", "Exact field"], rows))


@profile_app.command("list")
def list_profiles(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Every saved import profile."""
    store = open_hub(config_module.load(config))
    try:
        found = profiles.list_profiles(store)
    finally:
        store.close()
    rows = [
        [p.id, p.title, p.target, p.source, p.key_field, len(p.mapping), p.system] for p in found
    ]
    console.print(
        render.rows_table(
            "import profiles", ["#", "title", "target", "source", "key", "fields", "system"], rows
        )
    )


@profile_app.command("show")
def show(
    profile: Annotated[str, typer.Argument(help="id or title")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """A profile's mapping and its last runs."""
    store = open_hub(config_module.load(config))
    try:
        found = profiles.get(store, profile)
        runs = profiles.last_runs(store, found.id or 0)
    finally:
        store.close()
    _print(found)
    rows = [[r.id, r.mode, r.finished_at, r.counts] for r in runs]
    console.print(render.rows_table("last runs", ["#", "mode", "finished", "counts"], rows))
    console.print(f"Exact {found.source} fields: {', '.join(SOURCE_FIELDS[found.source])}")


@profile_app.command("new")
def new(
    title: Annotated[str, typer.Argument(help="a title to find it by")],
    target: Annotated[str, typer.Option(help="company or contact")] = "company",
    mapping: MapOption = None,
    key: Annotated[str, typer.Option(help="the Exact field naming a record")] = "ID",
    system: Annotated[str, typer.Option(help="the Exact Online system")] = "exact",
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Save a new import profile."""
    if target not in SOURCE_FOR:
        raise AccordError(f"target must be company or contact, not {target!r}")
    store = open_hub(config_module.load(config))
    try:
        saved = profiles.save(
            store,
            ImportProfile(
                title,
                system,
                "company" if target == "company" else "contact",
                "account" if target == "company" else "contact",
                _mapping(mapping),
                key,
            ),
        )
    finally:
        store.close()
    _print(saved)


@profile_app.command("edit")
def edit(
    profile: Annotated[str, typer.Argument(help="id or title")],
    mapping: MapOption = None,
    unmap: Annotated[list[str] | None, typer.Option(help="hub field to stop importing")] = None,
    key: Annotated[str | None, typer.Option(help="the Exact field naming a record")] = None,
    title: Annotated[str | None, typer.Option(help="a new title")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Change a saved profile in place."""
    store = open_hub(config_module.load(config))
    try:
        found = profiles.get(store, profile)
        _change(found, mapping, unmap, key)
        found.title = title or found.title
        saved = profiles.save(store, found)
    finally:
        store.close()
    _print(saved)


@profile_app.command("save-as")
def save_as(
    profile: Annotated[str, typer.Argument(help="id or title of the profile to start from")],
    title: Annotated[str, typer.Argument(help="the new profile's title")],
    mapping: MapOption = None,
    unmap: Annotated[list[str] | None, typer.Option(help="hub field to leave out")] = None,
    key: Annotated[str | None, typer.Option(help="the Exact field naming a record")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Save a changed copy as a new profile; the original stays as it was."""
    store = open_hub(config_module.load(config))
    try:
        found = profiles.get(store, profile)
        _change(found, mapping, unmap, key)
        saved = profiles.save_as_new(store, found, title)
    finally:
        store.close()
    _print(saved)


def _change(
    profile: ImportProfile, mapping: list[str] | None, unmap: list[str] | None, key: str | None
) -> None:
    profile.mapping.update(_mapping(mapping))
    for name in unmap or []:
        if profile.mapping.pop(name, None) is None:
            raise AccordError(f"{name} is not mapped in {profile.title!r}")
    profile.key_field = key or profile.key_field


@profile_app.command("run")
def run(
    profile: Annotated[str, typer.Argument(help="id or title")],
    mode: Annotated[str, typer.Option(help="import, import-update or update")] = "import",
    config: ConfigOption = DEFAULT_CONFIG,
    details: Annotated[int, typer.Option(help="records to list that were not plain")] = 50,
) -> None:
    """Run an import: created, updated, skipped and failed records, with reasons."""
    if mode not in MODES:
        raise AccordError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    settings = config_module.load(config)
    store = open_hub(settings)
    try:
        report = profiles.run(settings, store, profiles.get(store, profile), MODES[mode])
    finally:
        store.close()
    counts = report.counts
    console.print(
        f"{report.profile.title} ({mode}): "
        + ", ".join(f"{counts[name]} {name}" for name in counts)
    )
    noted = [
        o for o in report.outcomes if (o.reason and o.outcome != "skipped") or o.outcome == "failed"
    ]
    rows = [[o.outcome, o.label, o.key, o.reason] for o in noted[:details]]
    if rows:
        console.print(render.rows_table("notes", ["outcome", "record", "key", "reason"], rows))


def register(app: typer.Typer) -> None:
    app.add_typer(profile_app, name="profile")
