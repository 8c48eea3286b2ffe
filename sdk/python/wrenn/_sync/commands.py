# Generated from wrenn/_async by scripts/gen.py: do not edit.
"""``sandbox.commands``: run processes, stream their output, reconnect by pid."""

from __future__ import annotations

import builtins
import codecs
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Literal, overload

from wrenn import _errors
from wrenn._proto.process import process_pb2 as pb
from wrenn._sync._compat import maybe_await
from wrenn._sync._envd import Envd
from wrenn._types import CommandResult, OutputEvent, ProcessInfo, PtyOutput, Stderr, Stdout

OnText = Callable[[str], Awaitable[None] | None]
OnBytes = Callable[[bytes], Awaitable[None] | None]

_START = "/process.Process/Start"
_CONNECT = "/process.Process/Connect"
DEFAULT_TIMEOUT = 60.0


def selector(pid: int) -> pb.ProcessSelector:
    return pb.ProcessSelector(pid=pid)


class CommandHandle:
    """A running process: iterate its output, wait for it, send stdin, kill it.

    ``for event in handle`` yields :class:`Stdout`, :class:`Stderr` or
    :class:`PtyOutput`; :meth:`wait` reads the rest, calling the callbacks.
    """

    def __init__(
        self,
        pid: int,
        events: Iterator[pb.StartResponse | pb.ConnectResponse],
        envd: Envd,
        *,
        on_stdout: OnText | None = None,
        on_stderr: OnText | None = None,
        on_pty: OnBytes | None = None,
    ) -> None:
        self.pid = pid
        self._events = events
        self._envd = envd
        self._on_stdout = on_stdout
        self._on_stderr = on_stderr
        self._on_pty = on_pty
        self._out = codecs.getincrementaldecoder("utf-8")("replace")
        self._err = codecs.getincrementaldecoder("utf-8")("replace")
        self._stdout: list[str] = []
        self._stderr: list[str] = []
        self._result: CommandResult | None = None

    @property
    def stdout(self) -> str:
        """Standard output read so far."""
        return "".join(self._stdout)

    @property
    def stderr(self) -> str:
        """Standard error read so far."""
        return "".join(self._stderr)

    @property
    def result(self) -> CommandResult | None:
        """The outcome once the process has ended, else ``None``."""
        return self._result

    def _next(self) -> OutputEvent | None:
        """The next output event; ``None`` once the process has ended."""
        while self._result is None:
            try:
                resp = next(self._events)
            except StopIteration:
                raise _errors.ConnectionError(
                    "process stream closed before the process ended"
                ) from None
            ev = resp.event
            kind = ev.WhichOneof("event")
            if kind == "data":
                out = ev.data.WhichOneof("output")
                if out == "stdout":
                    text = self._out.decode(ev.data.stdout)
                    self._stdout.append(text)
                    return Stdout(text)
                if out == "stderr":
                    text = self._err.decode(ev.data.stderr)
                    self._stderr.append(text)
                    return Stderr(text)
                if out == "pty":
                    return PtyOutput(ev.data.pty)
            elif kind == "end":
                self._stdout.append(self._out.decode(b"", final=True))
                self._stderr.append(self._err.decode(b"", final=True))
                end = ev.end
                self._result = CommandResult(
                    stdout=self.stdout,
                    stderr=self.stderr,
                    exit_code=end.exit_code,
                    error=end.error if end.HasField("error") else None,
                )
                self._drain()
        return None

    def _drain(self) -> None:
        """Read the stream to its end-of-stream frame once the process has ended,
        so that its connection is reused rather than closed."""
        with contextlib.suppress(_errors.WrennError):
            for _ in self._events:
                pass

    def _dispatch(self, event: OutputEvent) -> None:
        if isinstance(event, Stdout) and self._on_stdout:
            maybe_await(self._on_stdout(event.data))
        elif isinstance(event, Stderr) and self._on_stderr:
            maybe_await(self._on_stderr(event.data))
        elif isinstance(event, PtyOutput) and self._on_pty:
            maybe_await(self._on_pty(event.data))

    def __iter__(self) -> Iterator[OutputEvent]:
        while True:
            event = self._next()
            if event is None:
                return
            yield event

    def wait(self, *, check: bool = True) -> CommandResult:
        """Read output until the process ends, calling the callbacks.

        Raises :class:`CommandExitError` on a non-zero exit unless ``check=False``.
        """
        while True:
            event = self._next()
            if event is None:
                break
            self._dispatch(event)
        assert self._result is not None
        if check and self._result.exit_code != 0:
            r = self._result
            raise _errors.CommandExitError(r.stdout, r.stderr, r.exit_code, r.error)
        return self._result

    def kill(self) -> bool:
        """SIGKILL the process; ``False`` when it was already gone."""
        return _signal(self._envd, self.pid, pb.SIGNAL_SIGKILL)

    def send_stdin(self, data: str | bytes) -> None:
        """Write to the process's stdin (start it with ``stdin=True``)."""
        _send_input(self._envd, self.pid, pb.ProcessInput(stdin=_bytes(data)))

    def close_stdin(self) -> None:
        """Close the process's stdin (end of input)."""
        self._envd.unary(
            "/process.Process/CloseStdin",
            pb.CloseStdinRequest(process=selector(self.pid)),
            pb.CloseStdinResponse,
        )

    def disconnect(self) -> None:
        """Stop reading; the process keeps running (reconnect with ``commands.connect``)."""
        close = getattr(self._events, "close", None)
        if close is not None:
            close()


