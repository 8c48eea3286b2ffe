"""Contexts: one Jupyter kernel each (jupyter_client AsyncKernelManager over
ipykernel), a lock so executions in one context run one at a time, and a
default context per language made on first use."""
import asyncio
import os
import uuid
from typing import Dict, List, Optional

from jupyter_client.manager import AsyncKernelManager

# SDK language -> installed kernel spec. JavaScript is not in this template.
KERNELS = {"python": "python3"}
DEFAULT_LANGUAGE = "python"
# Names bound by nothing: modules imported into the default kernel before the
# template's memory snapshot so the first run_code does not pay for them.
WARM_CODE = (
    "import importlib as _w\n"
    "for _m in ('numpy', 'pandas', 'matplotlib.pyplot'):\n"
    "    try:\n"
    "        _w.import_module(_m)\n"
    "    except Exception:\n"
    "        pass\n"
    "del _w, _m\n"
)


class ContextError(Exception):
    status = 400


class UnknownContext(ContextError):
    status = 404

    def __init__(self, context_id: str):
        super().__init__(f"context '{context_id}' not found")


class UnsupportedLanguage(ContextError):
    def __init__(self, language: str):
        super().__init__(
            f"language '{language}' is not available in this template "
            f"(supported: {', '.join(sorted(KERNELS))})"
        )


def kernel_env() -> Dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return env


class Context:
    def __init__(self, language: str, cwd: str):
        self.id = str(uuid.uuid4())
        self.language = language
        self.cwd = cwd
        self.lock = asyncio.Lock()
        self.km: Optional[AsyncKernelManager] = None
        self.client = None
        # Sandbox-wide env vars (envd /envs) last applied in this kernel.
        self.applied_envs: Dict[str, str] = {}

    async def start(self) -> None:
        self.km = AsyncKernelManager(kernel_name=KERNELS[self.language])
        await self.km.start_kernel(cwd=self.cwd, env=kernel_env())
        await self._connect()

    async def _connect(self) -> None:
        if self.client is not None:
            self.client.stop_channels()
        self.client = self.km.client()
        self.client.start_channels()
        await self.client.wait_for_ready(timeout=60)

    async def restart(self) -> None:
        async with self.lock:
            await self.km.restart_kernel(now=True, env=kernel_env())
            self.applied_envs = {}
            await self._connect()

    async def shutdown(self) -> None:
        if self.client is not None:
            self.client.stop_channels()
        if self.km is not None:
            await self.km.shutdown_kernel(now=True)

    def to_json(self) -> Dict[str, str]:
        return {"id": self.id, "language": self.language, "cwd": self.cwd}


class Contexts:
    def __init__(self, default_cwd: str):
        self.default_cwd = default_cwd
        self._all: Dict[str, Context] = {}
        self._defaults: Dict[str, Context] = {}
        self._default_lock = asyncio.Lock()

    @staticmethod
    def language(language: Optional[str]) -> str:
        language = (language or DEFAULT_LANGUAGE).lower()
        if language not in KERNELS:
            raise UnsupportedLanguage(language)
        return language

    async def create(self, language: Optional[str], cwd: Optional[str]) -> Context:
        ctx = Context(self.language(language), cwd or self.default_cwd)
        await ctx.start()
        self._all[ctx.id] = ctx
        return ctx

    async def default(self, language: Optional[str]) -> Context:
        language = self.language(language)
        async with self._default_lock:
            ctx = self._defaults.get(language)
            if ctx is None:
                ctx = await self.create(language, None)
                self._defaults[language] = ctx
            return ctx

    def get(self, context_id: str) -> Context:
        ctx = self._all.get(context_id)
        if ctx is None:
            raise UnknownContext(context_id)
        return ctx

    def list(self) -> List[Context]:
        return list(self._all.values())

    async def remove(self, context_id: str) -> None:
        ctx = self.get(context_id)
        del self._all[context_id]
        for lang, d in list(self._defaults.items()):
            if d is ctx:
                del self._defaults[lang]
        await ctx.shutdown()

    async def shutdown(self) -> None:
        for ctx in list(self._all.values()):
            await ctx.shutdown()
        self._all.clear()
        self._defaults.clear()
