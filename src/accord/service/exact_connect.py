"""Connecting a configured Exact Online system (S004-01): consent, tokens, division.

The admin's client id and secret come from the environment variables the configuration
names (``secrets_env.client_id`` / ``client_secret``). ``connect`` serves the OAuth2
callback on 127.0.0.1, hands the authorize URL to ``show_url`` (the CLI prints it),
checks ``state``, exchanges the code, reads the current division from "Me" and only then
stores the tokens (encrypted) and the division. The financial-year start is set after.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

from accord.config import Config, SystemConfig
from accord.connectors.exact_api import ExactApi
from accord.connectors.exact_auth import (
    Connection,
    ExactOAuth,
    SecretBox,
    TokenKeeper,
    TokenStore,
    tls_verify,
)
from accord.errors import AccordError, ConfigError
from accord.store import HubStore

CALLBACK_PATH = "/callback"
_MONTH_DAY = re.compile(r"^(\d{2})-(\d{2})$")


@dataclass
class _Callback:
    params: dict[str, str] | None = None


def exact_system(config: Config, name: str) -> SystemConfig:
    system = config.system(name)
    if system.kind != "exact":
        raise ConfigError(f"system {name!r} is not an Exact Online system (kind {system.kind!r})")
    return system


def token_store(store: HubStore, name: str) -> TokenStore:
    return TokenStore(store.engine, name, SecretBox())


def _callback_server(result: _Callback, done: threading.Event, port: int) -> HTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path != CALLBACK_PATH:
                self.send_error(404)
                return
            result.params = {k: v[0] for k, v in parse_qs(url.query).items()}
            body = b"<html><body>Accord: you can close this window.</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            done.set()

        def log_message(self, format: str, *args: object) -> None:
            return None  # the query carries the code: never log it

    return HTTPServer(("127.0.0.1", port), Handler)


@dataclass(frozen=True)
class Authorization:
    """A consent under way: where the admin is sent, and what the answer must carry."""

    system: str
    url: str
    state: str
    redirect_uri: str


def _oauth(system: SystemConfig, name: str, redirect_uri: str) -> ExactOAuth:
    return ExactOAuth(
        system.resolved_url(name),
        system.resolved_secret(name, "client_id"),
        system.resolved_secret(name, "client_secret"),
        redirect_uri,
        verify=tls_verify(system.options.get("ca_file")),
    )


def begin(config: Config, name: str, redirect_uri: str) -> Authorization:
    """The authorize URL for ``name``, answering to ``redirect_uri`` (the CLI's own callback
    server, or the web app's callback route)."""
    system = exact_system(config, name)
    SecretBox()  # fail before the admin consents, not after
    oauth = _oauth(system, name, redirect_uri)
    try:
        state = secrets.token_urlsafe(24)
        return Authorization(name, oauth.authorize_url(state), state, redirect_uri)
    finally:
        oauth.close()


def complete(config: Config, started: Authorization, params: dict[str, str]) -> Connection:
    """Check the answer's state, exchange the code, read the current division from "Me",
    and only then store the tokens (encrypted) and the division."""
    name = started.system
    if not secrets.compare_digest(params.get("state", ""), started.state):
        raise AccordError(
            "the answer's state does not match the request (a forged or stale callback);"
            " nothing stored",
            system=name,
        )
    if "error" in params:
        raise AccordError(f"Exact Online consent was refused ({params['error']}); nothing stored")
    if "code" not in params:
        raise AccordError("Exact Online sent no authorization code; nothing stored")
    system = exact_system(config, name)
    box = SecretBox()
    oauth = _oauth(system, name, started.redirect_uri)
    hub = HubStore(config.hub.resolved_url())
    try:
        store = TokenStore(hub.engine, name, box)
        try:
            tokens = oauth.exchange(params["code"])
            api = ExactApi(
                system.resolved_url(name),
                TokenKeeper(oauth, store, tokens),
                system=name,
                verify=tls_verify(system.options.get("ca_file")),
            )
            try:
                me = api.first("current/Me", {"$select": "CurrentDivision,FullName"})
            finally:
                api.close()
        finally:
            oauth.close()
        if not me or not me.get("CurrentDivision"):
            raise AccordError("Exact Online did not name a current division; nothing stored")
        store.save(tokens)
        store.save_connection(int(me["CurrentDivision"]), me.get("FullName"))
        connection = store.connection()
    finally:
        hub.close()
    assert connection is not None
    return connection


def connect(
    config: Config,
    name: str,
    show_url: Callable[[str], None],
    *,
    port: int = 0,
    timeout: float = 300.0,
) -> Connection:
    """Consent through a callback server of its own on 127.0.0.1 (``accord connect exact``)."""
    exact_system(config, name)
    result, done = _Callback(), threading.Event()
    server = _callback_server(result, done, port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        redirect_uri = f"http://127.0.0.1:{server.server_address[1]}{CALLBACK_PATH}"
        started = begin(config, name, redirect_uri)
        show_url(started.url)
        if not done.wait(timeout):
            raise AccordError(f"no answer from Exact Online within {timeout:.0f}s; nothing stored")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    return complete(config, started, result.params or {})


def parse_financial_year_start(text: str) -> str:
    """``MM-DD`` (or a full ISO date, whose month and day are taken)."""
    text = text.strip()
    try:
        if len(text) == 10:
            parsed = date.fromisoformat(text)
            return f"{parsed.month:02d}-{parsed.day:02d}"
        match = _MONTH_DAY.match(text)
        if match:
            date(2000, int(match.group(1)), int(match.group(2)))  # a real day (leap year)
            return text
    except ValueError:
        pass
    raise AccordError(f"not a financial-year start: {text!r} (use MM-DD, e.g. 04-01)")


def set_financial_year_start(config: Config, name: str, text: str) -> str:
    exact_system(config, name)
    month_day = parse_financial_year_start(text)
    hub = HubStore(config.hub.resolved_url())
    try:
        TokenStore(hub.engine, name, SecretBox()).set_financial_year_start(month_day)
    finally:
        hub.close()
    return month_day


def connection(config: Config, name: str) -> Connection | None:
    exact_system(config, name)
    hub = HubStore(config.hub.resolved_url())
    try:
        return TokenStore(hub.engine, name, SecretBox()).connection()
    finally:
        hub.close()


def disconnect(config: Config, name: str) -> bool:
    """Withdraw the grant in Exact Online and forget the tokens and the connection.

    Returns whether there was a connection. The hub's records and links stay."""
    system = exact_system(config, name)
    hub = HubStore(config.hub.resolved_url())
    try:
        store = TokenStore(hub.engine, name, SecretBox())
        tokens = store.load()
        if tokens is not None:
            oauth = ExactOAuth(
                system.resolved_url(name),
                system.resolved_secret(name, "client_id"),
                system.resolved_secret(name, "client_secret"),
                verify=tls_verify(system.options.get("ca_file")),
            )
            try:
                oauth.revoke(tokens)
            finally:
                oauth.close()
        found = store.connection() is not None
        store.forget()
        return found or tokens is not None
    finally:
        hub.close()
