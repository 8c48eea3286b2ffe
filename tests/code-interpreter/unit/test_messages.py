"""The server's message mapping, checked against the SDK's own parser
(e2b_code_interpreter.models.parse_output): no kernel, no VM."""
import base64
import json

from e2b_code_interpreter.models import Execution, parse_output

from wrenn_ci import execute, messages


def parse(lines):
    ex = Execution()
    for line in lines:
        parse_output(ex, messages.ndjson(line).decode().strip())
    return ex


def iopub(kind, **content):
    return {"msg_type": kind, "content": content}


def test_stream_when_stdout_and_stderr_then_logs():
    lines = messages.map_iopub(iopub("stream", name="stdout", text="hi\n"))
    lines += messages.map_iopub(iopub("stream", name="stderr", text="oops\n"))
    ex = parse(lines)
    assert ex.logs.stdout == ["hi\n"]
    assert ex.logs.stderr == ["oops\n"]
    assert isinstance(lines[0]["timestamp"], int)


def test_execute_result_when_text_then_main_result():
    ex = parse(messages.map_iopub(iopub("execute_result", data={"text/plain": "2"}, execution_count=1)))
    assert ex.text == "2"
    assert ex.results[0].is_main_result is True


def test_display_data_when_png_html_svg_json_then_fields():
    png = base64.b64encode(b"\x89PNG\r\n\x1a\nxx").decode()
    data = {
        "image/png": png[:4] + "\n" + png[4:],
        "text/html": ["<b>", "x</b>"],
        "image/svg+xml": "<svg/>",
        "application/json": {"a": 1},
        "text/plain": "<Figure>",
        "application/vnd.custom": "z",
    }
    ex = parse(messages.map_iopub(iopub("display_data", data=data)))
    r = ex.results[0]
    assert r.is_main_result is False
    assert base64.b64decode(r.png).startswith(b"\x89PNG")
    assert r.html == "<b>x</b>"
    assert r.svg == "<svg/>"
    assert r.json == {"a": 1}
    assert r.extra == {"application/vnd.custom": "z"}
    assert set(r.formats()) >= {"png", "html", "svg", "json"}


def test_error_when_traceback_then_name_value_joined():
    ex = parse(messages.map_iopub(iopub("error", ename="ValueError", evalue="bad", traceback=["l1", "l2"])))
    assert (ex.error.name, ex.error.value, ex.error.traceback) == ("ValueError", "bad", "l1\nl2")


def test_count_and_end_when_parsed_then_execution_count():
    ex = parse([messages.count_line(7), messages.END])
    assert ex.execution_count == 7


def test_status_and_input_when_mapped_then_nothing():
    assert messages.map_iopub(iopub("status", execution_state="busy")) == []
    assert messages.map_iopub(iopub("execute_input", code="1", execution_count=1)) == []


def test_env_code_when_run_then_set_and_restored(monkeypatch):
    monkeypatch.setenv("KEEP", "old")
    monkeypatch.delenv("NEW", raising=False)
    ns = {}
    exec(execute.env_set_code({"KEEP": "new", "NEW": "x'\"\\"}), ns)
    import os
    assert os.environ["KEEP"] == "new" and os.environ["NEW"] == "x'\"\\"
    exec(execute.ENV_RESTORE_CODE, ns)
    assert os.environ["KEEP"] == "old" and "NEW" not in os.environ
    assert not [k for k in ns if k.startswith("_wrenn")]


def test_ndjson_when_encoded_then_one_line():
    b = messages.ndjson({"type": "stdout", "text": "a\nb", "timestamp": 1})
    assert b.endswith(b"\n") and b.count(b"\n") == 1
    assert json.loads(b)["text"] == "a\nb"
