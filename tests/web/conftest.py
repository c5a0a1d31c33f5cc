from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.support import WebWorld, web_world


@pytest.fixture
def web(tmp_path: Path) -> Iterator[WebWorld]:
    with web_world(tmp_path) as world:
        yield world
