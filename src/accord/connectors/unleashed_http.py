"""The Unleashed API on the wire: signed requests, its date format, retries with backoff.

Every request carries ``api-auth-id`` and ``api-auth-signature``: base64 of the
HMAC-SHA256 of the query string exactly as sent (no ``?``, no path), keyed with the API
key as plain UTF-8 bytes. The query is encoded once, signed, and sent as those same
bytes, because any re-encoding on the way makes the service answer 403.

Throttling (429 with Retry-After), server errors, timeouts and dropped connections are
retried a bounded number of times with exponential backoff and full jitter; every
request sent and every retry is counted, so tests and benchmarks can report them.
Writes are retried too: creates choose their Guid, so a repeated write is harmless.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

from accord.errors import PermanentError, TransientError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")

Params = Sequence[tuple[str, str]]


def sign(query: str, api_key: str) -> str:
    digest = hmac.new(api_key.encode(), query.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def encode_query(params: Params) -> str:
    return urlencode(list(params))


def to_api_date(moment: datetime) -> str:
    return f"/Date({int(moment.timestamp() * 1000)})/"


def api_date_ms(text: object) -> int | None:
    """Milliseconds since the epoch from ``/Date(1471582359667)/`` (None if absent)."""
    if not isinstance(text, str):
        return None
    match = _DATE.match(text.strip())
    return int(match.group(1)) if match else None


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def modified_since(ms: int) -> str:
    """The ``modifiedSince`` filter for a moment: seconds are its finest documented grain."""
    return ms_to_datetime(ms).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def description(self) -> str:
        """The service's own words for a refusal: ``Description`` and field messages."""
        if not isinstance(self.body, dict):
            return f"HTTP {self.status}"
        parts = [str(self.body.get("Description") or f"HTTP {self.status}")]
        for item in self.body.get("Errors") or []:
            if isinstance(item, dict) and item.get("Message"):
                parts.append(str(item["Message"]))
        return ": ".join(dict.fromkeys(parts))

    def refused_field(self) -> str | None:
        if not isinstance(self.body, dict):
            return None
        for item in self.body.get("Errors") or []:
            if isinstance(item, dict) and item.get("Field"):
                return str(item["Field"])
        return None


@dataclass
class RetryPolicy:
    max_retries: int = 6
    backoff_base: float = 0.2  # seconds before the first retry (before jitter)
    backoff_cap: float = 8.0
    retry_after_cap: float = 60.0  # never wait longer than this for one Retry-After


class UnleashedHttp:
    """One signed session with the API; counts ``api_calls`` and ``retries``."""

    def __init__(
        self,
        base_url: str,
        api_id: str,
        api_key: str,
        *,
        client_type: str = "accord/hub",
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.api_calls = 0
        self.retries = 0
        self.waited = 0.0  # seconds spent backing off
        self._client = httpx.Client(
            timeout=timeout,
            headers={
                "Accept": "application/json",
                "Content-Type": "application/json",
                "api-auth-id": api_id,
                "client-type": client_type.lower().replace(" ", ""),
            },
        )

    def close(self) -> None:
        self._client.close()

    def get(self, path: str, params: Params = ()) -> ApiResponse:
        return self.request("GET", path, params)

    def request(
        self,
        method: str,
        path: str,
        params: Params = (),
        body: Any = None,
        *,
        took_effect: Callable[[], ApiResponse | None] | None = None,
    ) -> ApiResponse:
        """Send a request, retrying throttling, server errors and lost connections.

        ``took_effect`` is for a request that is not safe to repeat (a create whose answer
        may have been lost): before resending it after anything but a 429, it is asked
        whether the earlier attempt was carried out, and its answer is used if so.
        """
        query = encode_query(params)
        url = f"{self.base_url}{path}" + (f"?{query}" if query else "")
        headers = {"api-auth-signature": sign(query, self._api_key)}
        content = orjson.dumps(body) if body is not None else None
        attempt = 0
        while True:
            self.api_calls += 1
            wait: float | None = None
            try:
                response = self._client.request(method, url, headers=headers, content=content)
            except httpx.TimeoutException:
                problem = f"{method} {path} timed out"
            except httpx.TransportError as exc:
                problem = f"{method} {path}: connection failed ({type(exc).__name__})"
            else:
                if response.status_code not in RETRY_STATUSES:
                    return self._answer(method, path, response)
                problem = f"{method} {path} answered HTTP {response.status_code}"
                if response.status_code == 429:
                    wait = self._retry_after(response)
            if took_effect is not None and wait is None:
                done = took_effect()
                if done is not None:
                    self.retries += 1  # recovered by a read instead of a resend
                    return done
            if attempt >= self.retry.max_retries:
                raise TransientError(f"{problem}; gave up after {attempt + 1} attempts")
            attempt += 1
            self.retries += 1
            delay = self._backoff(attempt) if wait is None else wait + self._jitter()
            self.waited += delay
            self._sleep(delay)

    def _answer(self, method: str, path: str, response: httpx.Response) -> ApiResponse:
        try:
            body = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            body = {"Description": response.text[:500]}
        answer = ApiResponse(response.status_code, body)
        if response.status_code in (401, 403):
            raise PermanentError(
                f"{method} {path} was refused ({response.status_code}): check the API id and"
                f" key ({answer.description()})"
            )
        return answer

    def _retry_after(self, response: httpx.Response) -> float:
        raw = response.headers.get("Retry-After", "")
        try:
            seconds = float(raw)
        except ValueError:
            # The other form HTTP allows: a date (RFC 9110), "Wed, 02 Dec 2026 17:30:00 GMT".
            try:
                seconds = (parsedate_to_datetime(raw) - datetime.now(UTC)).total_seconds()
            except (TypeError, ValueError):
                seconds = self.retry.backoff_base
        return max(0.0, min(seconds, self.retry.retry_after_cap))

    def _backoff(self, attempt: int) -> float:
        # Full jitter: clients that failed together do not retry together.
        ceiling = min(self.retry.backoff_cap, self.retry.backoff_base * 2 ** (attempt - 1))
        return self._rng.uniform(0, ceiling)

    def _jitter(self) -> float:
        return self._rng.uniform(0, self.retry.backoff_base)
