"""The live scenario of issue #13 against a real Wrenn (run by scripts/e2e.sh).

Env: WRENN_BASE_URL, WRENN_API_KEY, WRENN_ADMIN_TOKEN, WRENN_DOMAIN,
WRENN_TEST_CA. Each step prints ``ok``/``FAILED``; the last line is
``sdk-python: N passed, M failed``. Every sandbox made is killed at the end.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import resource
import secrets
import ssl
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator

import httpx

import wrenn
from wrenn import AsyncSandbox, PtySize, Sandbox, Wrenn

MIB = 1024 * 1024
SUITE = "py-" + secrets.token_hex(4)
made: list[Sandbox] = []
templates_made: list[str] = []
results: list[tuple[str, bool]] = []


def step(name: str, fn: Callable[[], None]) -> bool:
    t0 = time.perf_counter()
    try:
        fn()
    except Exception:
        traceback.print_exc()
        print(f"FAILED {name} ({time.perf_counter() - t0:.1f}s)", flush=True)
        results.append((name, False))
        return False
    print(f"ok {name} ({time.perf_counter() - t0:.1f}s)", flush=True)
    results.append((name, True))
    return True


def check(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


def tls() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=os.environ["WRENN_TEST_CA"])


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pattern(total: int) -> Iterator[bytes]:
    """Deterministic pseudo-random data, made one 1 MiB chunk at a time."""
    block = hashlib.sha256(b"wrenn").digest() * (MIB // 32)
    for i in range(total // MIB):
        yield bytes([i % 251]) + block[1:]


def main() -> int:
    client = Wrenn()
    sbx: Sandbox | None = None

    def create() -> None:
        nonlocal sbx
        sbx = Sandbox.create(
            "base",
            timeout=900,
            metadata={"suite": SUITE},
            env_vars={"WRENN_E2E": "1"},
            client=client,
        )
        made.append(sbx)
        check(sbx.info.state == "running", f"state {sbx.info.state}")
        check(bool(sbx.envd_access_token), "create answered an envd token")

    if not step("create", create) or sbx is None:
        return finish(client)
    s: Sandbox = sbx

    def run() -> None:
        r = s.commands.run("echo hi; echo $WRENN_E2E; whoami; pwd")
        check(r.stdout == "hi\n1\nuser\n/home/user\n", repr(r.stdout))
        check(r.exit_code == 0, "exit 0")
        root = s.commands.run("whoami", user="root", cwd="/tmp", envs={"A": "b"})
        check(root.stdout == "root\n", repr(root.stdout))

    def exit_error() -> None:
        try:
            s.commands.run("echo out; echo err >&2; exit 3")
        except wrenn.CommandExitError as e:
            check((e.exit_code, e.stdout, e.stderr) == (3, "out\n", "err\n"), repr(e))
        else:
            raise AssertionError("no CommandExitError")
        check(s.commands.run("exit 4", check=False).exit_code == 4, "check=False")

    def stream() -> None:
        seen: list[tuple[str, float]] = []
        t0 = time.perf_counter()
        s.commands.run(
            "for i in 1 2 3; do echo line$i; sleep 0.3; done; echo e >&2",
            on_stdout=lambda x: seen.append((x, time.perf_counter() - t0)),
            on_stderr=lambda x: seen.append(("ERR" + x, time.perf_counter() - t0)),
        )
        text = "".join(x for x, _ in seen)
        check(text == "line1\nline2\nline3\nERRe\n", repr(text))
        # streamed as produced, not at the end
        check(seen[0][1] < seen[-1][1] - 0.4, f"timings {seen}")

    def background() -> None:
        h = s.commands.run(
            "for i in $(seq 1 100); do echo tick$i; sleep 0.2; done", background=True
        )
        it = iter(h)
        first = next(it)
        check(isinstance(first, wrenn.Stdout) and first.data.startswith("tick"), repr(first))
        h.disconnect()
        pids = [p.pid for p in s.commands.list()]
        check(h.pid in pids, f"{h.pid} in {pids}")
        again = s.commands.connect(h.pid)
        ev = next(iter(again))
        check(isinstance(ev, wrenn.Stdout) and "tick" in ev.data, repr(ev))
        check(again.kill() is True, "kill")
        r = again.wait(check=False)
        check(r.exit_code != 0, f"killed exit {r.exit_code}")
        check(s.commands.kill(h.pid) is False, "kill of a gone pid is False")

    def stdin() -> None:
        h = s.commands.run("cat", background=True, stdin=True)
        h.send_stdin("hello ")
        s.commands.send_stdin(h.pid, b"stdin\n")
        h.close_stdin()
        check(h.wait().stdout == "hello stdin\n", repr(h.stdout))

    def files() -> None:
        f = s.files
        f.write("/home/user/dir/a.txt", "alpha")
        check(f.read("/home/user/dir/a.txt") == "alpha", "text")
        f.write("dir/b.bin", b"\x00\x01")
        check(f.read("/home/user/dir/b.bin", format="bytes") == b"\x00\x01", "bytes")
        names = sorted(e.name for e in f.list("/home/user/dir"))
        check(names == ["a.txt", "b.bin"], repr(names))
        info = f.get_info("/home/user/dir/a.txt")
        check((info.type, info.size, info.owner) == ("file", 5, "user"), repr(info))
        check(f.exists("/home/user/dir/a.txt") and not f.exists("/nope"), "exists")
        check(f.make_dir("/home/user/new/deep") is True, "make_dir")
        check(f.make_dir("/home/user/new/deep") is False, "make_dir again")
        moved = f.rename("/home/user/dir/a.txt", "/home/user/new/a.txt")
        check(moved.path == "/home/user/new/a.txt", moved.path)
        f.remove("/home/user/new")
        check(not f.exists("/home/user/new/a.txt"), "removed")
        infos = f.write_files([("/tmp/m1", "one"), ("/tmp/m2", iter([b"tw", b"o"]))])
        check(sorted(i.path for i in infos) == ["/tmp/m1", "/tmp/m2"], repr(infos))
        check(f.read("/tmp/m2") == "two", "multipart stream")
        with tempfile.TemporaryFile() as tmp:
            tmp.write(b"from a file object")
            tmp.seek(0)
            f.write("/tmp/fo", tmp)
        check(f.read("/tmp/fo") == "from a file object", "file object")
        chunks = list(f.read("/tmp/fo", format="stream"))
        check(b"".join(chunks) == b"from a file object", "stream read")
        try:
            f.read("/definitely/missing")
        except wrenn.NotFoundError:
            pass
        else:
            raise AssertionError("read of a missing file")

    def watch() -> None:
        s.files.make_dir("/tmp/watched")
        handle = s.files.watch_dir("/tmp/watched")
        got: list[wrenn.FilesystemEvent] = []

        def reader() -> None:
            for ev in handle:
                got.append(ev)
                if ev.name == "w.txt" and ev.type == "write":
                    return

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        s.files.write("/tmp/watched/w.txt", "x")
        t.join(30)
        handle.stop()
        kinds = [(e.name, e.type) for e in got]
        check(("w.txt", "create") in kinds and ("w.txt", "write") in kinds, repr(kinds))

    def big_file() -> None:
        total = 100 * MIB
        before = peak_rss_mib()
        sha = hashlib.sha256()

        def source() -> Iterator[bytes]:
            for chunk in pattern(total):
                sha.update(chunk)
                yield chunk

        s.files.write("/tmp/big.bin", source())
        remote = s.commands.run("sha256sum /tmp/big.bin", timeout=300).stdout.split()[0]
        check(remote == sha.hexdigest(), "uploaded hash")
        back = hashlib.sha256()
        size = 0
        with tempfile.NamedTemporaryFile() as out:
            for chunk in s.files.read("/tmp/big.bin", format="stream"):
                out.write(chunk)
                back.update(chunk)
                size += len(chunk)
        check(size == total and back.hexdigest() == sha.hexdigest(), "downloaded hash")
        grew = peak_rss_mib() - before
        print(f"  100 MiB round trip: client peak RSS grew {grew:.1f} MiB", flush=True)
        check(grew < 30, f"peak RSS grew {grew:.1f} MiB")

    def pty() -> None:
        out = bytearray()
        h = s.pty.create(PtySize(cols=100, rows=30), on_data=out.extend)
        s.pty.resize(h.pid, PtySize(cols=120, rows=40))
        s.pty.send_input(h.pid, "stty size; echo pty-$((40+2)); exit\n")
        h.wait(check=False)
        check(b"pty-42" in out, repr(bytes(out[-300:])))
        check(b"40 120" in out, "resized")
        h2 = s.pty.create()
        check(s.pty.kill(h2.pid) is True, "pty kill")

    def urls() -> None:
        s.commands.run(
            "cd /tmp && echo served > index.html && "
            "(nohup python3 -m http.server 8080 >/dev/null 2>&1 &)"
        )
        url = s.get_url(8080)
        check(url == f"https://8080-{s.id}.{os.environ['WRENN_DOMAIN']}", url)
        body = ""
        with httpx.Client(verify=tls(), timeout=10) as h:
            for _ in range(50):
                try:
                    r = h.get(url + "/index.html")
                    if r.status_code == 200:
                        body = r.text
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            check(body == "served\n", repr(body))
            up = h.post(s.upload_url("/tmp/signed.txt", expires_in=60), content=b"signed!")
            check(up.status_code == 200, f"upload {up.status_code} {up.text}")
            down = h.get(s.download_url("/tmp/signed.txt"))
            check(down.content == b"signed!", repr(down.content))

    def errors() -> None:
        # the error must carry the x-request-id of the answer it came from
        answered: list[str | None] = []

        def record(resp: httpx.Response) -> None:
            answered.append(resp.headers.get("x-request-id"))

        http = httpx.Client(
            base_url=os.environ["WRENN_BASE_URL"], event_hooks={"response": [record]}
        )
        with Wrenn(http_client=http) as probe:
            try:
                Sandbox.connect("sbx-doesnotexist0", client=probe)
            except wrenn.NotFoundError as e:
                check(e.status == 404 and e.code == "not_found", repr(e))
                check(len(answered) == 1 and bool(answered[0]), repr(answered))
                check(e.request_id == answered[0], f"{e.request_id} vs {answered}")
            else:
                raise AssertionError("no NotFoundError")
        http.close()
        bad = Wrenn(api_key="wrn_" + "x" * 32)
        try:
            bad.templates.list()
        except wrenn.AuthenticationError as e:
            check(e.status == 401, repr(e))
        else:
            raise AssertionError("no AuthenticationError")
        finally:
            bad.close()

    def info_metrics() -> None:
        check(s.get_info().state == "running", "running")
        m = s.metrics()
        check(m.mem_total_mb > 0, repr(m))
        s.set_timeout(600)

    def async_api() -> None:
        async def go() -> None:
            async with wrenn.AsyncWrenn() as ac:
                a = await AsyncSandbox.connect(s.id, client=ac)
                got: list[str] = []
                r = await a.commands.run("echo async", on_stdout=got.append)
                check(r.stdout == "async\n" and got == ["async\n"], repr(r))
                await a.files.write("/tmp/async.txt", "A")
                check(await a.files.read("/tmp/async.txt") == "A", "async files")
                h = await a.commands.run("echo x; sleep 0.2; echo y", background=True)
                parts = [e async for e in h]
                check(len(parts) >= 1 and h.stdout == "x\ny\n", repr(h.stdout))

        asyncio.run(go())

    def pause_connect() -> None:
        s.files.write("/home/user/keep.txt", "kept")
        s.pause()
        check(s.get_info().state == "paused", "paused")
        again = Sandbox.connect(s.id, client=client)
        check(again.info.state == "running", again.info.state)
        check(again.files.read("/home/user/keep.txt") == "kept", "file kept")
        check(again.commands.run("echo back").stdout == "back\n", "runs after resume")

    def fork_list() -> None:
        s.files.write("/home/user/before-fork.txt", "forked")
        forks = s.fork()
        made.extend(forks)
        check(len(forks) == 1 and forks[0].id != s.id, repr(forks))
        check(forks[0].files.read("/home/user/before-fork.txt") == "forked", "fork sees file")
        forks[0].files.write("/home/user/only-fork.txt", "f")
        check(not s.files.exists("/home/user/only-fork.txt"), "writes not shared")
        listed = list(Sandbox.list(metadata={"suite": SUITE}, limit=1, client=client))
        ids = {x.id for x in listed}
        check({s.id, forks[0].id} <= ids, f"paginated list {ids}")
        forks[0].kill()

    def snapshot() -> None:
        s.files.write("/home/user/snap.txt", "from snapshot")
        s.commands.run("sync")
        name = "snap-" + SUITE
        t = s.snapshot(name)
        templates_made.append(name)
        check(t.name == name, t.name)
        check(name in {x.name for x in client.snapshots()}, "listed")
        check(client.templates.get(name).name == name, "templates.get")
        child = Sandbox.create(name, client=client)
        made.append(child)
        check(child.files.read("/home/user/snap.txt") == "from snapshot", "child has file")
        child.kill()

    def account() -> None:
        check(any(t.name == "base" for t in client.templates.list()), "base template")
        with Wrenn(api_key=os.environ["WRENN_ADMIN_TOKEN"]) as admin:
            # keys are managed with a user login, not with a key
            key = admin.keys.create("sdk-py-" + SUITE)
            check(key.key.startswith("wrn_"), "key")
            check(key.id in {k.id for k in admin.keys.list()}, "key listed")
            admin.keys.delete(key.id)
            me = admin.me()
            members = admin.teams.members(me.team.id)
            check(len(members) >= 1, "members")
            created = admin.hosts.create("sdk-py-" + SUITE[3:], tags=["a"])
            hid = created.host.id
            try:
                check(created.registration_token.startswith("wrh_"), "registration token")
                check(hid in {h.id for h in admin.hosts.list()}, "host listed")
                check(sorted(admin.hosts.add_tags(hid, ["b"])) == ["a", "b"], "tags")
                admin.hosts.remove_tag(hid, "a")
                check(admin.hosts.tags(hid) == ["b"], "tag removed")
                check(admin.hosts.drain(hid).draining is True, "drain")
            finally:
                admin.hosts.delete(hid)

    def kill() -> None:
        s.kill()
        try:
            state = s.get_info().state
            check(state == "stopped", state)
        except wrenn.NotFoundError:
            pass

    def pool_usage() -> None:
        # the harness's team has no plan: docs/api.md, "Pools and usage"
        pool = client.pool()
        check(pool.plan is None and pool.size is None, f"no plan: {pool!r}")
        check(pool.over is False, "not over")
        check(pool.used.running == 0, f"nothing left running: {pool.used!r}")
        usage = client.usage("sandbox")
        check(usage.by == "sandbox", usage.by)
        mine = [e for e in usage.entries if e.key == s.id]
        check(len(mine) == 1, f"{s.id} in {[e.key for e in usage.entries]}")
        check(mine[0].running_seconds > 0, repr(mine[0]))
        check(mine[0].vcpu_seconds > 0 and mine[0].template == "base", repr(mine[0]))
        ran = [i for i in client.usage_export() if i.sandbox_id == s.id]
        check(any(i.phase == "running" and i.ended_at for i in ran), repr(ran))
        check(any(i.phase == "paused" for i in ran), f"the pause was metered: {ran!r}")
        invoice = client.invoice()
        check(invoice.plan is None and invoice.total_cents == 0, repr(invoice))

    for name, fn in [
        ("run", run),
        ("command exit error", exit_error),
        ("stream", stream),
        ("background + reconnect by pid", background),
        ("stdin", stdin),
        ("files", files),
        ("watch_dir", watch),
        ("100 MiB round trip, flat memory", big_file),
        ("pty", pty),
        ("get_url over https + signed file URLs", urls),
        ("error mapping on a real 404 / 401", errors),
        ("info, metrics, set_timeout", info_metrics),
        ("async API", async_api),
        ("pause -> connect resumes", pause_connect),
        ("fork + paginated list", fork_list),
        ("snapshot -> sandbox from it", snapshot),
        ("templates, keys, teams, hosts", account),
        ("kill", kill),
        ("pool, usage by sandbox, export, invoice", pool_usage),
    ]:
        step(name, fn)
    return finish(client)


def finish(client: Wrenn) -> int:
    for sb in made:
        try:
            sb.kill()
        except Exception as e:
            print(f"cleanup: kill {sb.id}: {e}", file=sys.stderr)
    for name in templates_made:
        try:
            client.templates.delete(name)
        except Exception as e:
            print(f"cleanup: template {name}: {e}", file=sys.stderr)
    client.close()
    passed = sum(ok for _, ok in results)
    failed = len(results) - passed
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    code = main()
    passed = sum(ok for _, ok in results)
    failed = len(results) - passed
    print(f"scenario: {passed} passed, {failed} failed")
    sys.exit(code)
