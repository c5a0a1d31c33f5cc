"""Exact Online OAuth2: the authorization-code flow, encrypted token storage, refreshing.

Tokens live in the hub's ``secrets`` table, encrypted with Fernet under the key in
``ACCORD_SECRET_KEY``. Exact rotates the refresh token on every refresh (using the new one
expires the older ones), so a refreshed pair is saved before it is used. Access tokens are
renewed shortly before they expire: Exact refuses a renewal much earlier than that.
Token values never appear in messages, logs or reprs.
"""

from __future__ import annotations

import os
import ssl
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from authlib.integrations.base_client.errors import OAuthError
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import OperationalError

from accord.clock import SystemClock, to_iso
from accord.errors import ConfigError, PermanentError, TransientError
from accord.store.exact_schema import exact_connections, secrets

with warnings.catch_warnings():
    # Authlib 1.9 deprecates its httpx integration in favour of an httpx2 one; the API we
    # use is the same in both.
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client

SECRET_KEY_ENV = "ACCORD_SECRET_KEY"
AUTH_PATH = "/api/oauth2/auth"
TOKEN_PATH = "/api/oauth2/token"
REVOKE_PATH = "/api/oauth2/revoke"
# Exact: renew within the last 30 s of a 600 s token (5%); shorter tokens scale down.
RENEW_FRACTION = 0.05
RENEW_MAX_SECONDS = 30.0


Verify = bool | ssl.SSLContext


def tls_verify(ca_file: str | None) -> Verify:
    """Certificate checks against the system's trust store, or a given CA bundle."""
    return ssl.create_default_context(cafile=ca_file) if ca_file else True


class ReconnectError(PermanentError):
    """Exact no longer honours the stored grant: a person must connect again."""


def reconnect_message(system: str) -> str:
    return (
        "Exact Online no longer accepts the stored authorisation (consent withdrawn, or the"
        " refresh token revoked or expired): reconnect with"
        f" `accord connect exact --system {system}`"
    )


class SecretBox:
    """Fernet encryption with the key from the environment."""

    def __init__(self, key: str | None = None) -> None:
        key = key if key is not None else os.environ.get(SECRET_KEY_ENV)
        if not key:
            raise ConfigError(
                f"{SECRET_KEY_ENV} is not set: it encrypts the Exact Online tokens kept in the"
                " hub. Make one with: python -c 'from cryptography.fernet import Fernet;"
                " print(Fernet.generate_key().decode())' and keep it with your other secrets"
            )
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, TypeError):
            raise ConfigError(
                f"{SECRET_KEY_ENV} is not a valid Fernet key (32 url-safe base64-encoded bytes)"
            ) from None

    def seal(self, value: dict[str, Any]) -> str:
        return self._fernet.encrypt(orjson.dumps(value)).decode()

    def open(self, sealed: str) -> dict[str, Any]:
        try:
            opened: dict[str, Any] = orjson.loads(self._fernet.decrypt(sealed.encode()))
        except InvalidToken:
            raise ConfigError(
                f"the stored Exact Online tokens cannot be decrypted with {SECRET_KEY_ENV}"
                " (was the key changed?): set the old key, or reconnect"
            ) from None
        return opened


@dataclass
class Tokens:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float  # epoch seconds
    lifetime: float  # seconds the access token was issued for

    def renew_due(self, now: float) -> bool:
        margin = min(RENEW_MAX_SECONDS, self.lifetime * RENEW_FRACTION)
        return now >= self.expires_at - margin

    @classmethod
    def from_response(cls, token: dict[str, Any], now: float) -> Tokens:
        lifetime = float(token.get("expires_in") or 600)  # Exact sends it as a string
        return cls(
            str(token["access_token"]), str(token["refresh_token"]), now + lifetime, lifetime
        )


@dataclass
class Connection:
    system: str
    division: int
    user_name: str | None
    financial_year_start: str | None
    connected_at: str
    last_budget: str | None = None


class TokenStore:
    """A system's tokens and connection facts in the hub database."""

    def __init__(self, engine: Engine, system: str, box: SecretBox) -> None:
        self.engine = engine
        self.system = system
        self.box = box
        self._name = f"exact:{system}:oauth"

    def load(self) -> Tokens | None:
        with self.engine.begin() as conn:
            sealed = conn.execute(
                select(secrets.c.value).where(secrets.c.name == self._name)
            ).scalar()
        if sealed is None:
            return None
        data = self.box.open(sealed)
        return Tokens(data["access"], data["refresh"], data["expires_at"], data["lifetime"])

    def save(self, tokens: Tokens) -> None:
        sealed = self.box.seal(
            {
                "access": tokens.access_token,
                "refresh": tokens.refresh_token,
                "expires_at": tokens.expires_at,
                "lifetime": tokens.lifetime,
            }
        )
        at = to_iso(SystemClock().now())
        with self.engine.begin() as conn:
            found = conn.execute(select(secrets.c.name).where(secrets.c.name == self._name)).first()
            if found:
                conn.execute(
                    update(secrets)
                    .where(secrets.c.name == self._name)
                    .values(value=sealed, updated_at=at)
                )
            else:
                conn.execute(insert(secrets).values(name=self._name, value=sealed, updated_at=at))

    def forget(self) -> None:
        """Drop the tokens and the connection facts."""
        with self.engine.begin() as conn:
            conn.execute(delete(secrets).where(secrets.c.name == self._name))
            conn.execute(delete(exact_connections).where(exact_connections.c.system == self.system))

    def connection(self) -> Connection | None:
        with self.engine.begin() as conn:
            row = conn.execute(
                select(exact_connections).where(exact_connections.c.system == self.system)
            ).first()
        if row is None:
            return None
        return Connection(
            row.system,
            int(row.division),
            row.user_name,
            row.financial_year_start,
            row.connected_at,
            row.last_budget,
        )

    def save_connection(self, division: int, user_name: str | None) -> None:
        at = to_iso(SystemClock().now())
        values = {"division": division, "user_name": user_name, "connected_at": at}
        with self.engine.begin() as conn:
            where = exact_connections.c.system == self.system
            if conn.execute(select(exact_connections.c.system).where(where)).first():
                conn.execute(update(exact_connections).where(where).values(**values))
            else:
                conn.execute(insert(exact_connections).values(system=self.system, **values))

    def save_budget(self, summary: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(exact_connections)
                .where(exact_connections.c.system == self.system)
                .values(last_budget=summary[:400])
            )

    def set_financial_year_start(self, month_day: str) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(
                update(exact_connections)
                .where(exact_connections.c.system == self.system)
                .values(financial_year_start=month_day)
            )
        if done.rowcount == 0:
            raise ConfigError("connect to Exact Online first", system=self.system)


