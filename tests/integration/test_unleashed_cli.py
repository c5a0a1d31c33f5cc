"""`accord sandbox unleashed`, `accord push contact` and `accord nightly` as real processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.service.records import create_record
from accord.store import HubStore, links

API_ID, API_KEY = "5b0e8f1a-2c3d-4e5f-8a9b-0c1d2e3f4a5b", "cli-secret-key-123"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ACCORD_DATABASE_URL"}
    env.update(COLUMNS="200", UNLEASHED_API_KEY=API_KEY)
    return env


def accord(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "accord", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )


@pytest.fixture
def sandbox_url(tmp_path: Path) -> Iterator[str]:
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "accord", "sandbox", "unleashed", "--port", "0"),
            *("--api-id", API_ID, "--customers", "10", "--contacts", "20"),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C" in "".join(lines):
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(60), "".join(lines)
        said = "".join(lines)
        assert API_KEY not in said  # the key is never printed
        match = re.search(r"http://127\.0\.0\.1:\d+", said)
        assert match and "10 customers" in said
        yield match.group(0)
    finally:
        process.terminate()
        process.wait(timeout=30)
        reader.join(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def test_push_contact_and_nightly_against_the_sandbox_process(
    tmp_path: Path, sandbox_url: str
) -> None:
    hub_url = f"sqlite:///{tmp_path / 'hub.db'}"
    (tmp_path / "accord.toml").write_text(
        f'[hub]\ndatabase = "{hub_url}"\ndatabase_env = ""\n\n'
        "[systems.unleashed]\n"
        'kind = "unleashed"\npreset = "crm-unleashed"\n'
        f'url = "{sandbox_url}"\nsync = "two-way"\n'
        f'options = {{ api_id = "{API_ID}", nightly_account_manager_fix = true }}\n'
        'secrets_env = { api_key = "UNLEASHED_API_KEY" }\n'
    )
    synced = accord(tmp_path, "sync")
    assert synced.returncode == 0, synced.stderr
    store = HubStore(hub_url)
    try:
        with store.transaction() as conn:
            company = next(iter(links.external_ids(conn, "unleashed", "company")))[1]
        contact = create_record(
            store, "person", {"kind": "contact", "company": company, "first_name": "Cli"}
        )
        loose = create_record(store, "company", {"code": "LOOSE", "name": "Loose Ltd"})
        orphan = create_record(
            store, "person", {"kind": "contact", "company": loose, "first_name": "Nope"}
        )
    finally:
        store.close()

    pushed = accord(tmp_path, "push", "contact", str(contact))
    assert pushed.returncode == 0, pushed.stderr
    assert f"contact {contact} in unleashed: synced" in pushed.stdout
    assert "Unleashed contact" in pushed.stdout
    refused = accord(tmp_path, "push", "contact", str(orphan))
    assert refused.returncode == 2 and "not linked to an Unleashed customer" in refused.stderr

    nightly = accord(tmp_path, "nightly", "unleashed")
    assert nightly.returncode == 0, nightly.stderr
    assert "fix_account_managers: checked 10 companies, set 0 account managers" in nightly.stdout
    for result in (synced, pushed, refused, nightly):
        assert API_KEY not in result.stdout + result.stderr
