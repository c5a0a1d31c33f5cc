"""``accord demo``: the main job end to end on a sandbox ERP, explained as it goes."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from accord import config as config_module
from accord.cli import render
from accord.config import Config, HubConfig, SystemConfig
from accord.sandbox.exo import ExoEditor, generate
from accord.service import queries
from accord.service import records as hub_records
from accord.service import sync as sync_service
from accord.service.systems import open_hub
from accord.store import HubStore


def run_demo(console: Console, directory: Path, customers: int, contacts: int) -> None:
    started = time.monotonic()
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    erp_url = f"sqlite:///{directory / 'erp.db'}"
    console.rule("1. A sandbox ERP (Exo-shaped SQL database)")
    stats = generate(erp_url, customers=customers, contacts=contacts)
    console.print(
        f"{stats.customers:,} customers, {stats.contacts:,} contacts ({stats.shared_contacts} shared"
        f" between customers), {stats.duplicate_name_pairs} same-name pairs,"
        f" {stats.invalid_emails} invalid email, {stats.salespersons} sales people"
    )
    config_file = _write_config(directory)
    config = config_module.load(config_file)
    store = open_hub(config)
    try:
        conflict_id = _walkthrough(console, config, store, erp_url)
    finally:
        store.close()
    console.rule(f"done in {time.monotonic() - started:.1f} s")
    console.print(f"The databases and their configuration stay in {directory}; try")
    console.print(f"  accord -c {config_file} status")
    console.print(f"  accord -c {config_file} history {conflict_id}")
    console.print("(the second: the record of the conflict above, every change to it)")


def _write_config(directory: Path) -> Path:
    """The demo's own accord.toml, so the commands work on its databases afterwards.

    Paths are relative to the file's folder (the demo's); the environment's hub
    (ACCORD_DATABASE_URL) is not the demo's.
    """
    path = directory / "accord.toml"
    settings = Config(
        hub=HubConfig(database="sqlite:///hub.db", database_env=""),
        systems={
            "erp": SystemConfig(kind="sql", preset="exo", url="sqlite:///erp.db", sync="two-way")
        },
    )
    config_module.save(settings, path)
    return path


def _walkthrough(console: Console, config: Config, store: HubStore, erp_url: str) -> int:
    """The story of the demo; answers the hub id of the record with a conflict."""
    console.rule("2. Dry run: what the first sync would do (nothing is written)")
    plan = sync_service.run(config, "erp", dry_run=True, store=store)
    render.plan_summary(console, plan, "plan for erp")
    render.plan_details(console, plan, 3, ("create",))

    console.rule("3. First sync: the ERP's customers and contacts come into the hub")
    result = sync_service.run(config, "erp", store=store)
    render.plan_summary(console, result, "synced erp")
    for error in queries.open_errors(store)[:3]:
        console.print(
            f"  [yellow]error[/yellow] {error.entity} {error.external_id}: field {error.field}:"
            f" {error.message} (the rest of the record and every other record synced)"
        )

    console.rule("4. People edit both sides")
    editor = ExoEditor(erp_url)
    try:
        story = _edit_both_sides(console, store, editor)
        console.rule("5. The next sync: plan, then sync")
        plan = sync_service.run(config, "erp", dry_run=True, store=store)
        render.plan_summary(console, plan, "plan for erp")
        result = sync_service.run(config, "erp", store=store)
        render.plan_details(console, result, 20, ("update", "deactivate", "conflict", "restore"))
        console.rule("6. What happened and why")
        _explain(console, store, editor, story)
        again = sync_service.run(config, "erp", store=store)
        console.print(f"A further sync with no edits writes {again.writes} records (no echo).")
    finally:
        editor.close()
    return int(story["conflict_id"])


def _hub_id(store: HubStore, seqno: int, accno: int) -> int:
    return queries.find_record(store, f"erp:person:{seqno}@{accno}")


def _edit_both_sides(console: Console, store: HubStore, editor: ExoEditor) -> dict[str, Any]:
    shared = editor.shared_contacts()[0]
    picks = [c for c in _plain_contacts(editor, shared)][:6]
    erp_edit, hub_edit, conflict, hub_delete, erp_delete, erp_deactivate = picks
    story: dict[str, Any] = {"shared": shared, "picks": picks}

    editor.update_contact(erp_edit["SEQNO"], DIRECTPHONE="09 555 0101")
    console.print(f"ERP: phone of {_name(erp_edit)} changed to 09 555 0101")

    hub_id = _hub_id(store, hub_edit["SEQNO"], hub_edit["ACCNO"])
    hub_records.edit_record(
        store, hub_id, {"job_title": "Operations Manager", "department": "Logistics"}
    )
    console.print(f"Hub: job title of {_name(hub_edit)} set; department set (the ERP has none)")

    conflict_id = _hub_id(store, conflict["SEQNO"], conflict["ACCNO"])
    hub_records.edit_record(store, conflict_id, {"email": "hub.edit@example.com"})
    time.sleep(0.02)
    editor.update_contact(conflict["SEQNO"], EMAIL="erp.edit@example.com")
    console.print(f"Both: email of {_name(conflict)} edited in the hub, then later in the ERP")
    story["conflict_id"] = conflict_id

    hub_records.delete_record(store, _hub_id(store, hub_delete["SEQNO"], hub_delete["ACCNO"]))
    console.print(f"Hub: {_name(hub_delete)} deleted")
    story["erp_delete_id"] = _hub_id(store, erp_delete["SEQNO"], erp_delete["ACCNO"])
    editor.delete_contact(erp_delete["SEQNO"])
    console.print(f"ERP: {_name(erp_delete)} deleted")
    editor.deactivate_contact(erp_deactivate["SEQNO"])
    console.print(f"ERP: {_name(erp_deactivate)} deactivated")
    editor.update_contact(shared, MOBILE="021 555 0199")
    console.print(f"ERP: mobile of shared contact {shared} (linked to several customers) changed")
    return story


def _plain_contacts(editor: ExoEditor, shared: int) -> list[dict[str, Any]]:
    """Active contacts linked to one customer only, with a valid email, for the story."""
    found = []
    shared_all = set(editor.shared_contacts())
    for accno in range(1, 400):
        for contact in editor.contacts_of(accno):
            seqno = int(str(contact["SEQNO"]))
            if (
                seqno in shared_all
                or contact.get("ISACTIVE") != "Y"
                or "@@" in str(contact.get("EMAIL"))
            ):
                continue
            found.append({**contact, "SEQNO": seqno, "ACCNO": accno})
            break
        if len(found) >= 6:
            break
    return found


def _name(contact: dict[str, Any]) -> str:
    return f"{contact.get('FIRSTNAME')} {contact.get('LASTNAME')}"


def _explain(console: Console, store: HubStore, editor: ExoEditor, story: dict[str, Any]) -> None:
    erp_edit, hub_edit, conflict, hub_delete, _, erp_deactivate = story["picks"]
    check = "[green]✓[/green]"
    row = editor.contact(hub_edit["SEQNO"]) or {}
    console.print(
        f"{check} hub job title reached the ERP: TITLE = {row.get('TITLE')!r};"
        " the department stayed in the hub only (the ERP has no such column)"
    )
    _, changes = queries.history(store, _hub_id(store, erp_edit["SEQNO"], erp_edit["ACCNO"]))
    console.print(f"{check} ERP phone reached the hub: {changes[-1].field} = {changes[-1].new}")
    row = editor.contact(conflict["SEQNO"]) or {}
    console.print(
        f"{check} conflict on {_name(conflict)}: the later ERP edit won (record-level last"
        f" writer wins); ERP and hub both hold {row.get('EMAIL')!r}"
    )
    _, changes = queries.history(store, story["conflict_id"])
    lost = [c for c in changes if c.field == "email" and c.old == "hub.edit@example.com"]
    if lost:
        console.print(
            f"    the overwritten hub value is in the journal: seq {lost[0].seq},"
            f" {lost[0].old!r} → {lost[0].new!r}"
        )
    row = editor.contact(hub_delete["SEQNO"]) or {}
    console.print(
        f"{check} deleted in the hub → the ERP contact is deactivated, not deleted:"
        f" ISACTIVE = {row.get('ISACTIVE')!r}"
    )
    record, _ = queries.history(store, story["erp_delete_id"])
    console.print(
        f"{check} deleted in the ERP → the hub contact is kept (deleted = {record.deleted},"
        f" active = {record.data.get('active')})"
    )
    record, _ = queries.history(
        store, _hub_id(store, erp_deactivate["SEQNO"], erp_deactivate["ACCNO"])
    )
    console.print(
        f"{check} deactivated in the ERP → deactivated in the hub: active = {record.data.get('active')}"
    )
    shared = story["shared"]
    copies = [
        queries.find_record(store, f"erp:person:{shared}@{c}") for c in _accounts_of(editor, shared)
    ]
    mobiles = {queries.history(store, i)[0].data.get("mobile") for i in copies}
    console.print(
        f"{check} the shared ERP contact is {len(copies)} hub contacts, one per customer;"
        f" the ERP edit reached every copy: mobile = {mobiles}"
    )


def _accounts_of(editor: ExoEditor, seqno: int) -> list[int]:
    return [int(a) for a in editor.accounts_of(seqno)]
