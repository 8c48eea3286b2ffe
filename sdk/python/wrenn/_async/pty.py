"""``sandbox.pty``: interactive terminals (``/bin/bash -i -l`` in a PTY)."""

from __future__ import annotations

from collections.abc import Mapping

from wrenn._async._envd import AsyncEnvd
from wrenn._async.commands import (
    AsyncCommandHandle,
    OnBytes,
    _send_input,
    _signal,
    selector,
    start_process,
)
from wrenn._proto.process import process_pb2 as pb
from wrenn._types import PtySize


class AsyncPty:
    """Create and drive PTYs; output goes to ``on_data`` while you ``wait()`` or iterate."""

    def __init__(self, envd: AsyncEnvd) -> None:
        self._envd = envd

    async def create(
        self,
        size: PtySize | None = None,
        *,
        on_data: OnBytes | None = None,
        user: str | None = None,
        cwd: str | None = None,
        envs: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> AsyncCommandHandle:
        """Start a login shell in a new PTY; returns its handle (``pid``)."""
        size = size or PtySize()
        env = {"TERM": "xterm-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        env.update(envs or {})
        request = pb.StartRequest(
            process=pb.ProcessConfig(cmd="/bin/bash", args=["-i", "-l"], envs=env, cwd=cwd),
            pty=pb.PTY(size=pb.PTY.Size(cols=size.cols, rows=size.rows)),
        )
        return await start_process(self._envd, request, user=user, timeout=timeout, on_pty=on_data)

    async def send_input(self, pid: int, data: str | bytes) -> None:
        """Type into the PTY."""
        raw = data.encode() if isinstance(data, str) else data
        await _send_input(self._envd, pid, pb.ProcessInput(pty=raw))

    async def resize(self, pid: int, size: PtySize) -> None:
        """Change the PTY's size."""
        await self._envd.unary(
            "/process.Process/Update",
            pb.UpdateRequest(
                process=selector(pid),
                pty=pb.PTY(size=pb.PTY.Size(cols=size.cols, rows=size.rows)),
            ),
            pb.UpdateResponse,
        )

    async def kill(self, pid: int) -> bool:
        """SIGKILL the PTY's process; ``False`` when it was already gone."""
        return await _signal(self._envd, pid, pb.SIGNAL_SIGKILL)
