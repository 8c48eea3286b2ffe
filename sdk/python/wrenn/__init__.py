"""Python SDK for Wrenn: sandboxes in microVMs, driven over REST and envd.

Quickstart::

    from wrenn import Sandbox

    with Sandbox.create() as sbx:
        print(sbx.commands.run("echo hi").stdout)

Sync classes (:class:`Sandbox`, :class:`Wrenn`) and async ones
(:class:`AsyncSandbox`, :class:`AsyncWrenn`) have the same methods.
"""

from wrenn import _models as models
from wrenn._async.client import AsyncWrenn
from wrenn._async.commands import AsyncCommandHandle, AsyncCommands
from wrenn._async.files import AsyncFilesystem, AsyncWatchHandle
from wrenn._async.pty import AsyncPty
from wrenn._async.sandbox import AsyncSandbox
from wrenn._config import Config, RetryPolicy, resolve_config
from wrenn._errors import (
    APIError,
    AuthenticationError,
    CommandExitError,
    ConfigError,
    ConflictError,
    ConnectionError,
    ForbiddenError,
    NotFoundError,
    PermissionDeniedError,
    PoolExhaustedError,
    RateLimitError,
    SandboxError,
    TimeoutError,
    ValidationError,
    WrennError,
)
from wrenn._sync.client import Wrenn
from wrenn._sync.commands import CommandHandle, Commands
from wrenn._sync.files import Filesystem, WatchHandle
from wrenn._sync.pty import Pty
from wrenn._sync.sandbox import Sandbox
from wrenn._types import (
    CommandResult,
    EntryInfo,
    FilesystemEvent,
    OutputEvent,
    ProcessInfo,
    PtyOutput,
    PtySize,
    Stderr,
    Stdout,
    WriteInfo,
)
from wrenn._usage import (
    Invoice,
    Plan,
    Pool,
    PoolAmounts,
    Usage,
    UsageEntry,
    UsageGroup,
    UsageInterval,
)
from wrenn._version import __version__

__all__ = [
    "APIError",
    "AsyncCommandHandle",
    "AsyncCommands",
    "AsyncFilesystem",
    "AsyncPty",
    "AsyncSandbox",
    "AsyncWatchHandle",
    "AsyncWrenn",
    "AuthenticationError",
    "CommandExitError",
    "CommandHandle",
    "CommandResult",
    "Commands",
    "Config",
    "ConfigError",
    "ConflictError",
    "ConnectionError",
    "EntryInfo",
    "Filesystem",
    "FilesystemEvent",
    "Invoice",
    "ForbiddenError",
    "NotFoundError",
    "OutputEvent",
    "PermissionDeniedError",
    "Plan",
    "Pool",
    "PoolAmounts",
    "PoolExhaustedError",
    "ProcessInfo",
    "Pty",
    "PtyOutput",
    "PtySize",
    "RateLimitError",
    "RetryPolicy",
    "Sandbox",
    "SandboxError",
    "Stderr",
    "Stdout",
    "TimeoutError",
    "Usage",
    "UsageEntry",
    "UsageGroup",
    "UsageInterval",
    "ValidationError",
    "WatchHandle",
    "WriteInfo",
    "Wrenn",
    "WrennError",
    "__version__",
    "models",
    "resolve_config",
]
