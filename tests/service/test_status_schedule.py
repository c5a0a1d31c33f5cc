"""`accord status`: each link's next run and lag, for interval, immediate and paused links."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from accord.jobs import due, state
from accord.service import queries
from accord.service.records import edit_record
from accord.service.systems import open_hub
from tests.service.support import accord_run, exo_link, write_config


def _row(output: str, system: str) -> str:
    (line,) = [line for line in output.splitlines() if f" {system} " in line]
    return line


def test_s001_03_status_shows_immediate_pushes_and_paused_links_as_they_run(
    tmp_path: Path,
) -> None:
    erp = exo_link(tmp_path, "erp", push="15m", pull="60m")
    shop = exo_link(tmp_path, "shop", push="immediate", pull="60m", owns_codes=False, seed=9)
    held = exo_link(tmp_path, "held", push="15m", pull="30m", owns_codes=False, seed=12)
    settings = write_config(
        tmp_path / "accord.toml", f"sqlite:///{tmp_path / 'hub.db'}", [erp, shop, held]
    )
    for name in ("erp", "shop"):
        synced = accord_run("sync", name, cwd=tmp_path)
        assert synced.returncode == 0, synced.stderr
    store = open_hub(settings)
    try:
        edit_record(store, queries.find_record(store, "erp:company:2"), {"name": "Harbour Ltd"})
        now = datetime.now(UTC)
        with store.transaction() as conn:
            # The shop pushed every 15 minutes before it became immediate: that time stays
            # in the hub but no longer says anything.
            state.set_next_due(conn, "shop", "push", now + timedelta(minutes=7))
            due.due_jobs(conn, settings, now, None)  # the scheduler's first look
        state.set_paused(store, "held", True)
        with store.transaction() as conn:
            next_pull = state.next_due(conn, "shop", "pull")
            next_push = state.next_due(conn, "erp", "push")
    finally:
        store.close()
    assert next_pull is not None and next_push is not None

    shown = accord_run("status", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    pull_at = next_pull.strftime("%Y-%m-%d %H:%M:%S")
    assert f"push on hub change / pull {pull_at}" in _row(text, "shop")
    assert f"push {next_push.strftime('%Y-%m-%d %H:%M:%S')} / pull " in _row(text, "erp")
    assert "paused: nothing until resumed" in _row(text, "held")
    # Lag: the shop ran last, so all it has to send is the hub edit; the ERP ran before
    # the shop's records came in, so it has those to send as well.
    assert re.search(r" \d+s ago; 1 to send ", _row(text, "shop"))
    erp_lag = re.search(r" \d+s ago; (\d+) to send ", _row(text, "erp"))
    assert erp_lag is not None and int(erp_lag.group(1)) > 1
    assert "no good run yet" in _row(text, "held")
