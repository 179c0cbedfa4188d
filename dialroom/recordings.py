"""Where call recordings are kept: a folder (RECORDINGS_DIR, the default) or S3-compatible
storage (RECORDINGS_URL=s3://bucket/prefix, through boto3).

The worker puts a finished call's file, the API streams it (byte ranges, so a player can
seek) and erases it with the call, the dispatcher's archiver prunes it after RETENTION_DAYS.
A recording's key is its call id (`<call_id>.ogg`): erasing a call needs no lookup, and a
file whose call record was lost is still found by age and pruned.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from dialroom.settings import CommonSettings

MEDIA_TYPE = "audio/ogg"
CHUNK = 64 * 1024
_CALL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class RecordingRef(BaseModel):
    """A call's recording, as its record names it."""

    model_config = ConfigDict(frozen=True)
    key: str  # in the store: `<call_id>.ogg`
    format: Literal["ogg/opus"] = "ogg/opus"
    channels: tuple[str, str] = ("caller", "agent")  # left, right
    duration_s: float
    size_bytes: int


class RecordingStore(Protocol):
    async def put(self, key: str, source: Path) -> None: ...
    async def size(self, key: str) -> int | None: ...
    def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]: ...
    async def delete(self, key: str) -> bool: ...
    async def prune(self, *, older_than: float) -> int: ...


def key_for(call_id: str) -> str:
    """The one name a call's recording has; a call id that could leave the store is refused."""
    if not _CALL_ID.match(call_id):
        raise ValueError(f"not a call id: {call_id!r}")
    return f"{call_id}.ogg"


class LocalRecordings:
    """Recordings as files of one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / key_for(key.removesuffix(".ogg"))

    async def put(self, key: str, source: Path) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        await asyncio.to_thread(shutil.copyfile, source, partial)
        partial.replace(target)  # a reader never sees half a file

    async def size(self, key: str) -> int | None:
        path = self.path(key)
        return path.stat().st_size if path.is_file() else None

    async def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        with self.path(key).open("rb") as f:
            f.seek(start)
            left = end - start + 1
            while left > 0 and (chunk := f.read(min(CHUNK, left))):
                left -= len(chunk)
                yield chunk

    async def delete(self, key: str) -> bool:
        path = self.path(key)
        existed = path.is_file()
        path.unlink(missing_ok=True)
        return existed

    async def prune(self, *, older_than: float) -> int:
        if not self.root.is_dir():
            return 0
        files = [*self.root.glob("*.ogg"), *self.root.glob("*.part")]  # .part: a copy cut short
        old = [p for p in files if p.stat().st_mtime < older_than]
        for path in old:
            path.unlink(missing_ok=True)
        return len(old)


class S3Recordings:
    """Recordings as objects under one prefix of an S3-compatible bucket. boto3 blocks, so
    each request runs in a thread."""

    def __init__(self, client: Any, *, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def object_key(self, key: str) -> str:
        name = key_for(key.removesuffix(".ogg"))
        return f"{self.prefix}/{name}" if self.prefix else name

    async def put(self, key: str, source: Path) -> None:
        extra = {"ContentType": MEDIA_TYPE}
        await asyncio.to_thread(
            self.client.upload_file, str(source), self.bucket, self.object_key(key), extra
        )

    async def size(self, key: str) -> int | None:
        try:
            head = await asyncio.to_thread(
                self.client.head_object, Bucket=self.bucket, Key=self.object_key(key)
            )
        except self.client.exceptions.ClientError as err:
            if _status(err) == 404:
                return None
            raise
        return int(head["ContentLength"])

    async def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        got = await asyncio.to_thread(
            self.client.get_object,
            Bucket=self.bucket,
            Key=self.object_key(key),
            Range=f"bytes={start}-{end}",
        )
        body = got["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, CHUNK):
                yield chunk
        finally:
            body.close()

    async def delete(self, key: str) -> bool:
        existed = await self.size(key) is not None
        await asyncio.to_thread(
            self.client.delete_object, Bucket=self.bucket, Key=self.object_key(key)
        )
        return existed

    async def prune(self, *, older_than: float) -> int:
        return await asyncio.to_thread(self._prune, older_than)

    def _prune(self, older_than: float) -> int:
        prefix = f"{self.prefix}/" if self.prefix else ""
        gone = 0
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            old = [
                {"Key": item["Key"]}
                for item in page.get("Contents", [])
                if item["Key"].endswith(".ogg") and item["LastModified"].timestamp() < older_than
            ]
            if old:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": old})
                gone += len(old)
        return gone


def _status(err: Any) -> int:
    return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def open_recordings(settings: CommonSettings) -> LocalRecordings | S3Recordings:
    """The store the settings name: RECORDINGS_URL when set, else RECORDINGS_DIR."""
    if not settings.recordings_url:
        return LocalRecordings(settings.recordings_dir)
    url = urlparse(settings.recordings_url)
    if url.scheme != "s3" or not url.netloc:
        raise ValueError(f"RECORDINGS_URL must be s3://bucket[/prefix]: {settings.recordings_url}")
    import boto3  # only where recordings go to S3

    client = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url or None,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id or None,
        aws_secret_access_key=settings.s3_secret_access_key or None,
    )
    return S3Recordings(client, bucket=url.netloc, prefix=url.path)
