"""HTTP surface on port 49999 (tornado, which ipykernel already brings):
  GET    /health                   200 once the default Python kernel is warm
  POST   /execute                  NDJSON stream of one execution
  GET    /contexts                 [{id, language, cwd}]
  POST   /contexts                 {language?, cwd?} -> {id, language, cwd}
  DELETE /contexts/{id}            204
  POST   /contexts/{id}/restart    204
  POST   /contexts/{id}/interrupt  204
Sandbox-wide env vars come from envd's GET /envs (as set at sandbox create)."""
import argparse
import asyncio
import json
import logging
import os
import urllib.request
from typing import Dict, Optional

import tornado.iostream
import tornado.web

from . import execute, messages
from .kernels import WARM_CODE, ContextError, Contexts

log = logging.getLogger("wrenn_ci")
ENVD_ENVS_URL = "http://127.0.0.1:49983/envs"


def fetch_sandbox_envs(token: Optional[str]) -> Dict[str, str]:
    req = urllib.request.Request(ENVD_ENVS_URL)
    if token:
        req.add_header("X-Access-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=2) as res:
            data = json.loads(res.read() or b"{}")
            return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except Exception:
        return {}


class Base(tornado.web.RequestHandler):
    @property
    def contexts(self) -> Contexts:
        return self.application.settings["contexts"]

    def body_json(self) -> dict:
        if not self.request.body:
            return {}
        try:
            data = json.loads(self.request.body)
        except ValueError:
            raise tornado.web.HTTPError(400, reason="body is not JSON")
        if not isinstance(data, dict):
            raise tornado.web.HTTPError(400, reason="body must be a JSON object")
        return data

    def fail(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": message}))

    def write_error(self, status_code: int, **kwargs) -> None:
        self.fail(status_code, self._reason)


class Health(Base):
    def get(self) -> None:
        if not self.application.settings["ready"].is_set():
            return self.fail(503, "starting")
        self.finish("OK")


class Execute(Base):
    def initialize(self) -> None:
        self.gone = asyncio.Event()

    def on_connection_close(self) -> None:
        self.gone.set()

    async def post(self) -> None:
        body = self.body_json()
        code = body.get("code")
        if not isinstance(code, str):
            return self.fail(400, "'code' must be a string")
        context_id, language = body.get("context_id"), body.get("language")
        if context_id and language:
            return self.fail(400, "give 'context_id' or 'language', not both")
        env_vars = body.get("env_vars") or {}
        if not isinstance(env_vars, dict):
            return self.fail(400, "'env_vars' must be an object")
        env_vars = {str(k): str(v) for k, v in env_vars.items()}
        try:
            ctx = self.contexts.get(context_id) if context_id else await self.contexts.default(language)
        except ContextError as e:
            return self.fail(e.status, str(e))
        sandbox_envs = await asyncio.get_running_loop().run_in_executor(
            None, fetch_sandbox_envs, self.request.headers.get("X-Access-Token")
        )
        self.set_header("Content-Type", "application/x-ndjson")
        self.set_header("Cache-Control", "no-store")
        stream = execute.run(ctx, code, env_vars, sandbox_envs)
        gone = asyncio.ensure_future(self.gone.wait())
        try:
            while True:
                step = asyncio.ensure_future(stream.__anext__())
                await asyncio.wait([step, gone], return_when=asyncio.FIRST_COMPLETED)
                if not step.done():
                    step.cancel()
                    try:
                        await step
                    except BaseException:
                        pass
                    return
                try:
                    line = step.result()
                except StopAsyncIteration:
                    break
                self.write(messages.ndjson(line))
                await self.flush()
        except tornado.iostream.StreamClosedError:
            return
        finally:
            gone.cancel()
            await stream.aclose()
        self.finish()


class ContextList(Base):
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps([c.to_json() for c in self.contexts.list()]))

    async def post(self) -> None:
        body = self.body_json()
        try:
            ctx = await self.contexts.create(body.get("language"), body.get("cwd"))
        except ContextError as e:
            return self.fail(e.status, str(e))
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(ctx.to_json()))


class ContextItem(Base):
    async def delete(self, context_id: str) -> None:
        try:
            await self.contexts.remove(context_id)
        except ContextError as e:
            return self.fail(e.status, str(e))
        self.set_status(204)
        self.finish()


class ContextAction(Base):
    async def post(self, context_id: str, action: str) -> None:
        try:
            ctx = self.contexts.get(context_id)
        except ContextError as e:
            return self.fail(e.status, str(e))
        if action == "restart":
            await ctx.restart()
        else:
            await ctx.km.interrupt_kernel()
        self.set_status(204)
        self.finish()


def make_app(contexts: Contexts, ready: asyncio.Event) -> tornado.web.Application:
    return tornado.web.Application(
        [
            (r"/health", Health),
            (r"/execute", Execute),
            (r"/contexts", ContextList),
            (r"/contexts/([^/]+)", ContextItem),
            (r"/contexts/([^/]+)/(restart|interrupt)", ContextAction),
        ],
        contexts=contexts,
        ready=ready,
    )


async def warm(contexts: Contexts, ready: asyncio.Event) -> None:
    ctx = await contexts.default(None)
    async with ctx.lock:
        await execute.silent(ctx, WARM_CODE)
    ready.set()
    log.info("default python context %s ready", ctx.id)


async def serve(host: str, port: int, cwd: str) -> None:
    contexts = Contexts(cwd)
    ready = asyncio.Event()
    make_app(contexts, ready).listen(port, address=host)
    log.info("listening on %s:%d", host, port)
    try:
        await warm(contexts, ready)
        await asyncio.Event().wait()
    finally:
        await contexts.shutdown()


def main() -> None:
    p = argparse.ArgumentParser(prog="wrenn_ci", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=49999)
    p.add_argument("--cwd", default=os.environ.get("HOME") or os.getcwd())
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(serve(args.host, args.port, args.cwd))
