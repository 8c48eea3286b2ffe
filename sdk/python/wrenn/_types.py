"""Plain result and event types shared by the sync and async APIs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal


@dataclass(frozen=True)
class CommandResult:
    """What a finished command left: its output and exit code."""

    stdout: str
    stderr: str
    exit_code: int
    error: str | None = None


@dataclass(frozen=True)
class Stdout:
    """A piece of a command's standard output."""

    data: str


@dataclass(frozen=True)
class Stderr:
    """A piece of a command's standard error."""

    data: str


@dataclass(frozen=True)
class PtyOutput:
    """Bytes a PTY wrote (terminal output, escape sequences included)."""

    data: bytes


OutputEvent = Stdout | Stderr | PtyOutput


@dataclass(frozen=True)
class ProcessInfo:
    """A process envd runs."""

    pid: int
    tag: str | None
    cmd: str
    args: list[str]
    envs: dict[str, str]
    cwd: str | None


@dataclass(frozen=True)
class PtySize:
    """A terminal's size in characters."""

    cols: int = 80
    rows: int = 24


FileType = Literal["file", "dir", "symlink", "unknown"]


@dataclass(frozen=True)
class EntryInfo:
    """A file system entry in the sandbox."""

    name: str
    path: str
    type: FileType
    size: int
    mode: int
    permissions: str
    owner: str
    group: str
    modified_time: datetime | None
    symlink_target: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WriteInfo:
    """A file written by an upload."""

    path: str
    name: str
    type: str = "file"


FilesystemEventType = Literal["create", "write", "remove", "rename", "chmod", "unknown"]


@dataclass(frozen=True)
class FilesystemEvent:
    """A change seen by a directory watch; ``name`` is relative to the watched folder."""

    name: str
    type: FilesystemEventType
    entry: EntryInfo | None = None
