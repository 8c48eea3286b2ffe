"""Behaviours checked against E2B's own envd (e2b-dev/infra, packages/envd)
and the SDK's tests (e2b-dev/E2B, packages/python-sdk/tests/sync/
sandbox_sync/files/): file metadata, removing a missing path, watch events,
parent directories made for the user, and readable refusals of uploads.
See docs/envd-wire.md, "Behaviour matched with E2B's envd"."""
import time
import uuid

import httpx
import pytest
from e2b import FileType, SandboxException
from e2b.sandbox.filesystem.watch_handle import FilesystemEventType as Ev

from conftest import ENVD_URL


def _root_sh(sandbox, command):
    out = sandbox.commands.run(command, user="root")
    assert out.exit_code == 0, out.stderr
    return out.stdout


# --- metadata (upload.go: X-Metadata-* -> user.e2b.* xattrs) -------------


@pytest.mark.vm
def test_metadata_when_written_then_returned_by_write_stat_list_and_rename(sandbox, workdir):
    metadata = {"author": "mish", "purpose": "upload"}
    info = sandbox.files.write(f"{workdir}/m.txt", "content", metadata=metadata)
    assert info.metadata == metadata
    assert sandbox.files.get_info(f"{workdir}/m.txt").metadata == metadata
    listed = {e.name: e for e in sandbox.files.list(workdir)}
    assert listed["m.txt"].metadata == metadata
    moved = sandbox.files.rename(f"{workdir}/m.txt", f"{workdir}/sub/moved.txt")
    assert moved.metadata == metadata
    assert sandbox.files.get_info(f"{workdir}/sub/moved.txt").metadata == metadata


def test_metadata_when_octet_stream_then_kept(sandbox, workdir):
    metadata = {"author": "mish"}
    info = sandbox.files.write(f"{workdir}/o.txt", "x", metadata=metadata, use_octet_stream=True)
    assert info.metadata == metadata
    assert sandbox.files.get_info(f"{workdir}/o.txt").metadata == metadata


def test_metadata_when_several_files_then_each_gets_it(sandbox, workdir):
    infos = sandbox.files.write_files(
        [{"path": f"{workdir}/1.txt", "data": "1"}, {"path": f"{workdir}/2.txt", "data": "2"}],
        metadata={"source": "suite"},
    )
    assert [i.metadata for i in infos] == [{"source": "suite"}] * 2
    assert sandbox.files.get_info(f"{workdir}/2.txt").metadata == {"source": "suite"}


def test_metadata_when_absent_then_none(sandbox, workdir):
    info = sandbox.files.write(f"{workdir}/plain.txt", "x")
    assert info.metadata is None
    assert sandbox.files.get_info(f"{workdir}/plain.txt").metadata is None


def test_metadata_when_overwritten_without_then_cleared(sandbox, workdir):
    sandbox.files.write(f"{workdir}/w.txt", "1", metadata={"author": "mish", "keep": "no"})
    info = sandbox.files.write(f"{workdir}/w.txt", "2", metadata={"author": "again"})
    assert info.metadata == {"author": "again"}
    assert sandbox.files.write(f"{workdir}/w.txt", "3").metadata is None
    assert sandbox.files.get_info(f"{workdir}/w.txt").metadata is None


def test_metadata_when_set_as_xattr_inside_then_reported(sandbox, workdir):
    sandbox.files.write(f"{workdir}/x.txt", "x")
    path = f"/home/user/{workdir}/x.txt"
    sandbox.commands.run(f"python3 -c \"import os; os.setxattr('{path}', 'user.e2b.author', b'mish')\"")
    assert sandbox.files.get_info(f"{workdir}/x.txt").metadata == {"author": "mish"}


