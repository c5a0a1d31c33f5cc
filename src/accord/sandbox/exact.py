"""Running the Exact Online sandbox: a real HTTP(S) server on 127.0.0.1.

    with ExactSandbox(SandboxSettings("id", "secret", auto_consent=True)) as exact:
        exact.url          # http://127.0.0.1:<ephemeral port>
        exact.server.data  # the Exact side, to edit as a user of Exact would

``serve`` runs it in the foreground (the ``accord sandbox exact`` command).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import uvicorn

from accord.sandbox.exact_server import ExactSandboxApp, Fault, SandboxSettings

__all__ = ["ExactSandbox", "Fault", "SandboxSettings", "serve"]

START_TIMEOUT = 10.0


def _config(
    app: ExactSandboxApp, port: int, tls_cert: Path | None, tls_key: Path | None
) -> uvicorn.Config:
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("TLS needs both a certificate and its key")
    return uvicorn.Config(
        app.app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
    )


class ExactSandbox:
    """The sandbox server in a background thread, on an ephemeral port by default."""

    def __init__(
        self,
        settings: SandboxSettings,
        *,
        port: int = 0,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
    ) -> None:
        self.server = ExactSandboxApp(settings)
        self._uvicorn = uvicorn.Server(_config(self.server, port, tls_cert, tls_key))
        self._thread: threading.Thread | None = None
        self.scheme = "https" if tls_cert else "http"
        self.port = port

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> ExactSandbox:
        self._thread = threading.Thread(target=self._uvicorn.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Exact Online sandbox did not start")
            time.sleep(0.01)
        sockets = self._uvicorn.servers[0].sockets
        self.port = int(sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=START_TIMEOUT)
            self._thread = None

    def __enter__(self) -> ExactSandbox:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    settings: SandboxSettings,
    port: int,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    faults: Sequence[Fault] = (),
) -> None:
    """Run in the foreground until interrupted."""
    app = ExactSandboxApp(settings)
    for fault in faults:
        app.inject(fault)
    uvicorn.Server(_config(app, port, tls_cert, tls_key)).run()
