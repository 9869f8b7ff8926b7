"""Where attachment bytes live, behind one small interface.

A key is a random id the service makes (`new_key`), never anything a client sent, so no name
can reach outside the store. `LocalStorage` keeps files under one folder that no web server
serves; an S3-compatible store implements the same three calls.
"""

import os
import secrets
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Protocol

import anyio

CHUNK_BYTES = 64 * 1024
_KEY_CHARS = frozenset("0123456789abcdef")


def new_key() -> str:
    return secrets.token_hex(20)


def _checked(key: str) -> str:
    if len(key) != 40 or not set(key) <= _KEY_CHARS:
        raise ValueError("not a storage key")
    return key


class Storage(Protocol):
    async def put(self, key: str, source: IO[bytes]) -> None:
        """Store the whole of `source` (read from its start) under `key`."""

    async def open(self, key: str) -> AsyncIterator[bytes]:
        """The stored bytes, in chunks; FileNotFoundError (raised here, before any chunk)
        when there are none."""

    async def delete(self, key: str) -> None:
        """Forget `key`; nothing happens when it is not there."""


class LocalStorage:
    """Files under `root`/<2 hex>/<key>, written to a temporary name then renamed."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        key = _checked(key)
        return self.root / key[:2] / key

    async def put(self, key: str, source: IO[bytes]) -> None:
        await anyio.to_thread.run_sync(self._put, self._path(key), source)

    @staticmethod
    def _put(path: Path, source: IO[bytes]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        source.seek(0)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(CHUNK_BYTES):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    async def open(self, key: str) -> AsyncIterator[bytes]:
        handle = await anyio.open_file(self._path(key), "rb")

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while chunk := await handle.read(CHUNK_BYTES):
                    yield chunk
            finally:
                await handle.aclose()

        return chunks()

    async def delete(self, key: str) -> None:
        await anyio.Path(self._path(key)).unlink(missing_ok=True)
