"""Plumbing shared by the preference-center benches: a fresh database (SQLite file or a new
PostgreSQL database), a Redis db of our own, the configuration applied with ``optline apply``, and
Optline's real processes (``optline serve``, ``optline worker``) started as subprocesses.

Nothing here writes outside a temporary folder, a PostgreSQL database it creates and drops, and
the Redis db it flushes (``BENCH_REDIS_DB``, ≥ 10).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import OctKey

ROOT = Path(__file__).resolve().parents[1]
PROPERTY = "bench-web"
ORIGIN = "https://www.bench.example"
SIGNING_SECRET = "bench-signing-secret-long-enough-0123456789abcdef"
BRAZE_KEY = "bench-braze-key"
ENCRYPTION_KEY = "bench-encryption-key"
SECRET_KEY = "bench-secret-key"
GROUPS: dict[tuple[str, str], str] = {
    ("newsletter", "email"): "3b2c0000-0000-4000-8000-0000000000a1",
    ("newsletter", "sms"): "7a1d0000-0000-4000-8000-0000000000a2",
    ("offers", "email"): "3b2c0000-0000-4000-8000-0000000000a3",
    ("offers", "push"): "7a1d0000-0000-4000-8000-0000000000a4",
    ("product", "email"): "3b2c0000-0000-4000-8000-0000000000a5",
}
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
BENCH_REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "13"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def document(
    rest_endpoint: str,
    *,
    sandbox: bool = False,
    budget_share: float | None = None,
    create_missing_users: bool | None = None,
) -> dict[str, Any]:
    """One property, three topics (five topic × channel choices), one Braze connection; a
    connection setting left as None keeps Optline's default."""
    channels: dict[str, list[dict[str, str]]] = {}
    for (topic, channel), group in GROUPS.items():
        channels.setdefault(topic, []).append(
            {"channel": channel, "connection": "braze-main", "subscription_group_id": group}
        )
    names = {"newsletter": "Newsletter", "offers": "Offers", "product": "Product news"}
    connection: dict[str, Any] = {
        "code": "braze-main",
        "name": "Braze (bench)",
        "rest_endpoint": rest_endpoint,
        "api_key": BRAZE_KEY,
        "identity": "external_id",
        "sandbox": sandbox,
    }
    if budget_share is not None:
        connection["budget_share"] = budget_share
    if create_missing_users is not None:
        connection["create_missing_users"] = create_missing_users
    return {
        "braze_connections": [connection],
        "properties": [
            {
                "code": PROPERTY,
                "name": "Bench website",
                "allowed_origins": [ORIGIN],
                "signing_keys": [{"kid": "k1", "secret": SIGNING_SECRET}],
                "identity_capture": [{"source": "queue"}],
                "languages": ["en", "es"],
            }
        ],
        "subscriptions": [
            {
                "code": code,
                "name": {"en": name, "es": name},
                "description": {"en": f"{name}, now and then"},
                "channels": channels[code],
            }
            for code, name in names.items()
        ],
    }


def mint_tokens(count: int, *, ttl: int = 3600, prefix: str = "visitor") -> list[tuple[str, str]]:
    """(external id, token) pairs signed the way a site's backend signs them (HS256)."""
    key = OctKey.import_key(SIGNING_SECRET.encode())
    now = int(time.time())
    header = {"alg": "HS256", "kid": "k1", "typ": "JWT"}
    out = []
    for index in range(count):
        sub = f"{prefix}-{index:06d}"
        claims = {"aud": PROPERTY, "sub": sub, "iat": now, "exp": now + ttl}
        out.append((sub, jwt.encode(header, claims, key)))
    return out


@dataclass
class Stack:
    """Where a bench's Optline lives: its environment, folder and database."""

    kind: str  # sqlite | postgresql
    workdir: Path
    database_url: str
    redis_url: str
    env: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def optline(self, *args: str, stdin: str | None = None, timeout: float = 120) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "backend", *args],
            cwd=ROOT, env=self.env, input=stdin, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"optline {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def apply(self, config: dict[str, Any]) -> None:
        path = self.workdir / "optline.json"
        path.write_text(json.dumps(config))
        self.optline("apply", str(path))

    def serve(self, *, workers: int, threads: int) -> str:
        """``optline serve`` on a free port; returns its base URL once /healthz answers."""
        port = free_port()
        log = open(self.workdir / "serve.log", "wb")  # noqa: SIM115 - lives with the process
        command = [sys.executable, "-m", "backend", "serve", "--bind", f"127.0.0.1:{port}",
                   "--workers", str(workers), "--threads", str(threads)]  # fmt: skip
        process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=log,
            start_new_session=True,
        )  # fmt: skip
        self.processes.append(process)
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/healthz", process)
        return base

    def worker(self, timeout: float = 60) -> subprocess.Popen[bytes]:
        """``optline worker``, once it has registered with Redis (it then listens at once)."""
        import redis

        log = open(self.workdir / "worker.log", "wb")  # noqa: SIM115 - lives with the process
        process = subprocess.Popen(
            [sys.executable, "-m", "backend", "worker"], cwd=ROOT, env=self.env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.processes.append(process)
        conn = redis.Redis.from_url(self.redis_url)
        deadline = time.monotonic() + timeout
        try:
            while not conn.scard("rq:workers"):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("optline worker did not start; see worker.log")
                time.sleep(0.2)
        finally:
            conn.close()
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        self.processes.clear()


def wait_http(
    url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def _flush_redis(url: str) -> None:
    import redis

    conn = redis.Redis.from_url(url)
    conn.flushdb()
    conn.close()


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file in ``workdir`` or a new PostgreSQL database
    (dropped afterwards)."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'optline.db'}"
        return
    import psycopg

    name = f"optline_bench_{uuid.uuid4().hex[:10]}"
    admin = POSTGRES_ADMIN_URL.rstrip("/") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES_ADMIN_URL.rstrip('/')}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def stack(
    kind: str, *, redis_db: int = BENCH_REDIS_DB, extra_env: dict[str, str] | None = None
) -> Iterator[Stack]:
    """A migrated database, a flushed Redis db and the environment ``optline`` runs with."""
    if redis_db < 10:
        raise ValueError("benches use Redis db 10 or above")
    with tempfile.TemporaryDirectory(prefix="optline-bench-") as tmp:
        workdir = Path(tmp)
        with database(kind, workdir) as url:
            redis_url = f"{REDIS_URL.rstrip('/')}/{redis_db}"
            _flush_redis(redis_url)
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("OPTLINE_")},
                "OPTLINE_ENV": "development",
                "OPTLINE_DATABASE_URL": url,
                "OPTLINE_REDIS_URL": redis_url,
                "OPTLINE_SECRET_KEY": SECRET_KEY,
                "OPTLINE_ENCRYPTION_KEY": ENCRYPTION_KEY,
                "OPTLINE_INSTANCE_PATH": str(workdir / "instance"),
                "OPTLINE_ALLOW_CUSTOM_BRAZE_ENDPOINTS": "true",
                "OPTLINE_LOG_LEVEL": "WARNING",
                **(extra_env or {}),
            }
            current = Stack(kind, workdir, url, redis_url, env)
            try:
                current.optline("db", "upgrade")
                yield current
            finally:
                current.stop()
                _flush_redis(redis_url)