class ExactOAuth:
    """The OAuth2 endpoints of one Exact Online site, through Authlib."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str | None = None,
        *,
        verify: Verify = True,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = OAuth2Client(
            client_id,
            client_secret,
            redirect_uri=redirect_uri,
            token_endpoint_auth_method="client_secret_post",
            verify=verify,
            timeout=timeout,
        )

    def authorize_url(self, state: str) -> str:
        url, _ = self._client.create_authorization_url(self.base_url + AUTH_PATH, state=state)
        return str(url)

    def exchange(self, code: str) -> Tokens:
        now = time.time()
        token = self._call(
            lambda: self._client.fetch_token(
                self.base_url + TOKEN_PATH, code=code, grant_type="authorization_code"
            ),
            "exchanging the authorization code",
        )
        return Tokens.from_response(token, now)

    def refresh(self, tokens: Tokens, system: str) -> Tokens:
        now = time.time()
        try:
            token = self._client.refresh_token(
                self.base_url + TOKEN_PATH, refresh_token=tokens.refresh_token
            )
        except OAuthError as exc:
            if exc.error == "invalid_grant":
                raise ReconnectError(reconnect_message(system), system=system) from None
            raise TransientError(
                f"Exact Online refused to renew the access token: {exc.description or exc.error}",
                system=system,
            ) from None
        except httpx.HTTPError as exc:
            raise TransientError(
                f"Exact Online token endpoint unreachable: {type(exc).__name__}", system=system
            ) from None
        return Tokens.from_response(token, now)

    def revoke(self, tokens: Tokens) -> None:
        try:
            answer = self._client.request(
                "POST",
                self.base_url + REVOKE_PATH,
                data={
                    "token": tokens.refresh_token,
                    "client_id": self._client.client_id,
                    "client_secret": self._client.client_secret,
                },
                withhold_token=True,
            )
        except httpx.HTTPError as exc:
            raise TransientError(f"Exact Online unreachable: {type(exc).__name__}") from None
        if answer.status_code >= 400:
            raise PermanentError(f"Exact Online refused the revocation ({answer.status_code})")

    def close(self) -> None:
        self._client.close()

    @staticmethod
    def _call(action: Any, what: str) -> dict[str, Any]:
        try:
            result: dict[str, Any] = action()
        except OAuthError as exc:
            raise PermanentError(
                f"Exact Online refused {what}: {exc.description or exc.error}"
            ) from None
        except httpx.HTTPError as exc:
            raise TransientError(f"Exact Online unreachable while {what}: {exc}") from None
        return result


class TokenKeeper:
    """Hands out a valid access token, renewing (and saving the rotated pair) when due."""

    def __init__(self, oauth: ExactOAuth, store: TokenStore, tokens: Tokens | None = None) -> None:
        self.oauth = oauth
        self.store = store
        self._tokens = tokens
        self._unsaved: Tokens | None = None
        self.renewals = 0

    def access_token(self) -> str:
        tokens = self._current()
        if tokens.renew_due(time.time()):
            tokens = self.renew()
        return tokens.access_token

    def renew(self) -> Tokens:
        current = self._current()
        if self._unsaved is None:
            # Another client of this connection (a sync beside the nightly refresh, an
            # import) may have renewed since this one loaded the pair: the refresh token
            # in hand is then spent, and the stored pair is the valid one.
            try:
                stored = self.store.load()
            except OperationalError:
                stored = None
            if stored is not None and stored.refresh_token != current.refresh_token:
                self._tokens = current = stored
                if not stored.renew_due(time.time()):
                    return stored
        tokens = self.oauth.refresh(current, self.store.system)
        self._tokens = tokens
        self.renewals += 1
        # Saved before use: the old refresh token expires once the new one is used. If the
        # hub is locked (a dry run on SQLite holds its write lock), it is saved at close;
        # until the new refresh token is used, the old one stays valid.
        try:
            self.store.save(tokens)
        except OperationalError:
            self._unsaved = tokens
        return tokens

    def flush(self) -> None:
        """Save a renewed pair that could not be saved when it came."""
        if self._unsaved is not None:
            self.store.save(self._unsaved)
            self._unsaved = None

    def _current(self) -> Tokens:
        if self._tokens is None:
            self._tokens = self.store.load()
        if self._tokens is None:
            raise ReconnectError(
                "not connected to Exact Online yet: run"
                f" `accord connect exact --system {self.store.system}`",
                system=self.store.system,
            )
        return self._tokens
