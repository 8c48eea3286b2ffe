"""One execution in a context: env vars applied around it, the code sent as
an execute_request, the iopub messages of that request streamed as SDK lines
until the kernel is idle, the execution count from the reply. A cancelled
execution (the client went away: the SDK's timeout) interrupts the kernel."""
import asyncio
import json
from queue import Empty
from typing import Any, AsyncIterator, Dict, List, Optional

from . import messages
from .kernels import Context

POLL_SECS = 1.0


def env_set_code(env: Dict[str, str]) -> str:
    """Python that sets ENV in the kernel, remembering the previous values."""
    return (
        "import os as _wrenn_os\n"
        f"_wrenn_env = {json.dumps(env)}\n"
        "_wrenn_saved = {k: _wrenn_os.environ.get(k) for k in _wrenn_env}\n"
        "_wrenn_os.environ.update(_wrenn_env)\n"
        "del _wrenn_env\n"
    )


ENV_RESTORE_CODE = (
    "for _wrenn_k, _wrenn_v in _wrenn_saved.items():\n"
    "    if _wrenn_v is None:\n"
    "        _wrenn_os.environ.pop(_wrenn_k, None)\n"
    "    else:\n"
    "        _wrenn_os.environ[_wrenn_k] = _wrenn_v\n"
    "del _wrenn_saved, _wrenn_os\n"
    "try:\n"
    "    del _wrenn_k, _wrenn_v\n"
    "except NameError:\n"
    "    pass\n"
)


def env_apply_code(env: Dict[str, str]) -> str:
    """Python that sets sandbox-wide ENV for good."""
    return f"import os as _wrenn_os\n_wrenn_os.environ.update({json.dumps(env)})\ndel _wrenn_os\n"


async def _drain(ctx: Context, msg_id: str, lines: Optional[List[Dict[str, Any]]]) -> None:
    """Reads iopub until the kernel is idle for MSG_ID, appending mapped lines."""
    while True:
        try:
            msg = await ctx.client.get_iopub_msg(timeout=POLL_SECS)
        except Empty:
            if not await ctx.km.is_alive():
                raise KernelDied()
            continue
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
            return
        if lines is not None:
            lines.extend(messages.map_iopub(msg))


async def _reply(ctx: Context, msg_id: str) -> Dict[str, Any]:
    while True:
        try:
            msg = await ctx.client.get_shell_msg(timeout=POLL_SECS)
        except Empty:
            if not await ctx.km.is_alive():
                raise KernelDied()
            continue
        if msg.get("parent_header", {}).get("msg_id") == msg_id:
            return msg


class KernelDied(Exception):
    pass


async def silent(ctx: Context, code: str) -> None:
    msg_id = ctx.client.execute(code, silent=True, store_history=False, allow_stdin=False)
    await _drain(ctx, msg_id, None)
    await _reply(ctx, msg_id)


async def run(
    ctx: Context,
    code: str,
    env_vars: Optional[Dict[str, str]],
    sandbox_envs: Optional[Dict[str, str]],
) -> AsyncIterator[Dict[str, Any]]:
    """Yields the SDK's NDJSON lines for one execution (the caller holds no
    lock; this takes the context's)."""
    async with ctx.lock:
        if sandbox_envs and sandbox_envs != ctx.applied_envs:
            await silent(ctx, env_apply_code(sandbox_envs))
            ctx.applied_envs = dict(sandbox_envs)
        if env_vars:
            await silent(ctx, env_set_code(env_vars))
        done = False
        try:
            msg_id = ctx.client.execute(code, store_history=True, allow_stdin=False, stop_on_error=True)
            pending: List[Dict[str, Any]] = []
            drain = asyncio.ensure_future(_drain(ctx, msg_id, pending))
            try:
                while True:
                    finished = drain.done()
                    if pending:
                        batch, pending[:] = list(pending), []
                        for line in batch:
                            yield line
                    if finished:
                        drain.result()
                        break
                    await asyncio.wait([drain], timeout=0.02)
            except KernelDied:
                yield messages.error_line("KernelDied", "the kernel exited during the execution", [])
                yield messages.UNEXPECTED_END
                done = True
                return
            finally:
                if not drain.done():
                    drain.cancel()
            reply = await _reply(ctx, msg_id)
            yield messages.count_line(reply["content"].get("execution_count"))
            yield messages.END
            done = True
        finally:
            if not done:
                # Cancelled mid-run (client gone): stop the code, settle the kernel.
                try:
                    await ctx.km.interrupt_kernel()
                    await asyncio.wait_for(_drain(ctx, msg_id, None), 10)
                except Exception:
                    pass
            if env_vars:
                try:
                    await silent(ctx, ENV_RESTORE_CODE)
                except Exception:
                    pass
