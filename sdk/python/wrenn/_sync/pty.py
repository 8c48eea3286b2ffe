# Generated from wrenn/_async by scripts/gen.py: do not edit.
"""``sandbox.pty``: interactive terminals (``/bin/bash -i -l`` in a PTY)."""

from __future__ import annotations

from collections.abc import Mapping

from wrenn._proto.process import process_pb2 as pb
from wrenn._sync._envd import Envd
from wrenn._sync.commands import (
    CommandHandle,
    OnBytes,
    _send_input,
    _signal,
    selector,
    start_process,
)
from wrenn._types import PtySize


class Pty:
    """Create and drive PTYs; output goes to ``on_data`` while you ``wait()`` or iterate."""

    def __init__(self, envd: Envd) -> None:
        self._envd = envd

    def create(
        self,
        size: PtySize | None = None,
        *,
        on_data: OnBytes | None = None,
        user: str | None = None,
        cwd: str | None = None,
        envs: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> CommandHandle:
        """Start a login shell in a new PTY; returns its handle (``pid``)."""
        size = size or PtySize()
        env = {"TERM": "xterm-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        env.update(envs or {})
        request = pb.StartRequest(
            process=pb.ProcessConfig(cmd="/bin/bash", args=["-i", "-l"], envs=env, cwd=cwd),
            pty=pb.PTY(size=pb.PTY.Size(cols=size.cols, rows=size.rows)),
        )
        return start_process(self._envd, request, user=user, timeout=timeout, on_pty=on_data)

    def send_input(self, pid: int, data: str | bytes) -> None:
        """Type into the PTY."""
        raw = data.encode() if isinstance(data, str) else data
        _send_input(self._envd, pid, pb.ProcessInput(pty=raw))

    def resize(self, pid: int, size: PtySize) -> None:
        """Change the PTY's size."""
        self._envd.unary(
            "/process.Process/Update",
            pb.UpdateRequest(
                process=selector(pid),
                pty=pb.PTY(size=pb.PTY.Size(cols=size.cols, rows=size.rows)),
            ),
            pb.UpdateResponse,
        )

    def kill(self, pid: int) -> bool:
        """SIGKILL the PTY's process; ``False`` when it was already gone."""
        return _signal(self._envd, pid, pb.SIGNAL_SIGKILL)
