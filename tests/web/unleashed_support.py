"""The web app in front of a hub linked to a sandbox Unleashed over real HTTP (S001)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from accord.clock import ManualClock
from accord.service import users as user_service
from accord.web.app import create_app
from tests.acceptance.unleashed_support import UnleashedWorld, open_world
from tests.web.support import PASSWORD, log_in

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class UnleashedWeb:
    world: UnleashedWorld
    app: FastAPI
    tokens: dict[str, str]
    _clients: list[TestClient] = field(default_factory=list)

    def api(self, role: str = "editor") -> TestClient:
        client = TestClient(self.app, headers={"Authorization": f"Bearer {self.tokens[role]}"})
        self._clients.append(client)
        return client

    def browser(self, role: str = "editor") -> tuple[TestClient, str]:
        client = TestClient(self.app, follow_redirects=False)
        self._clients.append(client)
        assert log_in(client, role, PASSWORD).status_code == 303
        found = _CSRF.search(client.get("/customers").text)
        assert found
        return client, found.group(1)

    def close(self) -> None:
        for client in self._clients:
            client.close()


def unleashed_web(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, **options: object
) -> Iterator[UnleashedWeb]:
    # The sandbox stops and the hub closes when the world's context ends.
    with contextmanager(open_world)(tmp_path, clock, monkeypatch, options=dict(options)) as world:
        tokens = {}
        for role in ("editor", "viewer"):
            user_service.add_user(world.store, role, PASSWORD, role, clock=clock)
            tokens[role] = user_service.create_token(world.store, role, "tests", clock=clock)
        web = UnleashedWeb(world, create_app(world.config, store=world.store, clock=clock), tokens)
        try:
            yield web
        finally:
            web.close()
