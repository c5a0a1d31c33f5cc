"""A local Exact Online: OAuth2, the current division, the CRM/OData subset, limits.

Behaviour follows Exact Online's documentation (see the README): the authorize page asks
for consent (or redirects at once with ``auto_consent``), codes work once and expire,
access tokens are short-lived and may only be renewed near their end, every refresh
returns a new refresh token and using it expires the older ones, revoked grants end.
API calls carry per-minute and daily rate-limit headers and get a 429 past either limit;
errors use Exact's JSON error body. Faults can be injected per path.

Lifetimes, limits and windows are settings so tests run in seconds.
"""

from __future__ import annotations

import hmac
import html
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from starlette.responses import Response as StarletteResponse
from starlette.routing import Route

from accord.sandbox.exact_data import (
    ACCOUNT_FIELDS,
    CONTACT_FIELDS,
    ENTITY_ACCOUNT,
    ENTITY_CONTACT,
    ExactData,
    SandboxError,
    generate,
    select,
)
from accord.sandbox.exact_odata import compile_filter, parse_select

DELETED_FIELDS = (
    "ID",
    "Timestamp",
    "EntityKey",
    "EntityType",
    "DeletedBy",
    "DeletedDate",
    "Division",
)
RECEIVABLE_FIELDS = (
    "HID", "AccountId", "AccountCode", "AccountName", "Amount", "AmountInTransit",
    "CurrencyCode", "Description", "DueDate", "EntryNumber", "InvoiceDate", "InvoiceNumber",
    "JournalCode", "YourRef", "Notes",
)  # fmt: skip
_RESOURCES = {
    "crm/accounts": (ENTITY_ACCOUNT, ACCOUNT_FIELDS, "Account"),
    "crm/contacts": (ENTITY_CONTACT, CONTACT_FIELDS, "Contact"),
}


@dataclass
class SandboxSettings:
    client_id: str
    client_secret: str
    auto_consent: bool = False
    accounts: int = 0
    max_contacts: int = 3  # per generated account
    seed: int = 7
    division: int = 123456
    access_token_seconds: float = 600.0
    # A new access token may be asked for only this long after the last one (Exact: 570 s
    # of 600); None means 95% of the lifetime.
    refresh_not_before_seconds: float | None = None
    code_seconds: float = 180.0
    # An unused refresh token lasts about 30 days.
    refresh_token_seconds: float = 30 * 86400.0
    minutely_limit: int = 60
    daily_limit: int = 5000
    minute_seconds: float = 60.0
    day_seconds: float = 86400.0
    page_size: int = 60
    sync_page_size: int = 1000
    # Endpoints (e.g. "crm/Accounts") that refuse a GET without $filter, as Exact may for
    # an endpoint with a sync variant.
    filter_required: tuple[str, ...] = ()

    @property
    def refresh_guard(self) -> float:
        if self.refresh_not_before_seconds is not None:
            return self.refresh_not_before_seconds
        return self.access_token_seconds * 0.95


@dataclass
class Fault:
    """Answer the next ``times`` requests whose path contains ``path`` with ``status``.

    With ``lose_answer`` the request is carried out, then the connection drops before the
    answer's body (``status`` is the status line sent first): the client cannot tell
    whether it was done."""

    path: str
    status: int
    times: int = 1
    method: str | None = None
    message: str = "Injected fault"
    lose_answer: bool = False


class _LostAnswer(StarletteResponse):
    """Starts an answer, then breaks the connection (the server closes it mid-answer)."""

    def __init__(self, status: int) -> None:
        super().__init__(status_code=status)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.status_code,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
            }
        )
        raise ConnectionAbortedError("the sandbox dropped the connection (injected fault)")


@dataclass
class _Grant:
    refresh_tokens: list[str] = field(default_factory=list)
    issued: dict[str, float] = field(default_factory=dict)  # refresh token -> when issued
    floor: int = 0  # tokens before this index have expired
    issued_at: float = 0.0
    revoked: bool = False


@dataclass
class _Window:
    limit: int
    seconds: float
    used: int = 0
    reset_at: float = 0.0

    def roll(self, now: float) -> None:
        if now >= self.reset_at:
            self.used, self.reset_at = 0, now + self.seconds

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


