"""``sandbox.files``: read, write, list and watch files in the sandbox.

Reads and writes use envd's ``/files`` route with streamed bodies, so a
multi-GB file never sits in client memory; the rest uses envd's
``filesystem.Filesystem`` Connect service.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from datetime import datetime, timezone
from typing import IO, Any, Literal, overload

from wrenn import _errors
from wrenn._async._envd import AsyncEnvd
from wrenn._proto.filesystem import filesystem_pb2 as pb
from wrenn._types import EntryInfo, FilesystemEvent, FilesystemEventType, FileType, WriteInfo

CHUNK = 256 * 1024

WriteData = str | bytes | IO[bytes] | Iterable[bytes] | AsyncIterable[bytes]
"""What ``write`` takes: text, bytes, a binary file object or an iterator of chunks."""

_FILE_TYPES: dict[int, FileType] = {
    pb.FILE_TYPE_FILE: "file",
    pb.FILE_TYPE_DIRECTORY: "dir",
    pb.FILE_TYPE_SYMLINK: "symlink",
}
_EVENT_TYPES: dict[int, FilesystemEventType] = {
    pb.EVENT_TYPE_CREATE: "create",
    pb.EVENT_TYPE_WRITE: "write",
    pb.EVENT_TYPE_REMOVE: "remove",
    pb.EVENT_TYPE_RENAME: "rename",
    pb.EVENT_TYPE_CHMOD: "chmod",
}


def entry_info(e: pb.EntryInfo) -> EntryInfo:
    modified = None
    if e.HasField("modified_time"):
        modified = datetime.fromtimestamp(
            e.modified_time.seconds + e.modified_time.nanos / 1e9, tz=timezone.utc
        )
    return EntryInfo(
        name=e.name,
        path=e.path,
        type=_FILE_TYPES.get(e.type, "unknown"),
        size=e.size,
        mode=e.mode,
        permissions=e.permissions,
        owner=e.owner,
        group=e.group,
        modified_time=modified,
        symlink_target=e.symlink_target if e.HasField("symlink_target") else None,
        metadata=dict(e.metadata),
    )


async def _chunks(data: WriteData) -> AsyncIterator[bytes]:
    """Any accepted input as a stream of byte chunks."""
    if isinstance(data, str):
        yield data.encode()
    elif isinstance(data, (bytes, bytearray, memoryview)):
        yield bytes(data)
    elif hasattr(data, "read"):
        while True:
            chunk = data.read(CHUNK)
            if not chunk:
                return
            yield chunk
    elif isinstance(data, AsyncIterable):
        async for chunk in data:
            yield chunk
    else:
        for chunk in data:
            yield chunk


def _multipart(files: Sequence[tuple[str, WriteData]], boundary: str) -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        for path, data in files:
            name = path.replace('"', "%22")
            yield (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode()
            async for chunk in _chunks(data):
                yield chunk
            yield b"\r\n"
        yield f"--{boundary}--\r\n".encode()

    return gen()


def _body(data: WriteData) -> tuple[Any, bool]:
    """An httpx request body and whether it can be sent again on a retry."""
    if isinstance(data, str):
        return data.encode(), True
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data), True
    return _chunks(data), False


class AsyncWatchHandle:
    """A directory watch: ``async for event in handle``; :meth:`stop` ends it."""

    def __init__(self, stream: AsyncIterator[pb.WatchDirResponse]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[FilesystemEvent]:
        async for resp in self._stream:
            if resp.WhichOneof("event") != "filesystem":
                continue
            fs = resp.filesystem
            yield FilesystemEvent(
                name=fs.name,
                type=_EVENT_TYPES.get(fs.type, "unknown"),
                entry=entry_info(fs.entry) if fs.HasField("entry") else None,
            )

    async def stop(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


class AsyncFilesystem:
    """Files of a sandbox; ``user`` picks the guest user (default: envd's default user)."""

    def __init__(self, envd: AsyncEnvd) -> None:
        self._envd = envd

    def _params(self, path: str, user: str | None) -> dict[str, str]:
        params = {"path": path}
        if user:
            params["username"] = user
        return params

    @overload
    async def read(
        self, path: str, *, format: Literal["text"] = "text", user: str | None = None
    ) -> str: ...
    @overload
    async def read(
        self, path: str, *, format: Literal["bytes"], user: str | None = None
    ) -> bytes: ...
    @overload
    async def read(
        self, path: str, *, format: Literal["stream"], user: str | None = None
    ) -> AsyncIterator[bytes]: ...

    async def read(
        self,
        path: str,
        *,
        format: Literal["text", "bytes", "stream"] = "text",
        user: str | None = None,
    ) -> str | bytes | AsyncIterator[bytes]:
        """A file's content as text, bytes, or a stream of chunks (for big files)."""
        resp = await self._envd.files_get(self._params(path, user), user)
        if format == "stream":

            async def stream() -> AsyncIterator[bytes]:
                try:
                    async for chunk in resp.aiter_bytes():
                        yield chunk
                finally:
                    await resp.aclose()

            return stream()
        try:
            data = await resp.aread()
        finally:
            await resp.aclose()
        return data.decode() if format == "text" else data

    async def write(self, path: str, data: WriteData, *, user: str | None = None) -> WriteInfo:
        """Write one file (made with its parent folders), streaming ``data``."""
        body, replayable = _body(data)
        answer = await self._envd.files_post(
            self._params(path, user), body, "application/octet-stream", user, replayable
        )
        return _write_infos(answer)[0]

    async def write_files(
        self, files: Sequence[tuple[str, WriteData]], *, user: str | None = None
    ) -> builtins.list[WriteInfo]:
        """Write many files in one streamed multipart upload."""
        boundary = "wrenn-" + secrets.token_hex(16)
        params = {"username": user} if user else {}
        answer = await self._envd.files_post(
            params,
            _multipart(files, boundary),
            f"multipart/form-data; boundary={boundary}",
            user,
            False,
        )
        return _write_infos(answer)

    async def list(
        self, path: str, *, depth: int = 1, user: str | None = None
    ) -> builtins.list[EntryInfo]:
        """Entries of a folder (``depth`` levels down)."""
        resp = await self._envd.unary(
            "/filesystem.Filesystem/ListDir",
            pb.ListDirRequest(path=path, depth=depth),
            pb.ListDirResponse,
            user=user,
        )
        return [entry_info(e) for e in resp.entries]

    async def get_info(self, path: str, *, user: str | None = None) -> EntryInfo:
        """What is at ``path``; :class:`NotFoundError` when nothing."""
        resp = await self._envd.unary(
            "/filesystem.Filesystem/Stat", pb.StatRequest(path=path), pb.StatResponse, user=user
        )
        return entry_info(resp.entry)

    async def exists(self, path: str, *, user: str | None = None) -> bool:
        """Whether anything is at ``path``."""
        try:
            await self.get_info(path, user=user)
        except _errors.NotFoundError:
            return False
        return True

    async def make_dir(self, path: str, *, user: str | None = None) -> bool:
        """Make a folder and its parents; ``False`` when it already existed."""
        try:
            await self._envd.unary(
                "/filesystem.Filesystem/MakeDir",
                pb.MakeDirRequest(path=path),
                pb.MakeDirResponse,
                user=user,
            )
        except _errors.ConflictError:
            return False
        return True

    async def rename(self, old_path: str, new_path: str, *, user: str | None = None) -> EntryInfo:
        """Move or rename; returns the entry at its new path."""
        resp = await self._envd.unary(
            "/filesystem.Filesystem/Move",
            pb.MoveRequest(source=old_path, destination=new_path),
            pb.MoveResponse,
            user=user,
        )
        return entry_info(resp.entry)

    async def remove(self, path: str, *, user: str | None = None) -> None:
        """Remove a file or a folder with its content (nothing there is fine)."""
        await self._envd.unary(
            "/filesystem.Filesystem/Remove",
            pb.RemoveRequest(path=path),
            pb.RemoveResponse,
            user=user,
        )

    async def watch_dir(
        self, path: str, *, recursive: bool = False, user: str | None = None
    ) -> AsyncWatchHandle:
        """Watch a folder; iterate the handle for events, ``stop()`` to end."""
        stream = await self._envd.server_stream(
            "/filesystem.Filesystem/WatchDir",
            pb.WatchDirRequest(path=path, recursive=recursive, include_entry=True),
            pb.WatchDirResponse,
            user=user,
        )
        return AsyncWatchHandle(stream)


def _write_infos(answer: Any) -> builtins.list[WriteInfo]:
    if not isinstance(answer, list):
        raise _errors.WrennError(f"unexpected upload answer: {answer!r}")
    return [
        WriteInfo(
            path=str(a.get("path", "")),
            name=str(a.get("name", "")),
            type=str(a.get("type", "file")),
        )
        for a in answer
    ]
