"""Filesystem service and /files through the e2b SDK."""
import os
import time

import pytest
from e2b import FileType, NotFoundException
from e2b.sandbox.filesystem.watch_handle import FilesystemEventType


@pytest.mark.vm
def test_write_then_read_text(sandbox, workdir):
    info = sandbox.files.write(f"{workdir}/a.txt", "hello ✓\n")
    assert info.path == f"/home/user/{workdir}/a.txt"
    assert sandbox.files.read(f"{workdir}/a.txt") == "hello ✓\n"


def test_write_then_read_bytes(sandbox, workdir):
    data = bytes(range(256)) * 100
    sandbox.files.write(f"{workdir}/b.bin", data)
    assert sandbox.files.read(f"{workdir}/b.bin", format="bytes") == data


def test_write_gzip_octet_stream(sandbox, workdir):
    data = os.urandom(100_000)
    sandbox.files.write(f"{workdir}/g.bin", data, gzip=True)
    assert bytes(sandbox.files.read(f"{workdir}/g.bin", format="bytes")) == data


def test_write_several_files_at_once(sandbox, workdir):
    infos = sandbox.files.write_files(
        [
            {"path": f"{workdir}/m/1.txt", "data": "one"},
            {"path": f"{workdir}/m/2.bin", "data": b"\x00two"},
        ]
    )
    assert sorted(i.name for i in infos) == ["1.txt", "2.bin"]
    assert sandbox.files.read(f"{workdir}/m/1.txt") == "one"
    assert sandbox.files.read(f"{workdir}/m/2.bin", format="bytes") == b"\x00two"


def test_written_files_belong_to_the_user(sandbox, workdir):
    sandbox.files.write(f"{workdir}/own.txt", "x")
    info = sandbox.files.get_info(f"{workdir}/own.txt")
    assert (info.owner, info.group) == ("user", "user")
    root_file = sandbox.files.write("/tmp/envd-root-owned.txt", "x", user="root")
    assert sandbox.files.get_info(root_file.path).owner == "root"


def test_user_cannot_write_where_unix_permissions_forbid(sandbox):
    with pytest.raises(Exception):
        sandbox.files.write("/etc/envd-test-forbidden", "x")


def test_read_missing_raises_not_found(sandbox):
    with pytest.raises(NotFoundException):
        sandbox.files.read("no/such/file.txt")


@pytest.mark.vm
def test_list_exists_and_get_info(sandbox, workdir):
    sandbox.files.write(f"{workdir}/d/e/f.txt", "deep")
    names = [e.name for e in sandbox.files.list(workdir)]
    assert names == ["d"]
    deep = sorted(e.path for e in sandbox.files.list(workdir, depth=3))
    assert deep == [f"/home/user/{workdir}/d", f"/home/user/{workdir}/d/e", f"/home/user/{workdir}/d/e/f.txt"]
    assert sandbox.files.exists(f"{workdir}/d/e/f.txt")
    assert not sandbox.files.exists(f"{workdir}/nope")
    info = sandbox.files.get_info(f"{workdir}/d/e/f.txt")
    assert info.type == FileType.FILE and info.size == 4
    assert info.permissions == "-rw-r--r--"
    assert sandbox.files.get_info(f"{workdir}/d").type == FileType.DIR


def test_list_missing_dir_raises_not_found(sandbox):
    with pytest.raises(NotFoundException):
        sandbox.files.list("no-such-dir")


def test_symlink_is_reported_with_target(sandbox, workdir):
    sandbox.files.write(f"{workdir}/target.txt", "t")
    sandbox.commands.run(f"ln -s /home/user/{workdir}/target.txt /home/user/{workdir}/link")
    info = sandbox.files.get_info(f"{workdir}/link")
    assert info.symlink_target == f"/home/user/{workdir}/target.txt"


@pytest.mark.vm
def test_make_dir_twice_returns_false(sandbox, workdir):
    assert sandbox.files.make_dir(f"{workdir}/new/sub") is True
    assert sandbox.files.make_dir(f"{workdir}/new/sub") is False