def test_metadata_when_header_keys_mixed_case_then_lowercased(envd, workdir):
    r = envd.post(
        "/files",
        params={"path": f"{workdir}/h.txt", "username": "user"},
        content=b"x",
        headers={"Content-Type": "application/octet-stream", "X-Metadata-Author": "mish"},
    )
    assert r.status_code == 200, r.text
    assert r.json()[0]["metadata"] == {"author": "mish"}


def test_metadata_when_too_large_then_400_and_no_file(envd, sandbox, workdir):
    r = envd.post(
        "/files",
        params={"path": f"{workdir}/big-meta.txt", "username": "user"},
        content=b"x",
        headers={"Content-Type": "application/octet-stream", "X-Metadata-a": "v" * 5000},
    )
    assert r.status_code == 400
    assert r.json()["code"] == 400 and "metadata" in r.json()["message"]
    assert not sandbox.files.exists(f"{workdir}/big-meta.txt")


# --- Remove of a missing path (remove.go: os.RemoveAll) ------------------


@pytest.mark.vm
def test_remove_when_missing_then_no_error(sandbox, workdir):
    sandbox.files.remove(f"{workdir}/never-existed.txt")
    sandbox.files.remove("/no/such/dir/at/all")


def test_remove_when_missing_then_connect_answer_is_empty_success(envd):
    r = envd.post(
        "/filesystem.Filesystem/Remove",
        json={"path": "/home/user/never-existed-either"},
        headers={"Authorization": "Basic dXNlcjo="},
    )
    assert (r.status_code, r.json()) == (200, {})


# --- watch events (watch.go with e2b-dev/fsnotify) ------------------------


def _events(handle, want, settle=0.5, timeout=10):
    """Collects events until `want` of them came, then a little longer so
    that extra ones would be seen too."""
    events = []
    deadline = time.time() + timeout
    while time.time() < deadline and len(events) < want:
        events += handle.get_new_events()
        time.sleep(0.05)
    time.sleep(settle)
    events += handle.get_new_events()
    return [(e.type, e.name) for e in events]


@pytest.mark.vm
def test_watch_when_new_file_written_then_create_chmod_write(sandbox, workdir):
    # E2B's test_watch_iterated: a new file written gives three events.
    handle = sandbox.files.watch_dir(workdir)
    try:
        sandbox.files.write(f"{workdir}/new.txt", "content")
        assert _events(handle, 3) == [
            (Ev.CREATE, "new.txt"),
            (Ev.CHMOD, "new.txt"),
            (Ev.WRITE, "new.txt"),
        ]
    finally:
        handle.stop()


def test_watch_when_written_with_metadata_then_chmod_for_the_attributes(sandbox, workdir):
    handle = sandbox.files.watch_dir(workdir)
    try:
        sandbox.files.write(f"{workdir}/m.txt", "content", metadata={"k": "v"})
        assert _events(handle, 4) == [
            (Ev.CREATE, "m.txt"),
            (Ev.CHMOD, "m.txt"),
            (Ev.WRITE, "m.txt"),
            (Ev.CHMOD, "m.txt"),
        ]
    finally:
        handle.stop()


def test_watch_when_existing_file_overwritten_then_chmod_then_writes(sandbox, workdir):
    sandbox.files.write(f"{workdir}/o.txt", "first")
    handle = sandbox.files.watch_dir(workdir)
    try:
        sandbox.files.write(f"{workdir}/o.txt", "second")
        events = _events(handle, 2)
        # chown before the truncating open, then the truncate and the write
        # (the kernel may merge the two modifications into one event).
        assert events[0] == (Ev.CHMOD, "o.txt")
        assert set(events[1:]) == {(Ev.WRITE, "o.txt")}
    finally:
        handle.stop()


def test_watch_when_renamed_and_removed_then_rename_create_remove(sandbox, workdir):
    sandbox.files.write(f"{workdir}/a.txt", "x")
    handle = sandbox.files.watch_dir(workdir)
    try:
        sandbox.files.rename(f"{workdir}/a.txt", f"{workdir}/b.txt")
        sandbox.files.remove(f"{workdir}/b.txt")
        assert _events(handle, 3) == [
            (Ev.RENAME, "a.txt"),
            (Ev.CREATE, "b.txt"),
            (Ev.REMOVE, "b.txt"),
        ]
    finally:
        handle.stop()


