"""The data plane against a local fake envd: Connect framing, headers, errors."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json

import pytest

import wrenn
from wrenn._connect import EnvelopeDecoder, envelope
from wrenn._proto.filesystem import filesystem_pb2 as fs
from wrenn._proto.process import process_pb2 as pb
from wrenn._signing import file_signature

from .conftest import Reply, ScriptServer, Seen
from .test_retry import SANDBOX


def ev(**kw: object) -> bytes:
    return envelope(pb.StartResponse(event=pb.ProcessEvent(**kw)).SerializeToString())  # type: ignore[arg-type]


def process_stream(stdout: bytes, stderr: bytes, code: int) -> bytes:
    D = pb.ProcessEvent.DataEvent
    return b"".join(
        [
            ev(start=pb.ProcessEvent.StartEvent(pid=42)),
            ev(keepalive=pb.ProcessEvent.KeepAlive()),
            # split a UTF-8 character across two messages
            ev(data=D(stdout=stdout[:1])),
            ev(data=D(stdout=stdout[1:])),
            ev(data=D(stderr=stderr)),
            ev(end=pb.ProcessEvent.EndEvent(exit_code=code, exited=True, status="exit")),
            envelope(b"{}", flags=2),
        ]
    )


def sandbox(server: ScriptServer) -> wrenn.Sandbox:
    c = wrenn.Wrenn("wrn_key", server.url)
    return wrenn.Sandbox(wrenn.models.Sandbox.model_validate(SANDBOX), "tok", c)


def test_envelope_decoder_handles_any_split() -> None:
    data = envelope(b"abc") + envelope(b"") + envelope(b"{}", flags=2)
    for step in (1, 2, 3, 7, len(data)):
        dec = EnvelopeDecoder()
        got = []
        for i in range(0, len(data), step):
            got += dec.feed(data[i : i + step])
        assert got == [(0, b"abc"), (0, b""), (2, b"{}")]
        assert dec.pending == 0


def test_run_collects_output_and_sends_proxy_headers(server: ScriptServer) -> None:
    server.replies = [Reply(200, process_stream("é!".encode(), b"warn", 0))]
    result = sandbox(server).commands.run("echo hi", user="root")
    assert result == wrenn.CommandResult(stdout="é!", stderr="warn", exit_code=0)
    seen = server.seen[0]
    assert seen.path == "/process.Process/Start"
    assert seen.headers["e2b-sandbox-id"] == "sbx-1"
    assert seen.headers["e2b-sandbox-port"] == "49983"
    assert seen.headers["x-access-token"] == "tok"
    assert seen.headers["authorization"] == "Basic " + base64.b64encode(b"root:").decode()
    assert seen.headers["content-type"] == "application/connect+proto"
    dec = EnvelopeDecoder().feed(seen.body)
    req = pb.StartRequest.FromString(dec[0][1])
    assert (req.process.cmd, list(req.process.args)) == ("/bin/bash", ["-l", "-c", "echo hi"])


def test_run_non_zero_exit_raises_with_output(server: ScriptServer) -> None:
    server.replies = [Reply(200, process_stream(b"out", b"boom", 3))]
    with pytest.raises(wrenn.CommandExitError) as info:
        sandbox(server).commands.run("false")
    assert (info.value.exit_code, info.value.stdout, info.value.stderr) == (3, "out", "boom")


def test_run_check_false_returns_result(server: ScriptServer) -> None:
    server.replies = [Reply(200, process_stream(b"out", b"", 3))]
    assert sandbox(server).commands.run("false", check=False).exit_code == 3


def test_callbacks_and_background_iteration(server: ScriptServer) -> None:
    server.replies = [Reply(200, process_stream(b"ab", b"c", 0))]
    out: list[str] = []
    handle = sandbox(server).commands.run("x", background=True, on_stderr=out.append)
    assert handle.pid == 42
    first = next(iter(handle))
    assert first == wrenn.Stdout("a")
    result = handle.wait()
    assert result.stdout == "ab"
    assert out == ["c"]


def test_end_frame_error_maps_to_class(server: ScriptServer) -> None:
    end = json.dumps({"error": {"code": "not_found", "message": "no process"}}).encode()
    server.replies = [Reply(200, envelope(end, flags=2))]
    with pytest.raises(wrenn.NotFoundError, match="no process"):
        sandbox(server).commands.connect(7)


def test_unary_error_and_exists(server: ScriptServer) -> None:
    server.replies = [Reply(404, b'{"code":"not_found","message":"nothing"}')]
    sbx = sandbox(server)
    assert sbx.files.exists("/nope") is False
    assert server.seen[0].path == "/filesystem.Filesystem/Stat"
    assert server.seen[0].headers["content-type"] == "application/proto"


def test_envd_unauthenticated_is_authentication_error(server: ScriptServer) -> None:
    server.replies = [Reply(401, b'{"code":"unauthenticated","message":"bad token"}')]
    with pytest.raises(wrenn.AuthenticationError):
        sandbox(server).commands.list()


def test_list_dir_decodes_entries(server: ScriptServer) -> None:
    answer = fs.ListDirResponse(
        entries=[fs.EntryInfo(name="a", path="/a", type=fs.FILE_TYPE_DIRECTORY, size=3)]
    )
    server.replies = [Reply(200, answer.SerializeToString())]
    (entry,) = sandbox(server).files.list("/")
    assert (entry.name, entry.type, entry.size) == ("a", "dir", 3)


def test_write_streams_an_iterator(server: ScriptServer) -> None:
    server.replies = [Reply(200, b'[{"path":"/f","name":"f","type":"file"}]')]

    def chunks() -> object:
        for i in range(3):
            yield bytes([65 + i]) * 1000

    info = sandbox(server).files.write("/f", chunks())  # type: ignore[arg-type]
    assert info.path == "/f"
    seen = server.seen[0]
    assert seen.headers.get("transfer-encoding") == "chunked"
    assert seen.body == b"A" * 1000 + b"B" * 1000 + b"C" * 1000
    assert seen.path.startswith("/files?path=%2Ff")


def test_write_files_sends_one_multipart(server: ScriptServer) -> None:
    server.replies = [Reply(200, b'[{"path":"/a","name":"a"},{"path":"/b","name":"b"}]')]
    infos = sandbox(server).files.write_files([("/a", "x"), ("/b", b"y")])
    assert [i.path for i in infos] == ["/a", "/b"]
    body = server.seen[0].body
    assert b'filename="/a"' in body and b'filename="/b"' in body
    assert server.seen[0].headers["content-type"].startswith("multipart/form-data; boundary=")


def test_read_text_and_stream(server: ScriptServer) -> None:
    server.replies = [Reply(200, b"hello")]
    sbx = sandbox(server)
    assert sbx.files.read("/f") == "hello"
    assert b"".join(sbx.files.read("/f", format="stream")) == b"hello"


def test_signature_matches_the_documented_formula() -> None:
    raw = b"/home/user/f:read:user:tok:1700000000"
    want = "v1_" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")
    assert file_signature("/home/user/f", "read", "user", "tok", 1700000000) == want


def test_signed_urls_need_a_domain(server: ScriptServer) -> None:
    sbx = sandbox(server)
    with pytest.raises(wrenn.ConfigError):
        sbx.get_host(8080)
    sbx.info = sbx.info.model_copy(update={"domain": "wrenn.test"})
    assert sbx.get_host(8080) == "8080-sbx-1.wrenn.test"
    url = sbx.download_url("/tmp/x")
    assert url.startswith("https://49983-sbx-1.wrenn.test/files?path=%2Ftmp%2Fx&username=user")
    assert "signature=v1_" in url


def test_async_run_and_async_callback(server: ScriptServer) -> None:
    server.replies = [Reply(200, process_stream(b"hi", b"", 0))]
    got: list[str] = []

    async def on_out(s: str) -> None:
        got.append(s)

    async def go() -> wrenn.CommandResult:
        c = wrenn.AsyncWrenn("k", server.url)
        sbx = wrenn.AsyncSandbox(wrenn.models.Sandbox.model_validate(SANDBOX), "tok", c)
        try:
            return await sbx.commands.run("echo hi", on_stdout=on_out)
        finally:
            await c.close()

    assert asyncio.run(go()).stdout == "hi"
    assert "".join(got) == "hi"


def test_pty_sends_size_and_input(server: ScriptServer) -> None:
    def respond(seen: Seen) -> Reply:
        if seen.path == "/process.Process/Start":
            D = pb.ProcessEvent.DataEvent
            body = b"".join(
                [
                    ev(start=pb.ProcessEvent.StartEvent(pid=9)),
                    ev(data=D(pty=b"$ ")),
                    ev(end=pb.ProcessEvent.EndEvent(exit_code=0, exited=True)),
                    envelope(b"{}", flags=2),
                ]
            )
            return Reply(200, body)
        return Reply(200, b"")

    server.responder = respond
    sbx = sandbox(server)
    data: list[bytes] = []
    handle = sbx.pty.create(wrenn.PtySize(100, 30), on_data=data.append)
    sbx.pty.send_input(handle.pid, "ls\n")
    sbx.pty.resize(handle.pid, wrenn.PtySize(120, 40))
    handle.wait()
    assert data == [b"$ "]
    start = pb.StartRequest.FromString(EnvelopeDecoder().feed(server.seen[0].body)[0][1])
    assert (start.pty.size.cols, start.pty.size.rows) == (100, 30)
    assert start.process.envs["TERM"] == "xterm-256color"
    sent = pb.SendInputRequest.FromString(server.seen[1].body)
    assert (sent.process.pid, sent.input.pty) == (9, b"ls\n")
    upd = pb.UpdateRequest.FromString(server.seen[2].body)
    assert (upd.pty.size.cols, upd.pty.size.rows) == (120, 40)


def test_finished_command_streams_reuse_one_connection(server: ScriptServer) -> None:
    server.replies = [Reply(200, process_stream(b"x", b"", 0))]
    sbx = sandbox(server)
    for _ in range(3):
        sbx.commands.run("true")
    assert len({s.client_port for s in server.seen}) == 1
