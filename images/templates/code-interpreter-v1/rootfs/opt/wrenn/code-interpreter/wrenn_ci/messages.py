"""Maps Jupyter messaging-protocol iopub messages onto the NDJSON lines the
`e2b-code-interpreter` SDK parses (`e2b_code_interpreter.models._parse_output`).
Pure functions: no I/O, no kernel, so they are unit tested on the host."""
import json
import time
from typing import Any, Dict, List, Optional

# MIME type -> the SDK's Result field.
MIME_FIELDS = {
    "text/plain": "text",
    "text/html": "html",
    "text/markdown": "markdown",
    "image/svg+xml": "svg",
    "image/png": "png",
    "image/jpeg": "jpeg",
    "application/pdf": "pdf",
    "text/latex": "latex",
    "application/json": "json",
    "application/javascript": "javascript",
}


def now_ns() -> int:
    return time.time_ns()


def stream_line(name: str, text: str, ts: Optional[int] = None) -> Dict[str, Any]:
    """`stream` message -> {"type": "stdout"|"stderr", "text", "timestamp"}."""
    kind = "stderr" if name == "stderr" else "stdout"
    return {"type": kind, "text": text, "timestamp": now_ns() if ts is None else ts}


def result_line(data: Dict[str, Any], is_main_result: bool) -> Dict[str, Any]:
    """`execute_result` / `display_data` bundle -> a result line. Known MIME
    types become the SDK's fields; others are kept under `extra`."""
    out: Dict[str, Any] = {"type": "result", "is_main_result": is_main_result}
    extra: Dict[str, Any] = {}
    for mime, value in data.items():
        field = MIME_FIELDS.get(mime)
        if field is None:
            extra[mime] = value
            continue
        if isinstance(value, list):  # nbformat multi-line strings
            value = "".join(value)
        if field == "json" and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        if field in ("png", "jpeg") and isinstance(value, str):
            value = value.replace("\n", "")
        out[field] = value
    if extra:
        out["extra"] = extra
    return out


def error_line(ename: str, evalue: str, traceback: List[str]) -> Dict[str, Any]:
    return {
        "type": "error",
        "name": ename,
        "value": evalue,
        "traceback": "\n".join(traceback),
    }


def count_line(execution_count: Optional[int]) -> Dict[str, Any]:
    return {"type": "number_of_executions", "execution_count": execution_count}


END = {"type": "end_of_execution"}
UNEXPECTED_END = {"type": "unexpected_end_of_execution"}


def map_iopub(msg: Dict[str, Any]) -> List[Dict[str, Any]]:
    """One iopub message (jupyter_client dict form) -> zero or more lines.
    `status`, `execute_input`, `clear_output` and comm traffic map to none."""
    kind = msg.get("msg_type") or msg.get("header", {}).get("msg_type")
    content = msg.get("content", {})
    if kind == "stream":
        return [stream_line(content.get("name", "stdout"), content.get("text", ""))]
    if kind == "execute_result":
        return [result_line(content.get("data", {}), True)]
    if kind == "display_data":
        return [result_line(content.get("data", {}), False)]
    if kind == "error":
        return [
            error_line(
                content.get("ename", ""),
                content.get("evalue", ""),
                content.get("traceback", []),
            )
        ]
    return []


def ndjson(line: Dict[str, Any]) -> bytes:
    return (json.dumps(line, separators=(",", ":")) + "\n").encode()
