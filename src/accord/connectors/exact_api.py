"""Calls to Exact Online's REST API: bearer tokens, the OData envelope, paging by
``__next``, and pacing by the rate-limit headers so the limits are never exceeded.

Exact answers every call with the daily and per-minute budget left and when each resets
(epoch milliseconds). Before a call, if the minute's budget is spent, we wait for its
reset; if the day's is spent, the run stops with a clear message instead of earning 429s
(and, past ten errors an hour, a blocked key). Reads and PUTs are repeated after a
dropped connection or a server error; a create (POST) that may have reached Exact is not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from accord.connectors.exact_auth import ReconnectError, TokenKeeper, Verify, reconnect_message
from accord.errors import PermanentError, TransientError

log = logging.getLogger(__name__)

RETRIES = 3
# A request that never reached Exact may be sent again, whatever its method.
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Waiting past a reset time by a little covers clock differences between us and Exact.
RESET_SLACK = 0.05


class ExactRequestError(PermanentError):
    def __init__(self, status: int, message: str, *, system: str | None = None) -> None:
        super().__init__(f"Exact Online answered {status}: {message}", system=system)
        self.status = status
        self.detail = message


@dataclass
class Budget:
    """What the rate-limit headers said last, and what this client used."""

    daily_limit: int | None = None
    daily_remaining: int | None = None
    daily_reset: float | None = None  # epoch seconds
    minute_limit: int | None = None
    minute_remaining: int | None = None
    minute_reset: float | None = None
    calls: int = 0
    waits: int = 0
    waited_seconds: float = 0.0
    throttled: int = 0  # 429 answers (pacing should keep this at 0)

    def update(self, headers: httpx.Headers) -> None:
        minute = _limit(headers, "X-RateLimit-Minutely-")
        if minute is not None:
            self.minute_limit, self.minute_remaining, self.minute_reset = minute
        daily = _limit(headers, "X-RateLimit-")
        if daily is not None:
            self.daily_limit, self.daily_remaining, self.daily_reset = daily

    def summary(self) -> str:
        parts = [f"{self.calls} API call(s)"]
        if self.daily_limit is not None:
            parts.append(f"daily budget {self.daily_remaining} of {self.daily_limit} left")
        if self.minute_limit is not None:
            parts.append(f"per-minute limit {self.minute_limit}")
        if self.waits:
            parts.append(f"paused {self.waits} time(s), {self.waited_seconds:.1f}s in all")
        if self.throttled:
            parts.append(f"{self.throttled} throttled")
        return ", ".join(parts)


def _limit(headers: httpx.Headers, prefix: str) -> tuple[int, int, float] | None:
    try:
        return (
            int(headers[f"{prefix}Limit"]),
            int(headers[f"{prefix}Remaining"]),
            int(headers[f"{prefix}Reset"]) / 1000,
        )
    except (KeyError, ValueError):
        return None


def error_message(response: httpx.Response) -> str:
    """Exact's ``{"error": {"message": {"value": ...}}}``, or the body's start."""
    try:
        body = response.json()
        value = body["error"]["message"]["value"]
        return str(value)
    except (ValueError, KeyError, TypeError):
        return response.text[:200] or response.reason_phrase


class ExactApi:
    def __init__(
        self,
        base_url: str,
        keeper: TokenKeeper,
        *,
        system: str,
        division: int | None = None,
        verify: Verify = True,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.keeper = keeper
        self.system = system
        self.division = division
        self.budget = Budget()
        self.refused: ReconnectError | None = None
        self._sleep = sleep
        self._http = httpx.Client(verify=verify, timeout=timeout)

    def close(self) -> None:
        self._http.close()
        self.keeper.oauth.close()

    # -- the envelope -----------------------------------------------------------------------
    def url(self, path: str, params: dict[str, str] | None = None) -> str:
        if path.startswith("current/"):
            base = f"{self.base_url}/api/v1/{path}"
        else:
            if self.division is None:
                raise PermanentError("no Exact Online division known", system=self.system)
            base = f"{self.base_url}/api/v1/{self.division}/{path}"
        return f"{base}?{urlencode(params)}" if params else base

    def pages(self, path: str, params: dict[str, str]) -> Iterator[list[dict[str, Any]]]:
        """Each page of a collection, following ``__next`` exactly as given."""
        url: str | None = self.url(path, params)
        while url:
            body = self.request("GET", url)
            envelope = body.get("d", {}) if isinstance(body, dict) else {}
            results = envelope.get("results", []) if isinstance(envelope, dict) else envelope
            yield list(results)
            url = envelope.get("__next") if isinstance(envelope, dict) else None

    def first(self, path: str, params: dict[str, str]) -> dict[str, Any] | None:
        for page in self.pages(path, params):
            return page[0] if page else None
        return None

    # -- one call -----------------------------------------------------------------------------
    def request(self, method: str, url: str, json: Any = None) -> Any:
        # Once Exact has refused the grant, every further call is refused at once.
        if self.refused is not None:
            raise ReconnectError(self.refused.message, system=self.system)
        try:
            return self._request(method, url, json)
        except ReconnectError as exc:
            self.refused = exc
            raise

    def _request(self, method: str, url: str, json: Any) -> Any:
        renewed = False
        for attempt in range(RETRIES):
            self._pace()
            headers = {
                "Authorization": f"Bearer {self.keeper.access_token()}",
                "Accept": "application/json",
            }
            try:
                response = self._http.request(method, url, json=json, headers=headers)
            except httpx.TransportError as exc:
                if method == "POST" and not isinstance(exc, _UNSENT):
                    # Exact may have carried the create out: the caller decides whether
                    # repeating it is safe (an account keyed by its code) or not.
                    raise TransientError(
                        f"Exact Online did not answer the create: {type(exc).__name__}",
                        system=self.system,
                    ) from None
                if attempt == RETRIES - 1:
                    raise TransientError(
                        f"Exact Online unreachable: {type(exc).__name__}", system=self.system
                    ) from None
                self._backoff(attempt)
                continue
            self.budget.calls += 1
            self.budget.update(response.headers)
            if response.status_code == 401 and not renewed:
                # Our idea of the expiry was wrong (clock skew, tokens flushed): renew once.
                self.keeper.renew()
                renewed = True
                continue
            if response.status_code == 401:
                raise ReconnectError(reconnect_message(self.system), system=self.system)
            if response.status_code == 429:
                self.budget.throttled += 1
                if attempt == RETRIES - 1:
                    raise TransientError(
                        "Exact Online rate limit exceeded; try again after the reset",
                        system=self.system,
                    )
                continue  # _pace waits for the reset the 429 announced
            if response.status_code >= 500:
                if attempt == RETRIES - 1 or method == "POST":
                    raise TransientError(
                        f"Exact Online answered {response.status_code}: {error_message(response)}",
                        system=self.system,
                    )
                self._backoff(attempt)
                continue
            if response.status_code >= 400:
                raise ExactRequestError(
                    response.status_code, error_message(response), system=self.system
                )
            if not response.content:
                return None
            if "json" not in response.headers.get("content-type", ""):
                return response.text
            return response.json()
        raise TransientError("Exact Online kept failing", system=self.system)

    def _pace(self) -> None:
        budget = self.budget
        now = time.time()
        if budget.daily_remaining == 0 and budget.daily_reset and now < budget.daily_reset:
            raise TransientError(
                f"the Exact Online daily limit of {budget.daily_limit} calls is used up;"
                f" it resets at {time.strftime('%H:%M UTC', time.gmtime(budget.daily_reset))}",
                system=self.system,
            )
        if budget.minute_remaining is not None and budget.minute_remaining <= 0:
            reset = budget.minute_reset or now
            if now < reset + RESET_SLACK:
                wait = reset + RESET_SLACK - now
                budget.waits += 1
                budget.waited_seconds += wait
                log.info("exact: pausing %.2fs for the per-minute rate limit", wait)
                self._sleep(wait)
            # The next answer tells the new window's budget; until then assume one call.
            budget.minute_remaining = None

    def _backoff(self, attempt: int) -> None:
        self._sleep(min(0.2 * (2**attempt), 2.0))
