"""The issue's acceptance flows through the unmodified e2b SDK (the latest
release, or a 2.4x one: only calls both offer), over TLS with E2B_DOMAIN.
Needs the features named in each `needs` marker (conftest.py)."""
import datetime
import time
import uuid

import httpx
import pytest
from e2b import CommandExitException, PtySize, Sandbox, SandboxQuery, SandboxState

from conftest import RUN, until

SDK = pytest.mark.needs("e2b-api", "proxy")


def now():
    return datetime.datetime.now(datetime.timezone.utc)


@SDK
def test_create_when_metadata_envs_timeout_then_applied(make_sandbox):
    sandbox = make_sandbox(metadata={"case": "create"}, envs={"WRENN_E2B": "from-create"}, timeout=150)
    assert sandbox.commands.run("echo $WRENN_E2B").stdout == "from-create\n"
    info = sandbox.get_info()
    assert info.metadata["case"] == "create" and info.metadata["run"] == RUN
    assert info.state == SandboxState.RUNNING
    remaining = (info.end_at - now()).total_seconds()
    assert 100 < remaining <= 151, remaining


@SDK
def test_commands_when_exit_code_and_background_then_connect_reads_output(sandbox):
    assert sandbox.commands.run("echo out; echo err >&2").stdout == "out\n"
    with pytest.raises(CommandExitException) as failed:
        sandbox.commands.run("exit 3")
    assert failed.value.exit_code == 3
    handle = sandbox.commands.run("read line; echo got-$line", background=True, stdin=True)
    # Connected while it still waits for its line: it cannot end before.
    again = sandbox.commands.connect(handle.pid)
    sandbox.commands.send_stdin(handle.pid, "ping\n")
    assert again.wait().stdout == "got-ping\n"
    assert handle.pid not in [p.pid for p in sandbox.commands.list()]


@SDK
def test_files_when_write_read_list_watch_metadata_then_consistent(sandbox):
    folder = f"/home/user/e2b-{uuid.uuid4().hex[:6]}"
    sandbox.files.make_dir(folder)
    watch = sandbox.files.watch_dir(folder)
    written = sandbox.files.write(f"{folder}/a.txt", "hello", metadata={"owner": "suite"})
    assert written.path == f"{folder}/a.txt"
    assert sandbox.files.read(f"{folder}/a.txt") == "hello"
    assert sandbox.files.read(f"{folder}/a.txt", format="bytes") == b"hello"
    entries = sandbox.files.list(folder)
    assert [e.name for e in entries] == ["a.txt"]
    info = sandbox.files.get_info(f"{folder}/a.txt")
    assert info.size == 5 and info.metadata == {"owner": "suite"}
    events = until(lambda: watch.get_new_events())
    assert any(e.name == "a.txt" for e in events), events
    watch.stop()
    assert sandbox.files.exists(f"{folder}/a.txt")
    sandbox.files.remove(folder)
    assert not sandbox.files.exists(folder)


@SDK
def test_pty_when_input_then_output_through_terminal(sandbox):
    received = bytearray()
    terminal = sandbox.pty.create(PtySize(rows=24, cols=80))
    sandbox.pty.send_stdin(terminal.pid, b"echo pty-$((40+2))\nexit\n")
    terminal.wait(on_pty=received.extend)
    assert b"pty-42" in received


@SDK
def test_get_host_when_web_server_in_sandbox_then_fetched_from_host(sandbox, https):
    sandbox.files.write("/home/user/site/hello.txt", "from the sandbox")
    sandbox.commands.run("cd /home/user/site && python3 -m http.server 3000", background=True)
    url = f"https://{sandbox.get_host(3000)}/hello.txt"
    response = until(lambda: (r := https.get(url)).status_code == 200 and r)
    assert response.text == "from the sandbox"


@SDK
def test_list_when_metadata_state_and_limit_then_filtered_pages(make_sandbox):
    tag = uuid.uuid4().hex[:8]
    made = {make_sandbox(metadata={"list": tag}).sandbox_id for _ in range(3)}
    query = SandboxQuery(metadata={"list": tag}, state=[SandboxState.RUNNING])
    pages = Sandbox.list(query=query, limit=2)
    first = pages.next_items()
    assert len(first) == 2 and pages.has_next
    second = pages.next_items()
    assert {s.sandbox_id for s in first + second} == made
    assert not pages.has_next
    assert Sandbox.list(query=SandboxQuery(metadata={"list": "none-" + tag})).next_items() == []


