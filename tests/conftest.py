"""Shared fixtures: a controlled clock, hub stores on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from accord.clock import ManualClock
from accord.store import HubStore
from accord.store.database import normalise_url

PG_URL = os.environ.get("ACCORD_TEST_DATABASE_URL")
# An ERP or other outside system on MariaDB/MySQL (the hub itself runs on SQLite or PostgreSQL).
MARIADB_URL = os.environ.get("ACCORD_TEST_MARIADB_URL")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # In CI, database tests must run: a missing database is a failure, not a skip.
    if os.environ.get("CI"):
        return
    needs = {
        "postgres": (PG_URL, "ACCORD_TEST_DATABASE_URL"),
        "mariadb": (MARIADB_URL, "ACCORD_TEST_MARIADB_URL"),
    }
    for marker, (url, variable) in needs.items():
        if url:
            continue
        skip = pytest.mark.skip(reason=f"set {variable} to run {marker} tests")
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(step=timedelta(milliseconds=1))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hub.db'}"


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A fresh PostgreSQL schema per test, dropped afterwards."""
    if not PG_URL:
        pytest.fail("ACCORD_TEST_DATABASE_URL is not set (required in CI)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(PG_URL))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """A fresh MariaDB database per test, dropped afterwards."""
    if not MARIADB_URL:
        pytest.fail("ACCORD_TEST_MARIADB_URL is not set (required in CI)")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(MARIADB_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    base, _, query = MARIADB_URL.partition("?")
    yield f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    with admin.begin() as conn:
        conn.execute(text(f"DROP DATABASE `{name}`"))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hub_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
def store(hub_url: str) -> Iterator[HubStore]:
    hub = HubStore(hub_url)
    yield hub
    hub.close()


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[HubStore]:
    hub = HubStore(sqlite_url)
    yield hub
    hub.close()