def test_rename_and_remove(sandbox, workdir):
    sandbox.files.write(f"{workdir}/old.txt", "content")
    info = sandbox.files.rename(f"{workdir}/old.txt", f"{workdir}/sub/new.txt")
    assert info.path == f"/home/user/{workdir}/sub/new.txt"
    assert not sandbox.files.exists(f"{workdir}/old.txt")
    sandbox.files.remove(f"{workdir}/sub")
    assert not sandbox.files.exists(f"{workdir}/sub")


def test_rename_missing_raises_not_found(sandbox, workdir):
    with pytest.raises(NotFoundException):
        sandbox.files.rename(f"{workdir}/missing", f"{workdir}/x")


def _poll(handle, want, timeout=10):
    events = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        events += handle.get_new_events()
        if want(events):
            break
        time.sleep(0.2)
    return events


def test_watch_dir_reports_create_write_remove(sandbox, workdir):
    handle = sandbox.files.watch_dir(workdir)
    try:
        sandbox.files.write(f"{workdir}/w.txt", "1")
        sandbox.commands.run(f"echo more >> /home/user/{workdir}/w.txt")
        sandbox.files.remove(f"{workdir}/w.txt")
        want = {FilesystemEventType.CREATE, FilesystemEventType.WRITE, FilesystemEventType.REMOVE}
        events = _poll(handle, lambda ev: want <= {e.type for e in ev})
        assert want <= {e.type for e in events}
        assert all(e.name == "w.txt" for e in events)
    finally:
        handle.stop()


def test_watch_dir_recursive(sandbox, workdir):
    sandbox.files.make_dir(f"{workdir}/inner")
    handle = sandbox.files.watch_dir(workdir, recursive=True)
    try:
        sandbox.files.write(f"{workdir}/inner/x.txt", "1")
        events = _poll(handle, lambda ev: any(e.name == "inner/x.txt" for e in ev))
        assert any(e.name == "inner/x.txt" for e in events)
    finally:
        handle.stop()


def test_watch_dir_stream_with_async_sdk(workdir):
    """The async SDK uses the WatchDir server stream."""
    import asyncio

    from e2b import AsyncSandbox

    async def run():
        sb = await AsyncSandbox.create()
        events = []
        handle = await sb.files.watch_dir(workdir, on_event=events.append)
        try:
            await asyncio.sleep(0.3)
            await sb.files.write(f"{workdir}/s.txt", "1")
            for _ in range(50):
                if any(e.type == FilesystemEventType.CREATE for e in events):
                    break
                await asyncio.sleep(0.2)
        finally:
            await handle.stop()
        return events

    events = asyncio.run(run())
    assert any(e.type == FilesystemEventType.CREATE and e.name == "s.txt" for e in events)


def test_watch_missing_dir_raises_not_found(sandbox):
    with pytest.raises(NotFoundException):
        sandbox.files.watch_dir("no-such-dir")


def test_large_file_round_trip_streams(sandbox, workdir, tmp_path):
    data = os.urandom(8 << 20)
    sandbox.files.write(f"{workdir}/big.bin", data)
    assert bytes(sandbox.files.read(f"{workdir}/big.bin", format="bytes")) == data


def test_full_disk_is_507(sandbox):
    from e2b import NotEnoughSpaceException

    mnt = "/tmp/envd-full-disk"
    setup = sandbox.commands.run(f"mkdir -p {mnt} && mount -t tmpfs -o size=1m tmpfs {mnt} && echo ok",
                                 user="root")
    if setup.stdout.strip() != "ok":
        pytest.skip("cannot mount a small tmpfs here")
    try:
        with pytest.raises(NotEnoughSpaceException):
            sandbox.files.write(f"{mnt}/big.bin", os.urandom(2 << 20), user="root")
        # envd keeps serving afterwards.
        assert sandbox.commands.run("echo still").stdout == "still\n"
    finally:
        sandbox.commands.run(f"umount {mnt}; rmdir {mnt}", user="root")
