"""Login rate limiting, CSRF tokens and the response headers every page carries."""

from __future__ import annotations

import hmac
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
    """At most ``attempts`` failed logins per client address and per user name in ``window``
    seconds; a success does not reset the address's count (guessing across names)."""

    def __init__(self, attempts: int = 5, window: float = 300.0) -> None:
        self.attempts = attempts
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def blocked(self, address: str, name: str) -> bool:
        now = time.monotonic()
        keys = (f"addr:{address}", f"name:{name.strip().lower()}")
        return any(len(self._recent(key, now)) >= self.attempts for key in keys)

    def failed(self, address: str, name: str) -> None:
        now = time.monotonic()
        for key in (f"addr:{address}", f"name:{name.strip().lower()}"):
            self._recent(key, now).append(now)


def same_token(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given), expected)


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response
