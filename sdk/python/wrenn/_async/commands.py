"""``sandbox.commands``: run processes, stream their output, reconnect by pid."""

from __future__ import annotations

import builtins
import codecs
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Literal, overload

from wrenn import _errors
from wrenn._async._compat import maybe_await
from wrenn._async._envd import AsyncEnvd
from wrenn._proto.process import process_pb2 as pb
from wrenn._types import CommandResult, OutputEvent, ProcessInfo, PtyOutput, Stderr, Stdout

OnText = Callable[[str], Awaitable[None] | None]
OnBytes = Callable[[bytes], Awaitable[None] | None]

_START = "/process.Process/Start"
_CONNECT = "/process.Process/Connect"
DEFAULT_TIMEOUT = 60.0


def selector(pid: int) -> pb.ProcessSelector:
    return pb.ProcessSelector(pid=pid)


class AsyncCommandHandle:
    """A running process: iterate its output, wait for it, send stdin, kill it.

    ``async for event in handle`` yields :class:`Stdout`, :class:`Stderr` or
    :class:`PtyOutput`; :meth:`wait` reads the rest, calling the callbacks.
    """

    def __init__(
        self,
        pid: int,
        events: AsyncIterator[pb.StartResponse | pb.ConnectResponse],
        envd: AsyncEnvd,
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

    async def _next(self) -> OutputEvent | None:
        """The next output event; ``None`` once the process has ended."""
        while self._result is None:
            try:
                resp = await anext(self._events)
            except StopAsyncIteration:
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
                await self._drain()
        return None

    async def _drain(self) -> None:
        """Read the stream to its end-of-stream frame once the process has ended,
        so that its connection is reused rather than closed."""
        with contextlib.suppress(_errors.WrennError):
            async for _ in self._events:
                pass

    async def _dispatch(self, event: OutputEvent) -> None:
        if isinstance(event, Stdout) and self._on_stdout:
            await maybe_await(self._on_stdout(event.data))
        elif isinstance(event, Stderr) and self._on_stderr:
            await maybe_await(self._on_stderr(event.data))
        elif isinstance(event, PtyOutput) and self._on_pty:
            await maybe_await(self._on_pty(event.data))

    async def __aiter__(self) -> AsyncIterator[OutputEvent]:
        while True:
            event = await self._next()
            if event is None:
                return
            yield event

    async def wait(self, *, check: bool = True) -> CommandResult:
        """Read output until the process ends, calling the callbacks.

        Raises :class:`CommandExitError` on a non-zero exit unless ``check=False``.
        """
        while True:
            event = await self._next()
            if event is None:
                break
            await self._dispatch(event)
        assert self._result is not None
        if check and self._result.exit_code != 0:
            r = self._result
            raise _errors.CommandExitError(r.stdout, r.stderr, r.exit_code, r.error)
        return self._result

    async def kill(self) -> bool:
        """SIGKILL the process; ``False`` when it was already gone."""
        return await _signal(self._envd, self.pid, pb.SIGNAL_SIGKILL)

    async def send_stdin(self, data: str | bytes) -> None:
        """Write to the process's stdin (start it with ``stdin=True``)."""
        await _send_input(self._envd, self.pid, pb.ProcessInput(stdin=_bytes(data)))

    async def close_stdin(self) -> None:
        """Close the process's stdin (end of input)."""
        await self._envd.unary(
            "/process.Process/CloseStdin",
            pb.CloseStdinRequest(process=selector(self.pid)),
            pb.CloseStdinResponse,
        )

    async def disconnect(self) -> None:
        """Stop reading; the process keeps running (reconnect with ``commands.connect``)."""
        close = getattr(self._events, "aclose", None)
        if close is not None:
            await close()


def _bytes(data: str | bytes) -> bytes:
    return data.encode() if isinstance(data, str) else data


async def _signal(envd: AsyncEnvd, pid: int, signal: pb.Signal) -> bool:
    try:
        await envd.unary(
            "/process.Process/SendSignal",
            pb.SendSignalRequest(process=selector(pid), signal=signal),
            pb.SendSignalResponse,
        )
    except _errors.NotFoundError:
        return False
    return True


async def _send_input(envd: AsyncEnvd, pid: int, data: pb.ProcessInput) -> None:
    await envd.unary(
        "/process.Process/SendInput",
        pb.SendInputRequest(process=selector(pid), input=data),
        pb.SendInputResponse,
    )


async def start_process(
    envd: AsyncEnvd,
    request: pb.StartRequest,
    *,
    user: str | None,
    timeout: float | None,
    on_stdout: OnText | None = None,
    on_stderr: OnText | None = None,
    on_pty: OnBytes | None = None,
) -> AsyncCommandHandle:
    """Start a process and read its ``start`` event (its pid)."""
    stream = await envd.server_stream(_START, request, pb.StartResponse, user=user, timeout=timeout)
    pid = await _first_pid(stream)
    return AsyncCommandHandle(
        pid, stream, envd, on_stdout=on_stdout, on_stderr=on_stderr, on_pty=on_pty
    )


async def _first_pid(
    stream: AsyncIterator[pb.StartResponse | pb.ConnectResponse],
) -> int:
    async for resp in stream:
        kind = resp.event.WhichOneof("event")
        if kind == "start":
            return resp.event.start.pid
        if kind != "keepalive":
            break
    raise _errors.WrennError("envd sent no start event")


class AsyncCommands:
    """Run and manage processes in a sandbox."""

    def __init__(self, envd: AsyncEnvd) -> None:
        self._envd = envd

    @overload
    async def run(
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
    async def run(
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
    ) -> AsyncCommandHandle: ...

    async def run(
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
    ) -> CommandResult | AsyncCommandHandle:
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
        handle = await start_process(
            self._envd,
            request,
            user=user,
            timeout=timeout,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
        )
        if background:
            return handle
        return await handle.wait(check=check)

    async def connect(
        self,
        pid: int,
        *,
        on_stdout: OnText | None = None,
        on_stderr: OnText | None = None,
        timeout: float | None = None,
    ) -> AsyncCommandHandle:
        """Attach to a running process by pid (output from now on)."""
        stream = await self._envd.server_stream(
            _CONNECT,
            pb.ConnectRequest(process=selector(pid)),
            pb.ConnectResponse,
            timeout=timeout,
        )
        got = await _first_pid(stream)
        return AsyncCommandHandle(got, stream, self._envd, on_stdout=on_stdout, on_stderr=on_stderr)

    async def list(self) -> builtins.list[ProcessInfo]:
        """The processes envd runs."""
        resp = await self._envd.unary("/process.Process/List", pb.ListRequest(), pb.ListResponse)
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

    async def kill(self, pid: int) -> bool:
        """SIGKILL a process; ``False`` when there was none with that pid."""
        return await _signal(self._envd, pid, pb.SIGNAL_SIGKILL)

    async def send_stdin(self, pid: int, data: str | bytes) -> None:
        """Write to a process's stdin."""
        await _send_input(self._envd, pid, pb.ProcessInput(stdin=_bytes(data)))

    async def close_stdin(self, pid: int) -> None:
        """Close a process's stdin."""
        await self._envd.unary(
            "/process.Process/CloseStdin",
            pb.CloseStdinRequest(process=selector(pid)),
            pb.CloseStdinResponse,
        )
