"""The Exact Online tables on SQLite and PostgreSQL: encrypted tokens, the connection,
import profiles."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from accord.connectors.exact_auth import SecretBox, Tokens, TokenStore
from accord.errors import ConfigError
from accord.service import import_profiles as profiles
from accord.service.import_profiles import ImportProfile
from accord.store import HubStore
from accord.store.exact_schema import secrets


def test_tokens_are_kept_encrypted_and_replaced_on_renewal(store: HubStore) -> None:
    box = SecretBox(Fernet.generate_key().decode())
    tokens = TokenStore(store.engine, "exact", box)
    assert tokens.load() is None
    tokens.save(Tokens("access-1", "refresh-1", 1000.0, 600.0))
    tokens.save(Tokens("access-2", "refresh-2", 2000.0, 600.0))
    loaded = tokens.load()
    assert loaded is not None and loaded.refresh_token == "refresh-2"
    assert "refresh-2" not in repr(loaded) and "access-2" not in repr(loaded)
    with store.transaction() as conn:
        (sealed,) = conn.execute(select(secrets.c.value)).scalars().all()
    assert "refresh" not in sealed and "access" not in sealed
    other_key = TokenStore(store.engine, "exact", SecretBox(Fernet.generate_key().decode()))
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        other_key.load()


def test_the_connection_and_financial_year_start(store: HubStore) -> None:
    tokens = TokenStore(store.engine, "exact", SecretBox(Fernet.generate_key().decode()))
    with pytest.raises(ConfigError, match="connect to Exact Online first"):
        tokens.set_financial_year_start("04-01")
    tokens.save_connection(123456, "Admin")
    tokens.set_financial_year_start("04-01")
    found = tokens.connection()
    assert found is not None and (found.division, found.financial_year_start) == (123456, "04-01")


def test_import_profiles_are_stored(store: HubStore) -> None:
    saved = profiles.save(
        store, ImportProfile("Customers", "exact", "company", "account", {"name": "Name"})
    )
    copy = profiles.save_as_new(store, saved, "Customers 2")
    assert copy.id != saved.id
    assert [p.title for p in profiles.list_profiles(store)] == ["Customers", "Customers 2"]
    assert profiles.get(store, str(saved.id)).mapping == {"name": "Name"}


def test_a_bad_secret_key_is_named() -> None:
    with pytest.raises(ConfigError, match="not a valid Fernet key"):
        SecretBox("too-short")
