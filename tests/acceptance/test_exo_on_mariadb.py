"""The Exo preset against an ERP database on MariaDB ("any SQL database"): UPDATE has no
RETURNING there and DATETIME keeps whole seconds, so echo suppression and change
detection must hold without either."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from accord.clock import ManualClock
from accord.config import Config, HubConfig, SystemConfig
from accord.sandbox.exo import ExoEditor, generate
from accord.service.records import edit_record
from accord.store import HubStore
from tests.acceptance.exo_support import ExoWorld, a_plain_contact

pytestmark = pytest.mark.mariadb


@pytest.fixture
def exo_mariadb(tmp_path: Path, mariadb_url: str) -> Iterator[ExoWorld]:
    # Whole seconds, like the ERP's own DATETIME columns: edits land in later seconds.
    clock = ManualClock(step=timedelta(seconds=1))
    generate(mariadb_url, customers=12, contacts=30, seed=3, clock=clock)
    config = Config(
        hub=HubConfig(database=f"sqlite:///{tmp_path / 'hub.db'}", database_env=None),
        systems={"erp": SystemConfig(kind="sql", preset="exo", url=mariadb_url, sync="two-way")},
    )
    store = HubStore(config.hub.database)
    editor = ExoEditor(mariadb_url, clock=clock)
    yield ExoWorld(config, store, editor, clock)
    editor.close()
    store.close()


def test_exo_on_mariadb_syncs_both_ways_without_echo(exo_mariadb: ExoWorld) -> None:
    world = exo_mariadb
    first = world.sync()
    assert first.count("hub", "person", "create") >= 30
    again = world.sync()  # U-02: nothing changed, nothing written anywhere
    assert again.writes == 0, again.counts

    contact = a_plain_contact(world.erp)
    seqno, accno = contact["SEQNO"], contact["ACCNO"]
    hub = world.hub_contact(seqno, accno)
    edit_record(world.store, hub.id, {"job_title": "Head buyer"}, clock=world.clock)
    world.sync()
    erp_row = world.erp.contact(seqno)
    assert erp_row is not None and erp_row["TITLE"] == "Head buyer"

    world.clock.advance(timedelta(minutes=1))
    world.erp.update_contact(seqno, MOBILE="021 555 0199")
    world.sync()
    assert world.hub_contact(seqno, accno).data["mobile"] == "+64215550199"
    quiet = world.sync()
    assert quiet.writes == 0, quiet.counts