def _bytes(data: str | bytes) -> bytes:
    return data.encode() if isinstance(data, str) else data


def _signal(envd: Envd, pid: int, signal: pb.Signal) -> bool:
    try:
        envd.unary(
            "/process.Process/SendSignal",
            pb.SendSignalRequest(process=selector(pid), signal=signal),
            pb.SendSignalResponse,
        )
    except _errors.NotFoundError:
        return False
    return True


def _send_input(envd: Envd, pid: int, data: pb.ProcessInput) -> None:
    envd.unary(
        "/process.Process/SendInput",
        pb.SendInputRequest(process=selector(pid), input=data),
        pb.SendInputResponse,
    )


def start_process(
    envd: Envd,
    request: pb.StartRequest,
    *,
    user: str | None,
    timeout: float | None,
    on_stdout: OnText | None = None,
    on_stderr: OnText | None = None,
    on_pty: OnBytes | None = None,
) -> CommandHandle:
    """Start a process and read its ``start`` event (its pid)."""
    stream = envd.server_stream(_START, request, pb.StartResponse, user=user, timeout=timeout)
    pid = _first_pid(stream)
    return CommandHandle(pid, stream, envd, on_stdout=on_stdout, on_stderr=on_stderr, on_pty=on_pty)


def _first_pid(
    stream: Iterator[pb.StartResponse | pb.ConnectResponse],
) -> int:
    for resp in stream:
        kind = resp.event.WhichOneof("event")
        if kind == "start":
            return resp.event.start.pid
        if kind != "keepalive":
            break
    raise _errors.WrennError("envd sent no start event")


class Commands:
    """Run and manage processes in a sandbox."""

    def __init__(self, envd: Envd) -> None:
        self._envd = envd

    @overload
    def run(
        self,
        cmd: str,
        *,
        background: Literal[False] = False,
        envs: Mapping[str, str] | None = None,
        user: str | None = None,
        cwd: str | None = None,
        on_stdout: OnText | None = None,
        on_stderr: OnText | None = None,
        stdin: bool = False,
        timeout: float | None = DEFAULT_TIMEOUT,
        check: bool = True,
    ) -> CommandResult: ...

    @overload
    def run(
        self,
        cmd: str,
        *,
        background: Literal[True],
        envs: Mapping[str, str] | None = None,
        user: str | None = None,
        cwd: str | None = None,
        on_stdout: OnText | None = None,
        on_stderr: OnText | None = None,
        stdin: bool = False,
        timeout: float | None = DEFAULT_TIMEOUT,
        check: bool = True,
    ) -> CommandHandle: ...

    def run(
        self,
        cmd: str,
        *,
        background: bool = False,
        envs: Mapping[str, str] | None = None,
        user: str | None = None,
        cwd: str | None = None,
        on_stdout: OnText | None = None,
        on_stderr: OnText | None = None,
        stdin: bool = False,
        timeout: float | None = DEFAULT_TIMEOUT,
        check: bool = True,
    ) -> CommandResult | CommandHandle:
        """Run ``cmd`` with ``/bin/bash -l -c``.

        In the foreground (default) it returns the :class:`CommandResult` and
        raises :class:`CommandExitError` on a non-zero exit unless
        ``check=False``. With ``background=True`` it returns a handle as soon
        as the process has started. ``timeout`` (seconds, ``None`` for none)
        bounds the whole command.
        """
        request = pb.StartRequest(
            process=pb.ProcessConfig(
                cmd="/bin/bash", args=["-l", "-c", cmd], envs=dict(envs or {}), cwd=cwd
            ),
        )
        if stdin:
            request.stdin = True
        handle = start_process(
            self._envd,
            request,
            user=user,
            timeout=timeout,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
        )
        if background:
            return handle
        return handle.wait(check=check)

    def connect(
        self,
        pid: int,
        *,
        on_stdout: OnText | None = None,
        on_stderr: OnText | None = None,
        timeout: float | None = None,
    ) -> CommandHandle:
        """Attach to a running process by pid (output from now on)."""
        stream = self._envd.server_stream(
            _CONNECT,
            pb.ConnectRequest(process=selector(pid)),
            pb.ConnectResponse,
            timeout=timeout,
        )
        got = _first_pid(stream)
        return CommandHandle(got, stream, self._envd, on_stdout=on_stdout, on_stderr=on_stderr)

    def list(self) -> builtins.list[ProcessInfo]:
        """The processes envd runs."""
        resp = self._envd.unary("/process.Process/List", pb.ListRequest(), pb.ListResponse)
        return [
            ProcessInfo(
                pid=p.pid,
                tag=p.tag if p.HasField("tag") else None,
                cmd=p.config.cmd,
                args=list(p.config.args),
                envs=dict(p.config.envs),
                cwd=p.config.cwd if p.config.HasField("cwd") else None,
            )
            for p in resp.processes
        ]

    def kill(self, pid: int) -> bool:
        """SIGKILL a process; ``False`` when there was none with that pid."""
        return _signal(self._envd, pid, pb.SIGNAL_SIGKILL)

    def send_stdin(self, pid: int, data: str | bytes) -> None:
        """Write to a process's stdin."""
        _send_input(self._envd, pid, pb.ProcessInput(stdin=_bytes(data)))

    def close_stdin(self, pid: int) -> None:
        """Close a process's stdin."""
        self._envd.unary(
            "/process.Process/CloseStdin",
            pb.CloseStdinRequest(process=selector(pid)),
            pb.CloseStdinResponse,
        )
