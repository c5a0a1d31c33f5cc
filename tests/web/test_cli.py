"""`accord user add`, `accord token create` and `accord serve`, run as real processes."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _accord(cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ACCORD_DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "accord", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_user_add_token_create_and_serve(tmp_path: Path) -> None:
    assert _accord(tmp_path, "init").returncode == 0
    added = _accord(tmp_path, "user", "add", "alice", "--role", "admin", stdin="a long secret\n")
    assert added.returncode == 0, added.stderr
    assert "a long secret" not in added.stdout + added.stderr
    refused = _accord(tmp_path, "user", "add", "bob", "--role", "owner", stdin="another secret\n")
    assert refused.returncode != 0 and "unknown role" in refused.stderr
    short = _accord(tmp_path, "user", "add", "carol", stdin="short\n")
    assert short.returncode != 0 and "at least 8" in short.stderr
    token = _accord(tmp_path, "token", "create", "--user", "alice", "--name", "till-1")
    assert token.returncode == 0, token.stderr
    secret = token.stdout.strip()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "ACCORD_DATABASE_URL"}
    server = subprocess.Popen(
        [sys.executable, "-m", "accord", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(
                    f"{base}/api/v1/me", headers={"Authorization": f"Bearer {secret}"}, timeout=5
                )
                break
            except httpx.TransportError:
                assert server.poll() is None, "accord serve exited"
                assert time.monotonic() < deadline, "accord serve did not answer in time"
                time.sleep(0.2)
        assert response.json() == {"name": "alice", "role": "admin"}
        with httpx.Client(base_url=base, timeout=10) as browser:
            form = browser.get("/login").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', form)
            assert token, form
            login = browser.post(
                "/login",
                data={"name": "alice", "password": "a long secret", "csrf_token": token.group(1)},
            )
        assert login.status_code == 303 and "accord_session" in login.cookies
    finally:
        server.terminate()
        server.wait(timeout=30)
