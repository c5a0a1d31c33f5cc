"""A local Unleashed: the same HTTP protocol on 127.0.0.1, data in SQLite, faults on request.

It checks the signature of every request (a wrong one answers 403), pages, filters by
modification time, validates writes (``unleashed_store``) and answers refusals with the
error body ``{"Description", "Errors": [{"Field", "Message"}]}``. Faults rehearse a bad
day: at a given rate (seeded, so a run repeats) a request is answered 429 with
Retry-After, 500, slowly (past a client's timeout; the write still happens), or the
connection is dropped without an answer (for writes, half the time after the write was
made). One request can also ask for a fault with the header ``X-Sandbox-Fault``.

``UnleashedSandbox`` starts and stops it in-process (a context manager on an ephemeral
port); ``accord sandbox unleashed`` runs it from the command line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from accord.clock import Clock
from accord.sandbox.unleashed_store import Page, RefusedError, UnleashedData

FAULT_KINDS = ("429", "500", "slow", "drop")
FAULT_HEADER = "X-Sandbox-Fault"
_PAGE = re.compile(r"^\d+$")


@dataclass
class Faults:
    rate: float = 0.0  # share of requests that get a fault
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int | None = None
    retry_after: float = 1.0  # seconds, sent in Retry-After with a 429
    slow_seconds: float = 5.0  # how long a slow answer takes

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown or not 0 <= self.rate <= 1:
            raise ValueError(f"faults: rate must be 0..1 and kinds among {', '.join(FAULT_KINDS)}")


@dataclass
class Stats:
    requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    by_method: Counter[str] = field(default_factory=Counter)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    sandbox: UnleashedSandbox

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a slow answer closed its end: that is the rehearsal.
        return


class UnleashedSandbox:
    def __init__(
        self,
        api_id: str,
        api_key: str,
        *,
        data: UnleashedData | None = None,
        database: str | Path = ":memory:",
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.api_id = api_id
        self._api_key = api_key
        self.data = data or UnleashedData(str(database), clock)
        self.faults = faults or Faults()
        self.stats = Stats()
        self._rng = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self._server = _Server((host, port), _Handler)
        self._server.sandbox = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def set_faults(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._rng = random.Random(faults.seed)

    def start(self) -> UnleashedSandbox:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.data.close()

    def serve_forever(self) -> None:
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self._server.server_close()
            self.data.close()

    def __enter__(self) -> UnleashedSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- used by the handler ------------------------------------------------------------
    def signed(self, api_id: str | None, query: str, signature: str | None) -> bool:
        if api_id != self.api_id or not signature:
            return False
        digest = hmac.new(self._api_key.encode(), query.encode(), hashlib.sha256).digest()
        return hmac.compare_digest(base64.b64encode(digest).decode(), signature)

    def pick_fault(self, forced: str | None, method: str) -> str | None:
        with self._lock:
            self.stats.requests += 1
            self.stats.by_method[method] += 1
            fault = forced if forced in FAULT_KINDS else None
            if fault is None and self.faults.rate and self._rng.random() < self.faults.rate:
                fault = self._rng.choice(self.faults.kinds)
            if fault:
                self.stats.faults[fault] += 1
            return fault

    def coin(self) -> bool:
        with self._lock:
            return self._rng.random() < 0.5


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: requests carry ids and signatures

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        sandbox = self.server.sandbox
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        fault = sandbox.pick_fault(self.headers.get(FAULT_HEADER), method)
        if fault == "429":
            retry = sandbox.faults.retry_after
            text = str(int(retry)) if float(retry).is_integer() else str(retry)
            self._send(429, {"Description": "Too many requests"}, {"Retry-After": text})
            return
        if fault == "500":
            self._send(500, {"Description": "An unexpected error occurred"})
            return
        if fault == "slow":
            time.sleep(sandbox.faults.slow_seconds)
        if fault == "drop" and (method == "GET" or not sandbox.coin()):
            self.close_connection = True  # nothing was done and nothing is answered
            return
        if not sandbox.signed(
            self.headers.get("api-auth-id"), parts.query, self.headers.get("api-auth-signature")
        ):
            self._send(403, {"Description": "Forbidden: the request signature is not valid"})
            return
        try:
            body = orjson.loads(raw_body) if raw_body else {}
        except orjson.JSONDecodeError:
            self._send(400, {"Description": "The request body is not valid JSON", "Errors": []})
            return
        query = {k.lower(): v for k, v in parse_qsl(parts.query, keep_blank_values=True)}
        try:
            status, answer = _route(sandbox.data, method, parts.path, query, body)
        except RefusedError as refusal:
            status, answer = refusal.status, refusal.body()
        if fault == "drop":
            self.close_connection = True  # done, but the answer is lost on the way
            return
        self._send(status, answer)

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        content = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(content)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(content)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _page_args(query: dict[str, str], segment: str | None) -> tuple[int, int]:
    raw_size = query.get("pagesize", "200")
    if not raw_size.isdigit() or not 1 <= int(raw_size) <= 1000:
        raise RefusedError(400, "pageSize must be between 1 and 1000", "pageSize")
    return (int(segment) if segment else 1), int(raw_size)


def _route(
    data: UnleashedData, method: str, path: str, query: dict[str, str], body: Any
) -> tuple[int, Any]:
    segments = [s for s in path.split("/") if s]
    if not segments:
        raise RefusedError(404, "no such resource")
    resource, rest = segments[0].lower(), segments[1:]
    if not isinstance(body, dict):
        raise RefusedError(400, "the request body must be a JSON object")
    if resource == "salespersons":
        if method == "GET" and (not rest or _PAGE.match(rest[0])):
            page: Page = data.salespersons(*_page_args(query, rest[0] if rest else None))
            return 200, page.body()
        if method == "POST" and len(rest) == 1:
            return 201, data.save_salesperson(rest[0], body)
    if resource == "customers":
        if method == "GET" and (not rest or (len(rest) == 1 and _PAGE.match(rest[0]))):
            page = data.customers(*_page_args(query, rest[0] if rest else None), query)
            return 200, page.body()
        if len(rest) == 1:
            if method == "GET":
                found = data.customer(rest[0])
                if found is None:
                    raise RefusedError(404, f"customer {rest[0]} not found")
                return 200, found
            if method == "POST":
                return 201, data.save_customer(rest[0], body)
        if len(rest) >= 2 and rest[1].lower() == "contacts":
            customer = rest[0]
            if len(rest) == 2 and method == "GET":
                items = data.contacts(customer)
                return 200, Page(items, len(items), max(1, len(items)), 1).body()
            if len(rest) == 2 and method == "POST":
                return 201, data.save_contact(customer, None, body, creating=True)
            if len(rest) == 3 and method == "PUT":
                return 200, data.save_contact(customer, rest[2], body, creating=False)
            if len(rest) == 3 and method == "DELETE":
                data.delete_contact(customer, rest[2])
                return 200, {}
    raise RefusedError(404 if method == "GET" else 405, f"{method} {path} is not supported")
