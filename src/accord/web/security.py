"""Login rate limiting, CSRF tokens and the response headers every page carries."""

from __future__ import annotations

import hmac
import threading
import time
from collections import deque

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_COOKIE = "accord_session"
LOGIN_CSRF_COOKIE = "accord_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# htmx is served from this origin and pages carry no inline script, so scripts and styles
# from anywhere else (including injected inline ones) do not run.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


class LoginLimiter:
    """Failed logins: at most ``attempts`` per client address in ``window`` seconds, and a
    higher bar (``name_factor`` times as many) per user name, so guessing one account from
    many addresses is slowed without letting one address lock the admin out. Thread-safe
    (the server answers from a thread pool); forgotten once the window has passed."""

    def __init__(self, attempts: int = 5, window: float = 300.0, name_factor: int = 4) -> None:
        self.attempts = attempts
        self.window = window
        self.name_factor = name_factor
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _count(self, key: str, now: float) -> int:
        times = self._failures.get(key)
        if times is None:
            return 0
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return len(times)

    def _keys(self, address: str, name: str) -> tuple[tuple[str, int], tuple[str, int]]:
        return (
            (f"addr:{address}", self.attempts),
            (f"name:{name.strip().lower()}", self.attempts * self.name_factor),
        )

    def blocked(self, address: str, name: str) -> bool:
        now = time.monotonic()
        with self._lock:
            return any(self._count(k, now) >= limit for k, limit in self._keys(address, name))

    def failed(self, address: str, name: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key, _ in self._keys(address, name):
                self._count(key, now)
                self._failures.setdefault(key, deque()).append(now)


def same_token(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given), expected)


# FastAPI's API browser (Swagger UI) loads its script and styles from a CDN and starts
# with an inline script; only that page gets a policy that lets it.
DOCS_PATH = "/api/v1/docs"
DOCS_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        policy = DOCS_SECURITY_POLICY if request.url.path == DOCS_PATH else CONTENT_SECURITY_POLICY
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response