@pytest.mark.vm
def test_watch_recursive_when_subdirectory_made_later_then_followed(sandbox, workdir):
    # E2B's test_watch_recursive_directory_after_nested_folder_addition.
    handle = sandbox.files.watch_dir(workdir, recursive=True)
    try:
        sandbox.files.make_dir(f"{workdir}/nested")
        time.sleep(0.2)
        sandbox.files.write(f"{workdir}/nested/f.txt", "x")
        events = _events(handle, 5)
        assert events[0] == (Ev.CREATE, "nested")
        assert (Ev.CREATE, "nested/f.txt") in events
        assert (Ev.WRITE, "nested/f.txt") in events
    finally:
        handle.stop()


def test_watch_recursive_when_tree_made_at_once_then_deepest_followed(sandbox, workdir):
    handle = sandbox.files.watch_dir(workdir, recursive=True)
    try:
        sandbox.commands.run(f"mkdir -p /home/user/{workdir}/a/b/c")
        time.sleep(0.3)
        sandbox.commands.run(f"echo hi > /home/user/{workdir}/a/b/c/deep.txt")
        events = _events(handle, 3)
        assert (Ev.CREATE, "a") in events
        assert (Ev.CREATE, "a/b/c/deep.txt") in events
        assert (Ev.WRITE, "a/b/c/deep.txt") in events
    finally:
        handle.stop()


def test_watch_recursive_when_directory_renamed_then_new_names(sandbox, workdir):
    sandbox.files.make_dir(f"{workdir}/old/inner")
    handle = sandbox.files.watch_dir(workdir, recursive=True)
    try:
        sandbox.commands.run(f"mv /home/user/{workdir}/old /home/user/{workdir}/new")
        time.sleep(0.3)
        sandbox.commands.run(f"touch /home/user/{workdir}/new/inner/t.txt")
        events = _events(handle, 3)
        assert events[:2] == [(Ev.RENAME, "old"), (Ev.CREATE, "new")]
        assert (Ev.CREATE, "new/inner/t.txt") in events
    finally:
        handle.stop()


def test_watch_when_include_entry_then_write_event_has_the_file(sandbox, workdir):
    # E2B's test_watch_directory_changes_with_entry_info.
    sandbox.files.write(f"{workdir}/e.txt", "1")
    handle = sandbox.files.watch_dir(workdir, include_entry=True)
    try:
        sandbox.files.write(f"{workdir}/e.txt", "22")
        deadline = time.time() + 10
        write = None
        while write is None and time.time() < deadline:
            write = next((e for e in handle.get_new_events() if e.type == Ev.WRITE), None)
            time.sleep(0.05)
        assert write is not None and write.entry is not None
        assert write.entry.path == f"/home/user/{workdir}/e.txt"
        assert write.entry.type == FileType.FILE
    finally:
        handle.stop()


def test_watch_when_network_mounts_allowed_then_regular_dir_watched_the_same(sandbox, workdir):
    # E2B's test_watch_directory_changes_with_network_mounts_allowed.
    handle = sandbox.files.watch_dir(workdir, allow_network_mounts=True)
    try:
        sandbox.files.write(f"{workdir}/n.txt", "x")
        assert (Ev.WRITE, "n.txt") in _events(handle, 3)
    finally:
        handle.stop()


# --- parent directories (permissions.EnsureDirs) -------------------------


