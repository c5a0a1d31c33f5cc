"""Users, roles, API tokens and login sessions of the web app and API.

Passwords are hashed with argon2; API tokens and session ids are random and stored only
as their SHA-256 (they are long random strings, so a fast hash is enough and lookups
stay an index hit). Nothing here ever returns a stored secret.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, delete, insert, select, update

from accord.clock import Clock, SystemClock, to_iso
from accord.errors import AccordError
from accord.store import HubStore
from accord.store.web_schema import sessions, tokens, users

Role = Literal["admin", "editor", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "editor", "viewer")
SESSION_LIFETIME = timedelta(hours=12)
MIN_PASSWORD = 8
_hasher = PasswordHasher()


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: Role

    @property
    def can_edit(self) -> bool:
        return self.role in ("admin", "editor")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _user(row: object) -> User:
    return User(int(row.id), str(row.name), cast(Role, row.role))  # type: ignore[attr-defined]


def add_user(
    store: HubStore, name: str, password: str, role: str, *, clock: Clock | None = None
) -> User:
    name = name.strip()
    if not name:
        raise AccordError("a user needs a name")
    if role not in ROLES:
        raise AccordError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise AccordError(
            f"the password of user {name!r} must have at least {MIN_PASSWORD} characters"
        )
    at = to_iso((clock or SystemClock()).now())
    with store.transaction() as conn:
        if conn.execute(select(users.c.id).where(users.c.name == name)).first():
            raise AccordError(f"user {name!r} already exists")
        new_id = conn.execute(
            insert(users)
            .values(
                name=name,
                password_hash=_hasher.hash(password),
                role=role,
                active=True,
                created_at=at,
            )
            .returning(users.c.id)
        ).scalar_one()
    return User(int(new_id), name, role)


def list_users(store: HubStore) -> list[User]:
    with store.transaction() as conn:
        return [_user(row) for row in conn.execute(select(users).order_by(users.c.name))]


def authenticate(store: HubStore, name: str, password: str) -> User | None:
    with store.transaction() as conn:
        row = conn.execute(
            select(users).where(users.c.name == name.strip(), users.c.active.is_(True))
        ).first()
    if row is None:
        # Spend the same time as a real check, so timing does not tell which names exist.
        _hasher.hash(password)
        return None
    try:
        _hasher.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return _user(row)


def create_token(
    store: HubStore, user_name: str, token_name: str, *, clock: Clock | None = None
) -> str:
    """A new API token for ``user_name``; the plain token is returned once, never stored."""
    at = to_iso((clock or SystemClock()).now())
    token = "acc_" + secrets.token_urlsafe(32)
    with store.transaction() as conn:
        row = conn.execute(select(users.c.id).where(users.c.name == user_name)).first()
        if row is None:
            raise AccordError(f"no user {user_name!r}; add one with `accord user add`")
        conn.execute(
            insert(tokens).values(
                user_id=row.id,
                name=token_name,
                token_hash=_digest(token),
                created_at=at,
                revoked=False,
            )
        )
    return token


def user_for_token(store: HubStore, token: str, *, clock: Clock | None = None) -> User | None:
    at = to_iso((clock or SystemClock()).now())
    with store.transaction() as conn:
        row = conn.execute(
            select(users, tokens.c.id.label("token_id"))
            .join(tokens, tokens.c.user_id == users.c.id)
            .where(
                tokens.c.token_hash == _digest(token),
                tokens.c.revoked.is_(False),
                users.c.active.is_(True),
            )
        ).first()
        if row is None:
            return None
        conn.execute(update(tokens).where(tokens.c.id == row.token_id).values(last_used_at=at))
    return _user(row)


@dataclass(frozen=True)
class TokenInfo:
    id: int
    user: str
    name: str
    created_at: str
    last_used_at: str | None
    revoked: bool


def list_tokens(store: HubStore) -> list[TokenInfo]:
    """Every API token with its user (never the token itself: only its hash is kept)."""
    with store.reading() as conn:
        rows = conn.execute(
            select(tokens, users.c.name.label("user_name"))
            .join(users, users.c.id == tokens.c.user_id)
            .order_by(tokens.c.id)
        )
        return [
            TokenInfo(
                int(r.id), str(r.user_name), str(r.name), r.created_at, r.last_used_at, r.revoked
            )
            for r in rows
        ]


def revoke_token(store: HubStore, token_id: int) -> None:
    """A leaked or retired token stops working at once."""
    with store.transaction() as conn:
        done = conn.execute(update(tokens).where(tokens.c.id == token_id).values(revoked=True))
        if done.rowcount == 0:
            raise AccordError(f"no token {token_id}; see `accord token list`")


def _update_user(conn: Connection, name: str, **values: object) -> int:
    row = conn.execute(select(users.c.id).where(users.c.name == name)).first()
    if row is None:
        raise AccordError(f"no user {name!r}; see `accord user list`")
    conn.execute(update(users).where(users.c.id == row.id).values(**values))
    return int(row.id)


def set_active(store: HubStore, name: str, active: bool) -> None:
    """Disable (or enable again) a user; disabling ends their sessions and tokens with it."""
    with store.transaction() as conn:
        user_id = _update_user(conn, name, active=active)
        if not active:
            conn.execute(delete(sessions).where(sessions.c.user_id == user_id))


def set_role(store: HubStore, name: str, role: str) -> None:
    if role not in ROLES:
        raise AccordError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    with store.transaction() as conn:
        user_id = _update_user(conn, name, role=role)
        # Sessions carry no role, but a changed role should mean a fresh login.
        conn.execute(delete(sessions).where(sessions.c.user_id == user_id))


def set_password(store: HubStore, name: str, password: str) -> None:
    """A new password; every session of the user ends, so an attacker's does too."""
    if len(password) < MIN_PASSWORD:
        raise AccordError(f"a password needs at least {MIN_PASSWORD} characters")
    with store.transaction() as conn:
        user_id = _update_user(conn, name, password_hash=_hasher.hash(password))
        conn.execute(delete(sessions).where(sessions.c.user_id == user_id))


def start_session(store: HubStore, user: User, *, clock: Clock | None = None) -> tuple[str, str]:
    """A new login session: (cookie value, CSRF token)."""
    now = (clock or SystemClock()).now()
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with store.transaction() as conn:
        _drop_expired(conn, to_iso(now))
        conn.execute(
            insert(sessions).values(
                id_hash=_digest(cookie),
                user_id=user.id,
                csrf=csrf,
                created_at=to_iso(now),
                expires_at=to_iso(now + SESSION_LIFETIME),
            )
        )
    return cookie, csrf


def session_for_cookie(
    store: HubStore, cookie: str, *, clock: Clock | None = None
) -> Session | None:
    at = to_iso((clock or SystemClock()).now())
    with store.transaction() as conn:
        row = conn.execute(
            select(users, sessions.c.csrf)
            .join(sessions, sessions.c.user_id == users.c.id)
            .where(
                sessions.c.id_hash == _digest(cookie),
                sessions.c.expires_at > at,
                users.c.active.is_(True),
            )
        ).first()
    return None if row is None else Session(_user(row), str(row.csrf))


def end_session(store: HubStore, cookie: str) -> None:
    with store.transaction() as conn:
        conn.execute(delete(sessions).where(sessions.c.id_hash == _digest(cookie)))


def _drop_expired(conn: Connection, at: str) -> None:
    conn.execute(delete(sessions).where(sessions.c.expires_at <= at))
