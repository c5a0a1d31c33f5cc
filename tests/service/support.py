"""Exo-shaped sandbox links and a hub, written as a real accord.toml for service tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from accord import config as config_module
from accord.config import Config
from accord.sandbox.exo import generate
from accord.store import HubStore
from accord.store.schema import runs

ACCORD = str(Path(sys.executable).with_name("accord"))


@dataclass
class Link:
    name: str
    url: str
    push: str = "15m"
    pull: str = "60m"
    owns_codes: bool = True
    batch_size: int = 1000


def exo_link(
    folder: Path,
    name: str,
    *,
    customers: int = 8,
    contacts: int = 20,
    seed: int = 3,
    generator: dict[str, Any] | None = None,
    **kw: Any,
) -> Link:
    url = f"sqlite:///{folder / f'{name}.db'}"
    generate(url, customers=customers, contacts=contacts, seed=seed, **(generator or {}))
    return Link(name, url, **kw)


def write_config(
    path: Path, hub_url: str, links: list[Link], nightly: str = "02:00", hub_env: str = ""
) -> Config:
    """``hub_env``: the variable that holds the hub's URL where it carries a password."""
    lines = ["[hub]", f'database = "{hub_url}"', f'database_env = "{hub_env}"', ""]
    for link in links:
        lines += [
            f"[systems.{link.name}]",
            'kind = "sql"',
            'preset = "exo"',
            f'url = "{link.url}"',
            'sync = "two-way"',
            f"owns_codes = {'true' if link.owns_codes else 'false'}",
            f"batch_size = {link.batch_size}",
            f"[systems.{link.name}.schedule]",
            f'push = "{link.push}"',
            f'pull = "{link.pull}"',
            f'nightly = "{nightly}"',
            "",
        ]
    path.write_text("\n".join(lines))
    return config_module.load(path)


def wait_for(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise AssertionError(f"gave up after {timeout}s waiting for {what}")


def count_runs(store: HubStore, system: str | None = None, status: str | None = None) -> int:
    query = select(func.count()).select_from(runs)
    if system:
        query = query.where(runs.c.system == system)
    if status:
        query = query.where(runs.c.status == status)
    with store.transaction() as conn:
        return int(conn.execute(query).scalar_one())


def accord(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start an `accord` command as a real process."""
    return subprocess.Popen(
        [ACCORD, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def accord_run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    wide = {**os.environ, "COLUMNS": "250"}  # one table row per line
    return subprocess.run(
        [ACCORD, *args], cwd=cwd, env=wide, capture_output=True, text=True, timeout=120
    )
