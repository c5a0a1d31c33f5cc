"""Users, sessions and API tokens on both hub databases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from accord.clock import ManualClock
from accord.errors import AccordError
from accord.service import users
from accord.store import HubStore


def _exercise(store: HubStore, clock: ManualClock) -> None:
    alice = users.add_user(store, "alice", "long enough secret", "editor", clock=clock)
    with pytest.raises(AccordError, match="already exists"):
        users.add_user(store, "alice", "long enough secret", "viewer", clock=clock)
    assert users.authenticate(store, "alice", "wrong secret") is None
    assert users.authenticate(store, "nobody", "long enough secret") is None
    assert users.authenticate(store, " alice ", "long enough secret") == alice
    cookie, csrf = users.start_session(store, alice, clock=clock)
    session = users.session_for_cookie(store, cookie, clock=clock)
    assert session is not None and session.user == alice and session.csrf == csrf
    clock.advance(users.SESSION_LIFETIME + timedelta(seconds=1))
    assert users.session_for_cookie(store, cookie, clock=clock) is None  # expired
    token = users.create_token(store, "alice", "till", clock=clock)
    assert users.user_for_token(store, token, clock=clock) == alice
    assert users.user_for_token(store, token + "x", clock=clock) is None
    cookie, _ = users.start_session(store, alice, clock=clock)
    users.end_session(store, cookie)
    assert users.session_for_cookie(store, cookie, clock=clock) is None
    _revoke_and_disable(store, clock, token)


def _revoke_and_disable(store: HubStore, clock: ManualClock, token: str) -> None:
    # A leaked token is revoked; a departing user is disabled: both stop working at once.
    listed = users.list_tokens(store)
    assert [(t.user, t.name, t.revoked) for t in listed] == [("alice", "till", False)]
    assert token not in repr(listed)
    users.revoke_token(store, listed[0].id)
    assert users.user_for_token(store, token, clock=clock) is None
    with pytest.raises(AccordError, match="no token"):
        users.revoke_token(store, 999)
    second = users.create_token(store, "alice", "till-2", clock=clock)
    alice = users.authenticate(store, "alice", "long enough secret")
    assert alice is not None
    cookie, _ = users.start_session(store, alice, clock=clock)
    users.set_active(store, "alice", False)
    assert users.authenticate(store, "alice", "long enough secret") is None
    assert users.user_for_token(store, second, clock=clock) is None
    assert users.session_for_cookie(store, cookie, clock=clock) is None
    users.set_active(store, "alice", True)
    users.set_role(store, "alice", "viewer")
    users.set_password(store, "alice", "a brand new secret")
    assert users.authenticate(store, "alice", "long enough secret") is None
    renamed = users.authenticate(store, "alice", "a brand new secret")
    assert renamed is not None and renamed.role == "viewer"
    with pytest.raises(AccordError, match="unknown role"):
        users.set_role(store, "alice", "owner")


def test_users_sessions_tokens_on_sqlite(sqlite_url: str, clock: ManualClock) -> None:
    store = HubStore(sqlite_url)
    try:
        _exercise(store, clock)
    finally:
        store.close()


@pytest.mark.postgres
def test_users_sessions_tokens_on_postgresql(pg_schema_url: str, clock: ManualClock) -> None:
    store = HubStore(pg_schema_url)
    try:
        _exercise(store, clock)
    finally:
        store.close()