def error_body(message: str, code: str = "") -> dict[str, Any]:
    return {"error": {"code": code, "message": {"lang": "", "value": message}}}


class ExactSandboxApp:
    """The server's state and its Starlette application (``self.app``)."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.data = ExactData(division=settings.division)
        if settings.accounts:
            generate(
                self.data, settings.accounts, seed=settings.seed, max_contacts=settings.max_contacts
            )
        self.lock = threading.RLock()
        self.codes: dict[str, tuple[str, float]] = {}
        self.access: dict[str, float] = {}
        self.refresh_owner: dict[str, _Grant] = {}
        self.faults: list[Fault] = []
        self.stats: Counter[str] = Counter()
        self.requests: list[str] = []  # "METHOD path?query" of API calls, never tokens
        # (the counter, the count it runs at, the action): see ``after_calls``
        self.scheduled: list[tuple[str, int, Callable[[], None]]] = []
        self.minute = _Window(settings.minutely_limit, settings.minute_seconds)
        self.day = _Window(settings.daily_limit, settings.day_seconds)
        self.app = Starlette(
            routes=[
                Route("/api/oauth2/auth", self.authorize, methods=["GET", "POST"]),
                Route("/api/oauth2/token", self.token, methods=["POST"]),
                Route("/api/oauth2/revoke", self.revoke, methods=["POST"]),
                Route("/api/v1/{rest:path}", self.api, methods=["GET", "POST", "PUT", "DELETE"]),
            ]
        )

    # -- test controls --------------------------------------------------------------------
    def inject(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def after_calls(
        self, calls: int, action: Callable[[], None], *, method: str | None = None
    ) -> None:
        """Run ``action`` (e.g. ``revoke_all``) just before the ``calls``-th next API call
        (of ``method`` only, e.g. "POST", when given)."""
        counter = f"api_calls.{method}" if method else "api_calls"
        with self.lock:
            self.scheduled.append((counter, self.stats[counter] + calls, action))

    def expire_access_tokens(self) -> None:
        """Every access token expires now (and may be renewed at once)."""
        with self.lock:
            self.access.clear()
            for grant in self.refresh_owner.values():
                grant.issued_at = 0.0

    def revoke_all(self) -> None:
        """The user withdrew consent: every grant ends."""
        with self.lock:
            for grant in self.refresh_owner.values():
                grant.revoked = True
            self.access.clear()

    # -- OAuth2 ---------------------------------------------------------------------------
    async def authorize(self, request: Request) -> StarletteResponse:
        params = dict(request.query_params)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.form()).items()})
        if params.get("client_id") != self.settings.client_id:
            return HTMLResponse("<h1>Unknown client</h1>", status_code=400)
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri or params.get("response_type") != "code":
            return HTMLResponse("<h1>redirect_uri and response_type=code needed</h1>", 400)
        state = params.get("state")
        decision = params.get("decision")
        if not self.settings.auto_consent and request.method == "GET":
            return HTMLResponse(self._consent_page(params))
        query: dict[str, str] = {}
        if decision == "deny":
            query["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(24)
            with self.lock:
                self.codes[code] = (redirect_uri, time.time() + self.settings.code_seconds)
            query["code"] = code
        if state is not None:
            query["state"] = state
        separator = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{separator}{urlencode(query)}", status_code=302)

    def _consent_page(self, params: dict[str, str]) -> str:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items()
            if k != "decision"
        )
        return (
            "<html><body><h1>Exact Online (sandbox)</h1>"
            "<p>An application asks to read and change your CRM accounts and contacts and"
            " to read your receivables.</p>"
            f'<form method="post" action="/api/oauth2/auth">{hidden}'
            '<button name="decision" value="allow">Allow</button>'
            '<button name="decision" value="deny">Deny</button></form></body></html>'
        )

    async def token(self, request: Request) -> StarletteResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if client_id != self.settings.client_id or not hmac.compare_digest(
            (client_secret or "").encode(), self.settings.client_secret.encode()
        ):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "Unknown client"}, 400
            )
        now = time.time()
        with self.lock:
            self.stats["token_calls"] += 1
            grant_type = form.get("grant_type")
            if grant_type == "authorization_code":
                entry = self.codes.pop(form.get("code", ""), None)
                if entry is None or entry[1] < now:
                    return _oauth_error("invalid_grant", "Code is invalid or expired")
                if entry[0] != form.get("redirect_uri"):
                    return _oauth_error("invalid_grant", "redirect_uri does not match")
                return self._issue(_Grant(), now)
            if grant_type == "refresh_token":
                presented = form.get("refresh_token", "")
                owner = self.refresh_owner.get(presented)
                if owner is None or owner.revoked:
                    return _oauth_error("invalid_grant", "Refresh token is invalid or revoked")
                index = owner.refresh_tokens.index(presented)
                unused_for = now - owner.issued.get(presented, now)
                if index < owner.floor or unused_for > self.settings.refresh_token_seconds:
                    return _oauth_error("invalid_grant", "Refresh token has expired")
                if now - owner.issued_at < self.settings.refresh_guard:
                    return JSONResponse(
                        {
                            "error": "invalid_request",
                            "error_description": "Access Token not expired",
                        },
                        401,
                    )
                owner.floor = index  # the older ones expire now that this one is used
                return self._issue(owner, now)
        return _oauth_error("unsupported_grant_type", f"grant_type {grant_type!r}")

    def _issue(self, grant: _Grant, now: float) -> JSONResponse:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.access[access] = now + self.settings.access_token_seconds
        grant.refresh_tokens.append(refresh)
        grant.issued[refresh] = now
        grant.issued_at = now
        self.refresh_owner[refresh] = grant
        return JSONResponse(
            {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": str(int(self.settings.access_token_seconds)),
                "refresh_token": refresh,
            }
        )

    async def revoke(self, request: Request) -> StarletteResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        with self.lock:
            grant = self.refresh_owner.get(form.get("token", ""))
            if grant is not None:
                grant.revoked = True
        return StarletteResponse(status_code=200)

    # -- the REST API -----------------------------------------------------------------------
    async def api(self, request: Request) -> StarletteResponse:
        rest = request.path_params["rest"]
        with self.lock:
            self.requests.append(f"{request.method} {rest}?{request.url.query}")
            self.stats["api_calls"] += 1
            self.stats[f"api_calls.{request.method}"] += 1
            for due in [item for item in self.scheduled if item[1] <= self.stats[item[0]]]:
                self.scheduled.remove(due)
                due[2]()
            now = time.time()
            self.minute.roll(now)
            self.day.roll(now)
            if self.day.remaining == 0:
                return self._limited(daily=True)
            if self.minute.remaining == 0:
                return self._limited(daily=False)
            self.minute.used += 1
            self.day.used += 1
            headers = self._limit_headers()
            fault = self._fault(request.method, rest)
        if fault is not None and not fault.lose_answer:
            return self._answer(fault.status, error_body(fault.message), headers)
        expires = self.access.get(_bearer(request) or "")
        if expires is None or expires < time.time():
            return self._answer(401, error_body("Access token is invalid or expired"), headers)
        try:
            status, body = await self._route(request, rest)
        except SandboxError as exc:
            status, body = exc.status, error_body(exc.message)
        if fault is not None:
            self.stats["lost_answers"] += 1
            return _LostAnswer(fault.status)
        return self._answer(status, body, headers)

    def _answer(self, status: int, body: Any, headers: dict[str, str]) -> StarletteResponse:
        self.stats[str(status)] += 1
        if body is None:
            return StarletteResponse(status_code=status, headers=headers)
        if isinstance(body, str):
            return PlainTextResponse(body, status, headers=headers)
        return JSONResponse(body, status, headers=headers)

    def _limited(self, *, daily: bool) -> StarletteResponse:
        self.stats["429"] += 1
        window = self.day if daily else self.minute
        prefix = "X-RateLimit-" if daily else "X-RateLimit-Minutely-"
        headers = {
            f"{prefix}Limit": str(window.limit),
            f"{prefix}Remaining": "0",
            f"{prefix}Reset": str(int(window.reset_at * 1000)),
        }
        return JSONResponse(error_body("API rate limit exceeded"), 429, headers=headers)

    def _limit_headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.day.limit),
            "X-RateLimit-Remaining": str(self.day.remaining),
            "X-RateLimit-Reset": str(int(self.day.reset_at * 1000)),
            "X-RateLimit-Minutely-Limit": str(self.minute.limit),
            "X-RateLimit-Minutely-Remaining": str(self.minute.remaining),
            "X-RateLimit-Minutely-Reset": str(int(self.minute.reset_at * 1000)),
        }

    def _fault(self, method: str, rest: str) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.path in rest and fault.method in (None, method):
                fault.times -= 1
                return fault
        return None

    async def _route(self, request: Request, rest: str) -> tuple[int, Any]:
        if rest.lower() == "current/me":
            return 200, self._me(request)
        division, _, path = rest.partition("/")
        if division != str(self.settings.division):
            return 403, error_body("Forbidden: no access to this division")
        lowered = path.lower()
        method = request.method
        for prefix, (kind, fields, type_name) in _RESOURCES.items():
            if lowered == prefix and method == "GET":
                return 200, self._collection(request, kind, fields, type_name)
            if lowered == prefix + "/$count" and method == "GET":
                return 200, str(len(self.data.of_kind(kind)))
            if lowered == prefix and method == "POST":
                created = self.data.create(kind, await request.json(), datetime.now(UTC))
                return 201, {"d": self._entity(request, created, type_name, path)}
            if lowered.startswith(prefix + "(guid'"):
                key = path.split("'")[1]
                return await self._one(request, kind, key, type_name, path)
            if lowered == "sync/" + prefix and method == "GET":
                return 200, self._sync(request, kind, fields, type_name)
        if lowered == "hrm/divisions" and method == "GET":
            listed: dict[str, Any] = {"Code": self.settings.division, "Description": "Sandbox B.V."}
            chosen = parse_select(request.query_params.get("$select"), set(listed))
            return 200, {"d": {"results": [select(listed, chosen)]}}
        if lowered == "sync/deleted" and method == "GET":
            return 200, self._deleted(request)
        if lowered == "read/sync/sync/synctimestamp" and method == "GET":
            return 200, {"d": {"results": [{"TimeStampAsBigInt": self.data.timestamp}]}}
        if lowered in ("read/financial/receivableslist", "read/financial/receivableslistbyaccount"):
            return 200, self._receivables(request, lowered.endswith("byaccount"))
        return 404, error_body(f"Resource not found: {path}")

    def _me(self, request: Request) -> dict[str, Any]:
        me = {
            "CurrentDivision": self.settings.division,
            "FullName": "Sandbox Administrator",
            "UserID": "00000000-0000-0000-0000-000000000001",
            "DivisionCustomer": "00000000-0000-0000-0000-000000000002",
        }
        chosen = parse_select(request.query_params.get("$select"), set(me))
        return {"d": {"results": [select(me, chosen)]}}

    async def _one(
        self, request: Request, kind: int, key: str, type_name: str, path: str
    ) -> tuple[int, Any]:
        now = datetime.now(UTC)
        if request.method == "GET":
            found = self.data.get(kind, key)
            if found is None:
                return 404, error_body("Not found")
            return 200, {"d": self._entity(request, found, type_name, path.split("(")[0])}
        if request.method == "PUT":
            self.data.update(kind, key, await request.json(), now)
            return 204, None
        if request.method == "DELETE":
            self.data.delete(kind, key, now)
            return 204, None
        return 405, error_body("Method not allowed")

    def _entity(
        self, request: Request, values: dict[str, Any], type_name: str, path: str
    ) -> dict[str, Any]:
        base = f"{request.base_url}api/v1/{self.settings.division}/{path.split('(')[0]}"
        uri = f"{base}(guid'{values.get('ID')}')" if values.get("ID") else base
        return {"__metadata": {"uri": uri, "type": f"Exact.Web.Api.Models.{type_name}"}, **values}

    def _collection(
        self, request: Request, kind: int, fields: tuple[str, ...], type_name: str
    ) -> dict[str, Any]:
        query = request.query_params
        required = {p.lower() for p in self.settings.filter_required}
        if _resource(request).lower() in required and not query.get("$filter"):
            raise SandboxError(400, "The request must have a $filter parameter")
        chosen = parse_select(query.get("$select"), set(fields))
        predicate = compile_filter(query.get("$filter"), set(fields))
        rows = sorted(
            (e.values for e in self.data.of_kind(kind) if predicate(e.values)),
            key=lambda v: str(v["ID"]),
        )
        order = query.get("$orderby")
        if order:
            name, _, direction = order.strip().partition(" ")
            if name not in fields:
                raise SandboxError(400, f"Property '{name}' does not exist on this entity")
            rows.sort(key=lambda v: (v.get(name) is None, v.get(name)), reverse=direction == "desc")
        start = int(query.get("$skiptoken") or 0) + int(query.get("$skip") or 0)
        top = int(query["$top"]) if "$top" in query else None
        size = self.settings.page_size if top is None else min(top, self.settings.page_size)
        page = rows[start : start + size]
        body: dict[str, Any] = {
            "results": [
                self._entity(request, select(v, chosen), type_name, _resource(request))
                for v in page
            ]
        }
        if top is None and start + size < len(rows):
            body["__next"] = _next_url(request, str(start + size), drop_skip=True)
        return {"d": body}

    def _sync(
        self, request: Request, kind: int, fields: tuple[str, ...], type_name: str
    ) -> dict[str, Any]:
        query = request.query_params
        sync_fields = (*fields, "Timestamp")
        chosen = parse_select(query.get("$select"), set(sync_fields))
        predicate = compile_filter(query.get("$filter"), set(sync_fields))
        after = int(query.get("$skiptoken") or 0)
        rows = sorted(
            (
                row
                for e in self.data.of_kind(kind)
                if e.timestamp > after and predicate(row := {**e.values, "Timestamp": e.timestamp})
            ),
            key=lambda r: int(r["Timestamp"]),
        )
        page = rows[: self.settings.sync_page_size]
        body: dict[str, Any] = {
            "results": [
                self._entity(request, select(r, chosen), type_name, _resource(request))
                for r in page
            ]
        }
        if len(rows) > len(page):
            body["__next"] = _next_url(request, str(page[-1]["Timestamp"]))
        return {"d": body}

    def _deleted(self, request: Request) -> dict[str, Any]:
        query = request.query_params
        chosen = parse_select(query.get("$select"), set(DELETED_FIELDS))
        predicate = compile_filter(query.get("$filter"), set(DELETED_FIELDS))
        after = int(query.get("$skiptoken") or 0)
        rows = [d for d in self.data.deleted_since(after) if predicate(d)]
        page = rows[: self.settings.sync_page_size]
        body: dict[str, Any] = {
            "results": [
                self._entity(request, select(r, chosen), "Deleted", _resource(request))
                for r in page
            ]
        }
        if len(rows) > len(page):
            body["__next"] = _next_url(request, str(page[-1]["Timestamp"]))
        return {"d": body}

    def _receivables(self, request: Request, by_account: bool) -> dict[str, Any]:
        query = request.query_params
        chosen = parse_select(query.get("$select"), set(RECEIVABLE_FIELDS))
        predicate = compile_filter(query.get("$filter"), set(RECEIVABLE_FIELDS))
        with self.data.lock:
            rows = [r for r in self.data.receivables if predicate(r)]
        if by_account:
            wanted = (query.get("accountId") or "").removeprefix("guid'").rstrip("'").lower()
            rows = [r for r in rows if str(r["AccountId"]).lower() == wanted]
        start = int(query.get("$skiptoken") or 0)
        page = rows[start : start + self.settings.page_size]
        body: dict[str, Any] = {
            "results": [
                self._entity(request, select(r, chosen), "ReceivablesList", _resource(request))
                for r in page
            ]
        }
        if start + len(page) < len(rows):
            body["__next"] = _next_url(request, str(start + len(page)))
        return {"d": body}


def _resource(request: Request) -> str:
    return str(request.path_params["rest"]).partition("/")[2]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token else None


def _oauth_error(code: str, description: str) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, 400)


def _next_url(request: Request, token: str, *, drop_skip: bool = False) -> str:
    params = [
        (k, v)
        for k, v in request.query_params.multi_items()
        if k != "$skiptoken" and not (drop_skip and k == "$skip")
    ]
    params.append(("$skiptoken", token))
    return f"{str(request.url).split('?')[0]}?{urlencode(params)}"