@SDK
def test_set_timeout_when_called_then_deadline_moves(sandbox):
    sandbox.set_timeout(600)
    remaining = (sandbox.get_info().end_at - now()).total_seconds()
    assert 550 < remaining <= 601, remaining


@SDK
def test_pause_when_connect_then_files_and_processes_survive(sandbox):
    sandbox.files.write("/home/user/kept.txt", "kept")
    sleeper = sandbox.commands.run("sleep 900", background=True)
    assert sandbox.pause() is True
    assert sandbox.get_info().state == SandboxState.PAUSED
    assert not sandbox.is_running()
    resumed = Sandbox.connect(sandbox.sandbox_id)
    assert resumed.files.read("/home/user/kept.txt") == "kept"
    assert sleeper.pid in [p.pid for p in resumed.commands.list()]


@pytest.mark.needs("e2b-api", "proxy", "fs-pause")
def test_pause_when_filesystem_only_then_files_survive_processes_do_not(sandbox):
    sandbox.files.write("/home/user/kept.txt", "kept")
    sleeper = sandbox.commands.run("sleep 900", background=True)
    assert sandbox.pause(keep_memory=False) is True
    resumed = Sandbox.connect(sandbox.sandbox_id)
    assert resumed.files.read("/home/user/kept.txt") == "kept"
    assert sleeper.pid not in [p.pid for p in resumed.commands.list() if p.cmd == "sleep 900"]


@pytest.mark.needs("e2b-api", "proxy", "auto-resume")
def test_auto_resume_when_http_request_to_paused_then_resumed(make_sandbox, https):
    sandbox = make_sandbox(lifecycle={"on_timeout": "pause", "auto_resume": True})
    sandbox.files.write("/home/user/kept.txt", "kept")
    sandbox.pause()
    assert sandbox.get_info().state == SandboxState.PAUSED
    response = https.get(f"https://{sandbox.get_host(49983)}/health")
    assert response.status_code == 204, response.text
    assert sandbox.get_info().state == SandboxState.RUNNING
    assert sandbox.files.read("/home/user/kept.txt") == "kept"


@pytest.mark.needs("e2b-api", "proxy", "fork")
def test_fork_when_two_copies_then_each_has_the_source_state(sandbox):
    sandbox.files.write("/home/user/before-fork.txt", "source")
    forks = sandbox.fork(count=2)
    try:
        assert len(forks) == 2 and all(isinstance(f, Sandbox) for f in forks), forks
        for fork in forks:
            assert fork.sandbox_id != sandbox.sandbox_id
            assert fork.files.read("/home/user/before-fork.txt") == "source"
        assert sandbox.is_running()
    finally:
        for fork in forks:
            if isinstance(fork, Sandbox):
                fork.kill()


@pytest.mark.needs("e2b-api", "proxy", "snapshots")
def test_snapshot_when_created_then_new_sandbox_starts_from_it(sandbox, make_sandbox):
    sandbox.files.write("/home/user/snap.txt", "snapped")
    snapshot = sandbox.create_snapshot()
    copy = None
    try:
        assert snapshot.snapshot_id in [s.snapshot_id for s in Sandbox.list_snapshots().next_items()]
        copy = make_sandbox(template=snapshot.snapshot_id)
        assert copy.files.read("/home/user/snap.txt") == "snapped"
    finally:
        # Wrenn keeps a snapshot that a live sandbox still boots from (409):
        # the copy goes first.
        if copy is not None:
            copy.kill()
        deleted = Sandbox.delete_snapshot(snapshot.snapshot_id)
    assert deleted is True
    assert snapshot.snapshot_id not in [s.snapshot_id for s in Sandbox.list_snapshots().next_items()]


@SDK
def test_kill_when_done_then_gone_and_proxy_answers_502(sandbox, https):
    url = f"https://{sandbox.get_host(49983)}/health"
    assert https.get(url).status_code == 204
    assert sandbox.kill() is True
    assert not sandbox.is_running()
    response = https.get(url)
    assert response.status_code == 502
    body = response.json()
    assert body["code"] == 502 and body["sandboxId"] == sandbox.sandbox_id and body["message"]
    assert Sandbox.kill(sandbox.sandbox_id) is False
