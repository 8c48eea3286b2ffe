"""The Connect wire itself: codecs, framing and error codes, with raw HTTP."""
import base64
import json
import struct
import time

import pytest


def frame(payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


def frames(body: bytes):
    out = []
    while body:
        flags, length = struct.unpack(">BI", body[:5])
        out.append((flags, body[5 : 5 + length]))
        body = body[5 + length :]
    return out


@pytest.mark.vm
def test_health_is_204_with_version(envd):
    r = envd.get("/health")
    assert r.status_code == 204
    major, minor, patch = map(int, r.headers["x-envd-version"].split("."))
    assert (major, minor, patch) >= (0, 6, 13)


def test_unary_json_list(envd):
    r = envd.post("/process.Process/List", content=b"{}", headers={"content-type": "application/json"})
    assert r.status_code == 200
    assert "processes" in r.json() or r.json() == {}


def test_unary_binary_proto_list(envd):
    r = envd.post("/process.Process/List", content=b"", headers={"content-type": "application/proto"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/proto"


def test_wrong_content_type_is_415(envd):
    r = envd.post("/process.Process/List", content=b"{}", headers={"content-type": "text/plain"})
    assert r.status_code == 415


def test_unknown_method_is_unimplemented(envd):
    r = envd.post("/process.Process/Nope", content=b"{}", headers={"content-type": "application/json"})
    assert r.status_code == 501
    assert r.json()["code"] == "unimplemented"


def test_malformed_json_is_invalid_argument(envd):
    r = envd.post("/filesystem.Filesystem/Stat", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_argument"


def test_stat_missing_is_not_found_code(envd):
    r = envd.post("/filesystem.Filesystem/Stat", json={"path": "/no/such"}, headers={"content-type": "application/json"})
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


def test_make_dir_existing_is_already_exists(envd):
    r = envd.post("/filesystem.Filesystem/MakeDir", json={"path": "/tmp"}, headers={"content-type": "application/json"})
    assert r.json()["code"] == "already_exists"


@pytest.mark.vm
def test_stream_start_json_frames(envd):
    body = frame(json.dumps({"process": {"cmd": "/bin/echo", "args": ["framed"]}}).encode())
    r = envd.post("/process.Process/Start", content=body, headers={"content-type": "application/connect+json"})
    assert r.status_code == 200
    got = frames(r.content)
    assert got[-1][0] == 2 and json.loads(got[-1][1]) == {}
    events = [json.loads(p)["event"] for f, p in got[:-1]]
    assert "start" in events[0]
    out = b"".join(base64.b64decode(e["data"]["stdout"]) for e in events if "data" in e)
    assert out == b"framed\n"
    end = [e["end"] for e in events if "end" in e][0]
    assert end["exited"] is True and end.get("exitCode", 0) == 0


def test_stream_cut_frame_ends_with_invalid_argument(envd):
    body = frame(b"{}")[:4]
    r = envd.post("/process.Process/Start", content=body, headers={"content-type": "application/connect+json"})
    flags, payload = frames(r.content)[-1]
    assert flags == 2
    assert json.loads(payload)["error"]["code"] == "invalid_argument"


def test_stream_connect_unknown_pid_is_not_found(envd):
    body = frame(json.dumps({"process": {"pid": 999999}}).encode())
    r = envd.post("/process.Process/Connect", content=body, headers={"content-type": "application/connect+json"})
    flags, payload = frames(r.content)[-1]
    assert json.loads(payload)["error"]["code"] == "not_found"


def test_stream_input_client_stream(envd, sandbox):
    handle = sandbox.commands.run("cat", background=True, stdin=True)
    msgs = [
        {"start": {"process": {"pid": handle.pid}}},
        {"data": {"input": {"stdin": base64.b64encode(b"via stream\n").decode()}}},
        {"keepalive": {}},
    ]
    body = b"".join(frame(json.dumps(m).encode()) for m in msgs)
    r = envd.post("/process.Process/StreamInput", content=body, headers={"content-type": "application/connect+json"})
    flags, payload = frames(r.content)[-1]
    assert flags == 2 and json.loads(payload) == {}
    sandbox.commands.close_stdin(handle.pid)
    assert handle.wait().stdout == "via stream\n"


def test_files_upload_wrong_content_type_is_415(envd):
    r = envd.post("/files", params={"path": "x"}, content=b"x", headers={"content-type": "text/plain"})
    assert r.status_code == 415


def test_files_download_gzip(envd, sandbox):
    sandbox.files.write("/tmp/envd-gz.txt", "z" * 10000, user="root")
    r = envd.get("/files", params={"path": "/tmp/envd-gz.txt", "username": "root"}, headers={"accept-encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert r.text == "z" * 10000


def test_envs_and_metrics(envd):
    assert envd.get("/envs").status_code == 200
    m = envd.get("/metrics").json()
    assert m["cpu_count"] >= 1 and m["mem_total"] > 0 and m["disk_total"] > 0


def test_tagged_process_can_be_found_and_signalled_by_tag(envd):
    import threading

    tag = "wire-tag-test"
    body = frame(json.dumps({"process": {"cmd": "/bin/sleep", "args": ["30"]}, "tag": tag}).encode())
    result = {}

    def start():
        result["r"] = envd.post("/process.Process/Start", content=body,
                                headers={"content-type": "application/connect+json"})

    t = threading.Thread(target=start)
    t.start()
    listed = []
    for _ in range(50):
        listed = envd.post("/process.Process/List", json={}, headers={"content-type": "application/json"}).json()
        if any(p.get("tag") == tag for p in listed.get("processes", [])):
            break
        time.sleep(0.1)
    assert any(p.get("tag") == tag for p in listed.get("processes", []))
    r = envd.post("/process.Process/SendSignal", json={"process": {"tag": tag}, "signal": "SIGNAL_SIGTERM"},
                  headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    t.join(20)
    events = [json.loads(p)["event"] for f, p in frames(result["r"].content)[:-1]]
    end = [e["end"] for e in events if "end" in e][0]
    assert end["status"] == "signal: terminated" and end["exitCode"] == -1


def test_unknown_json_fields_are_ignored(envd):
    r = envd.post("/filesystem.Filesystem/Stat", json={"path": "/tmp", "notAField": {"x": [1]}},
                  headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text


def test_client_disconnect_mid_stream_leaves_envd_serving(envd, sandbox):
    body = frame(json.dumps({"process": {"cmd": "/usr/bin/yes"}, "tag": "loud-disconnect"}).encode())
    with envd.stream("POST", "/process.Process/Start", content=body,
                     headers={"content-type": "application/connect+json"}) as r:
        got = 0
        for chunk in r.iter_bytes():
            got += len(chunk)
            if got > 1 << 20:
                break
    # The stream is gone; the process runs on, unread output is drained,
    # and everyone else is still served.
    assert sandbox.commands.run("echo fine").stdout == "fine\n"
    pids = [p.pid for p in sandbox.commands.list() if p.tag == "loud-disconnect"]
    assert len(pids) == 1
    assert sandbox.commands.kill(pids[0]) is True
