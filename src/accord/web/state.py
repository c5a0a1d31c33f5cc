"""What every request handler reaches: configuration, hub store, clock, login limiter."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from accord.clock import Clock
from accord.config import Config
from accord.jobs.live_config import LiveConfig
from accord.service.exact_connect import Authorization
from accord.store import HubStore
from accord.web.security import LoginLimiter


@dataclass
class WebState:
    live: LiveConfig  # the configuration file as it is now, not as it was at start-up
    store: HubStore
    clock: Clock
    secure_cookies: bool | None  # None: secure when the request came over HTTPS
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    # OAuth consents under way ("Connect Exact Online"), by their state value: the
    # callback must carry one of these, for the admin who started it, within minutes.
    consents: dict[str, PendingConsent] = field(default_factory=dict)

    @property
    def config(self) -> Config:
        return self.live.get()


@dataclass(frozen=True)
class PendingConsent:
    authorization: Authorization
    user_id: int
    expires: float  # time.monotonic()


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.accord
    return state
