"""Rich output for plans, runs, conflicts, errors and history."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from accord.engine.context import ProgressCallback
from accord.engine.plan import Plan

ACTIONS = (
    "create",
    "update",
    "deactivate",
    "delete",
    "restore",
    "link",
    "unlink",
    "conflict",
    "error",
)


def short(value: Any, width: int = 40) -> str:
    text = "—" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def plan_summary(console: Console, plan: Plan, title: str) -> None:
    """One row per side and entity: counts of each kind of change."""
    table = Table(title=title, title_justify="left")
    table.add_column("written to")
    table.add_column("entity")
    table.add_column("changes")
    rows: dict[tuple[str, str], dict[str, int]] = {}
    for key, count in sorted(plan.counts.items()):
        direction, entity, action = key.split(".")
        rows.setdefault((direction, entity), {})[action] = count
    for (direction, entity), counts in rows.items():
        target = "hub" if direction == "hub" else plan.system
        described = ", ".join(f"{counts[a]:,} {a}" for a in ACTIONS if a in counts)
        table.add_row(target, entity, described)
    if not rows:
        table.add_row("—", "—", "nothing to do")
    console.print(table)


def plan_details(
    console: Console, plan: Plan, limit: int = 20, actions: tuple[str, ...] = ()
) -> None:
    shown = 0
    for change in plan.changes:
        if actions and change.action not in actions:
            continue
        if shown >= limit:
            console.print(f"  … and more (showing {limit})")
            break
        target = "hub" if change.direction == "hub" else plan.system
        console.print(
            f"  [bold]{change.action}[/bold] {change.entity} [cyan]{change.record}[/cyan] in {target}"
        )
        for name, old, new in change.fields[:8]:
            console.print(f"      {name}: {short(old)} → {short(new)}")
        if change.reason:
            console.print(f"      [dim]why: {change.reason}[/dim]")
        shown += 1


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:>8,} records"),
        TimeElapsedColumn(),
        transient=True,
    )


def rows_table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[short(v, 60) for v in row])
    return table


def progress_reporter(bar: Progress, system: str) -> ProgressCallback:
    """A progress callback that keeps one bar per phase and entity."""
    tasks: dict[str, TaskID] = {}

    def report(entity: str, phase: str, done: int) -> None:
        key = f"{phase} {entity}"
        if key not in tasks:
            tasks[key] = bar.add_task(f"{system}: {key}", total=None)
        bar.update(tasks[key], completed=done)

    return report