@pytest.mark.vm
def test_upload_when_parents_missing_under_root_then_made_for_the_user(sandbox):
    top = f"/wrenn-parity-{uuid.uuid4().hex[:8]}"
    try:
        info = sandbox.files.write(f"{top}/a/b/f.txt", "x")
        assert info.path == f"{top}/a/b/f.txt"
        for path in (top, f"{top}/a", f"{top}/a/b", f"{top}/a/b/f.txt"):
            entry = sandbox.files.get_info(path)
            assert (entry.owner, entry.group) == ("user", "user"), path
        assert sandbox.files.get_info(top).permissions == "drwxr-xr-x"
        # An existing parent keeps its owner.
        assert sandbox.files.get_info("/").owner == "root"
    finally:
        _root_sh(sandbox, f"rm -rf {top}")


def test_make_dir_and_rename_when_under_root_then_made_for_the_user(sandbox):
    top = f"/wrenn-parity-{uuid.uuid4().hex[:8]}"
    try:
        assert sandbox.files.make_dir(f"{top}/made/deep") is True
        assert sandbox.files.get_info(f"{top}/made").owner == "user"
        sandbox.files.write(f"{top}/made/f.txt", "x")
        moved = sandbox.files.rename(f"{top}/made/f.txt", f"{top}/other/f.txt")
        assert moved.path == f"{top}/other/f.txt"
        assert sandbox.files.get_info(f"{top}/other").owner == "user"
    finally:
        _root_sh(sandbox, f"rm -rf {top}")


def test_make_dir_when_a_file_is_there_then_invalid_argument(sandbox, workdir):
    from e2b import InvalidArgumentException

    sandbox.files.write(f"{workdir}/file", "x")
    with pytest.raises(InvalidArgumentException):
        sandbox.files.make_dir(f"{workdir}/file")


def test_upload_when_existing_file_is_not_writable_then_403_and_untouched(sandbox):
    # Parents are made by envd, but files are still written as the user.
    with pytest.raises(SandboxException) as refused:
        sandbox.files.write("/etc/hostname", "taken over")
    assert str(refused.value).startswith("403")


# --- refused uploads are answered, not reset ------------------------------


@pytest.mark.vm
def test_refused_multi_file_upload_when_large_then_client_reads_403(sandbox):
    big = b"\0" * (8 << 20)
    with pytest.raises(SandboxException) as refused:
        sandbox.files.write_files(
            [
                {"path": "/etc/wrenn-forbidden-1", "data": big},
                {"path": "/etc/wrenn-forbidden-2", "data": big},
            ]
        )
    assert str(refused.value).startswith("403"), repr(refused.value)
    assert not sandbox.files.exists("/etc/wrenn-forbidden-1")


def test_refused_octet_stream_upload_when_large_then_status_arrives(sandbox):
    def body():
        for _ in range(32):
            yield b"\0" * (1 << 20)

    with httpx.Client(base_url=ENVD_URL, timeout=60) as client:
        r = client.post(
            "/files",
            params={"path": "/etc/wrenn-forbidden-3", "username": "user"},
            content=body(),
            headers={"Content-Type": "application/octet-stream"},
        )
    assert r.status_code == 403
    assert r.json()["code"] == 403


@pytest.mark.vm
def test_refused_upload_when_client_sends_all_before_reading_then_403_arrives():
    """A client (or proxy) that writes the whole body before it reads the
    answer: without the body read, envd's close resets the connection and
    the client's send fails with EPIPE / ECONNRESET."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(ENVD_URL)
    size = 32 << 20
    with socket.create_connection((url.hostname, url.port or 80), timeout=60) as conn:
        conn.sendall(
            (
                "POST /files?path=/etc/wrenn-forbidden-4&username=user HTTP/1.1\r\n"
                f"Host: {url.hostname}\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {size}\r\n\r\n"
            ).encode()
        )
        chunk = b"\0" * (1 << 20)
        for _ in range(size // len(chunk)):
            conn.sendall(chunk)
        answer = b""
        while b"\r\n" not in answer:
            data = conn.recv(4096)
            if not data:
                break
            answer += data
    assert answer.startswith(b"HTTP/1.1 403"), answer[:100]
