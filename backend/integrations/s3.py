"""S3 (and S3-compatible stores) for profile sync: Braze's segment exports in, CDI files out.

Objects are streamed: a gzip export file is decompressed and split into lines as it is read,
never held whole. botocore failures leave this module as RetryableError (throttling, 5xx,
timeouts, connection errors) or PermanentError (missing bucket or key, bad credentials).
"""

from __future__ import annotations

import gzip
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from backend.domain.errors import IntegrationError, PermanentError, RetryableError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from backend.db.models import BrazeConnection
    from backend.integrations.secret_box import SecretBox

log = logging.getLogger(__name__)

RETRYABLE_CODES = frozenset(
    {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "Throttling",
     "RequestTimeTooSkewed", "OperationAborted"}
)  # fmt: skip
READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime | None = None


def translate(exc: Exception, what: str) -> IntegrationError:
    """A botocore failure as our own error, with a message an admin can act on."""
    if isinstance(exc, NoCredentialsError):
        return PermanentError(f"S3 {what}: no credentials configured")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in RETRYABLE_CODES or status >= 500 or status == 429:
            return RetryableError(f"S3 {what} failed ({code or status}), will retry", status=status)
        return PermanentError(
            f"S3 {what} failed: {code or status} {error.get('Message', '')}".strip(), status=status
        )
    if isinstance(exc, BotoCoreError | OSError | EOFError):
        return RetryableError(f"S3 {what} failed ({type(exc).__name__})")
    raise exc


class _RawBody(io.RawIOBase):
    """A botocore StreamingBody as a raw stream, so io.BufferedReader can split its lines."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class S3ObjectStore:
    """One bucket: list keys under a prefix, stream lines out of objects, put objects."""

    def __init__(
        self,
        bucket: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        client: S3Client | None = None,
    ) -> None:
        self.bucket = bucket
        if client is None:
            config = Config(
                retries={"mode": "standard", "max_attempts": 4},
                connect_timeout=5,
                read_timeout=60,
                s3={"addressing_style": "path"} if endpoint_url else {},
            )
            client = boto3.session.Session().client(
                "s3",
                region_name=region or "us-east-1",
                endpoint_url=endpoint_url or None,
                aws_access_key_id=access_key_id or None,
                aws_secret_access_key=secret_access_key or None,
                config=config,
            )
        self.client = client

    def __repr__(self) -> str:
        return f"S3ObjectStore(bucket={self.bucket!r})"

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object under ``prefix``, in key order."""
        found: list[ObjectInfo] = []
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    found.append(
                        ObjectInfo(
                            key=item["Key"],
                            size=int(item.get("Size", 0)),
                            last_modified=item.get("LastModified"),
                        )
                    )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, f"list {self.bucket}/{prefix}") from exc
        return sorted(found, key=lambda o: o.key)

    def iter_lines(self, key: str) -> Iterator[bytes]:
        """The object's lines, gunzipped on the fly when the key ends in ``.gz``."""
        try:
            body: Any = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, f"get {self.bucket}/{key}") from exc
        stream: gzip.GzipFile | io.BufferedReader = (
            gzip.GzipFile(fileobj=body, mode="rb")
            if key.endswith(".gz")
            else io.BufferedReader(_RawBody(body), READ_CHUNK)
        )
        try:
            while True:
                try:
                    line = stream.readline()
                except (BotoCoreError, OSError, EOFError) as exc:
                    raise translate(exc, f"read {self.bucket}/{key}") from exc
                if not line:
                    return
                yield line
        finally:
            stream.close()
            body.close()

    def get(self, key: str) -> bytes:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            return body.read()
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, f"get {self.bucket}/{key}") from exc

    def put(
        self, key: str, data: bytes | IO[bytes], *, content_type: str = "application/octet-stream"
    ) -> None:
        """Write an object whole; a file object is streamed (multipart when large)."""
        try:
            if isinstance(data, bytes):
                self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
                )
            else:
                self.client.upload_fileobj(
                    data, self.bucket, key, ExtraArgs={"ContentType": content_type}
                )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, f"put {self.bucket}/{key}") from exc


def store_for_connection(connection: BrazeConnection, secrets: SecretBox) -> S3ObjectStore:
    """The bucket a Braze connection's ``s3`` block names, with its secret decrypted."""
    if not connection.s3_bucket:
        raise PermanentError(f"Braze connection {connection.code!r} has no S3 bucket configured")
    secret = (
        secrets.decrypt(connection.s3_secret_access_key_encrypted)
        if connection.s3_secret_access_key_encrypted
        else None
    )
    return S3ObjectStore(
        connection.s3_bucket,
        region=connection.s3_region,
        endpoint_url=connection.s3_endpoint_url,
        access_key_id=connection.s3_access_key_id,
        secret_access_key=secret,
    )
