"""A sync asked for from the web app or the API never overlaps another run of the link,
and a paused link is not synced from there either."""

from __future__ import annotations

import pytest

from accord.errors import ConfigError
from accord.jobs.locks import LinkBusyError, hold_link
from accord.jobs.state import set_paused
from accord.service import sync as sync_service
from tests.web.support import WebWorld


def test_a_sync_now_while_the_link_runs_is_refused_and_writes_nothing(web: WebWorld) -> None:
    api = web.api("editor")
    with hold_link(web.store, "erp"):
        refused = api.post("/api/v1/systems/erp/sync")
        assert refused.status_code == 409, refused.text
        assert "in progress" in refused.json()["detail"]
        with pytest.raises(LinkBusyError):
            sync_service.run(web.config, "erp", store=web.store, clock=web.clock)
    assert all(run["system"] != "erp" for run in api.get("/api/v1/runs").json())
    done = api.post("/api/v1/systems/erp/sync")
    assert done.status_code == 200, done.text


def test_a_paused_link_is_not_synced_on_request(web: WebWorld) -> None:
    set_paused(web.store, "erp", True)
    refused = web.api("editor").post("/api/v1/systems/erp/sync")
    assert refused.status_code == 422 and "paused" in refused.json()["detail"]
    with pytest.raises(ConfigError, match="paused"):
        sync_service.run(web.config, "erp", store=web.store, clock=web.clock)
    # A dry run writes nothing, so it is still allowed on a paused link.
    plan = sync_service.run(web.config, "erp", store=web.store, clock=web.clock, dry_run=True)
    assert plan.dry_run
    set_paused(web.store, "erp", False)
    assert web.api("editor").post("/api/v1/systems/erp/sync").status_code == 200
