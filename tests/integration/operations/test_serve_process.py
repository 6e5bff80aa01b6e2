"""``optline serve`` as it runs in production: granian's worker processes, their threads, saves
written in groups, and a clean stop on SIGTERM. Redis is left unreachable on purpose: rate limits
fail open and propagation waits in the outbox, so every save must still be answered and written.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.faults.services import ROOT, free_port
from tests.integration.preferences.conftest import ORIGIN, PROPERTY, SECRET, token

CONFIG = {
    "braze_connections": [
        {
            "code": "braze-main",
            "name": "Braze",
            "rest_endpoint": "https://rest.iad-01.braze.com",
            "api_key": "serve-test-key",
            "identity": "external_id",
            "sandbox": True,
        }
    ],
    "properties": [
        {
            "code": PROPERTY,
            "name": "Website",
            "allowed_origins": [ORIGIN],
            "signing_keys": [{"kid": "k1", "secret": SECRET}],
            "identity_capture": [{"source": "queue"}],
            "languages": ["en"],
        }
    ],
    "subscriptions": [
        {
            "code": "newsletter",
            "name": {"en": "Newsletter"},
            "channels": [
                {
                    "channel": "email",
                    "connection": "braze-main",
                    "subscription_group_id": "3b2c0000-0000-4000-8000-0000000000a1",
                }
            ],
        }
    ],
}


def optline(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "backend", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


def save(base: str, sub: str) -> tuple[int, dict[str, Any]]:
    body = {
        "property": PROPERTY,
        "changes": [{"subscription": "newsletter", "channel": "email", "state": "subscribed"}],
    }
    request = urllib.request.Request(
        base + "/api/public/v1/preferences",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {token(sub)}",
            "Content-Type": "application/json",
            "Origin": ORIGIN,
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture
def served(tmp_path: Path) -> Any:
    database = tmp_path / "optline.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTLINE_")}
    env.update(
        OPTLINE_DATABASE_URL=f"sqlite:///{database}",
        OPTLINE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        OPTLINE_INSTANCE_PATH=str(tmp_path / "instance"),
        OPTLINE_SECRET_KEY="serve-test-secret-key",
        OPTLINE_ENCRYPTION_KEY="serve-test-encryption-key",
        OPTLINE_LOG_LEVEL="WARNING",
    )
    optline(env, "db", "upgrade")
    (tmp_path / "optline.json").write_text(json.dumps(CONFIG))
    optline(env, "apply", str(tmp_path / "optline.json"))
    port = free_port()
    log = tmp_path / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "backend", "serve", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--threads", "4"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"),
        start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "optline serve did not answer /healthz"
            time.sleep(0.2)
        yield base, database, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_concurrent_saves_through_the_production_server_are_all_written(served: Any) -> None:
    base, database, process = served
    visitors = [f"serve-visitor-{n:03d}" for n in range(40)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda sub: save(base, sub), visitors))
    assert [status for status, _ in answers] == [200] * len(visitors)
    assert all(body["saved"] == 1 for _, body in answers)
    with sqlite3.connect(database) as conn:
        entries = conn.execute("SELECT count(*) FROM ledger_entries").fetchone()[0]
        people = conn.execute("SELECT count(*) FROM subjects").fetchone()[0]
        waiting = conn.execute(
            "SELECT count(*) FROM outbox_entries WHERE status = 'pending'"
        ).fetchone()
    assert (entries, people) == (40, 40)
    assert waiting[0] >= 40  # Redis is down: propagation waits for the sweeper, nothing is lost

    # A visitor from another site is refused by the same server.
    request = urllib.request.Request(
        base + "/api/public/v1/preferences", data=json.dumps({"property": PROPERTY}).encode(), method="POST",
        headers={"Origin": "https://elsewhere.example", "Content-Type": "application/json"},
    )  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403

    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(timeout=30) == 0
