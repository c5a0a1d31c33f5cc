"""The settings and accord.toml: the pages show the file as it is now, and a save edits it
in place, writing only what the admin changed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from accord import config as config_module
from tests.web.support import WebWorld, form_fields, web_world

_ERP = "[systems.erp]\n"


@pytest.fixture
def filed(tmp_path: Path) -> Iterator[WebWorld]:
    with web_world(tmp_path, file=True) as world:
        yield world


def _path(world: WebWorld) -> Path:
    assert world.config.path is not None
    return world.config.path


def _edit_by_hand(world: WebWorld, old: str, new: str) -> None:
    text = _path(world).read_text()
    assert old in text
    _path(world).write_text(text.replace(old, new))


def test_saving_a_system_keeps_what_the_file_says_beside_the_change(filed: WebWorld) -> None:
    admin, _ = filed.browser("admin")
    # Added while the app runs: neither is in the settings it started with.
    _edit_by_hand(
        filed, _ERP, f'{_ERP}# held for review until the ERP is cleaned\nconflict = "hold"\n'
    )
    page = admin.get("/settings").text
    saved = admin.post(
        "/settings/systems/erp",
        data={**form_fields(page, "/settings/systems/erp"), "push": "immediate"},
    )
    assert saved.status_code == 303, saved.text
    text = _path(filed).read_text()
    assert '# held for review until the ERP is cleaned\nconflict = "hold"\n' in text
    on_disk = config_module.load(_path(filed)).systems["erp"]
    assert on_disk.conflict == "hold" and on_disk.schedule.push == "immediate"

    changed = filed.api("admin").patch("/api/v1/systems/erp", json={"schedule_pull": "2h"})
    assert changed.status_code == 200
    assert "# held for review" in _path(filed).read_text()
    assert config_module.load(_path(filed)).systems["erp"].schedule.pull == "2h"


def test_a_setting_changed_in_the_file_after_the_page_was_shown_is_not_reverted(
    filed: WebWorld,
) -> None:
    admin, _ = filed.browser("admin")
    form = form_fields(admin.get("/settings").text, "/settings/systems/erp")
    assert form["pull"] == "60m" and form["push"] == "15m"
    _edit_by_hand(filed, 'pull = "60m"', 'pull = "2h"')

    # The admin changes the push only: the pull the form still shows is not written back.
    saved = admin.post("/settings/systems/erp", data={**form, "push": "5m"})
    assert saved.status_code == 303, saved.text
    schedule = config_module.load(_path(filed)).systems["erp"].schedule
    assert (schedule.push, schedule.pull) == ("5m", "2h")

    # A setting the admin changed that the file changed too since: refused, file kept.
    stale = admin.post("/settings/systems/erp", data={**form, "pull": "30m"})
    assert stale.status_code == 422
    assert "schedule.pull was changed to &#39;2h&#39;" in stale.text
    assert config_module.load(_path(filed)).systems["erp"].schedule.pull == "2h"


def test_the_pages_and_the_api_show_the_file_as_it_is_now(filed: WebWorld) -> None:
    admin, _ = filed.browser("admin")
    _edit_by_hand(filed, 'sync = "two-way"', 'sync = "off"')
    assert [s["sync"] for s in filed.api("viewer").get("/api/v1/systems").json()] == ["off"]
    assert form_fields(admin.get("/settings").text, "/settings/systems/erp")["sync"] == "off"
    assert "<td>erp</td><td>off</td>" in admin.get("/monitor").text
