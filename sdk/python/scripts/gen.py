"""Generate the SDK's derived sources, or check that the committed ones match.

- ``wrenn/_proto``: protobuf messages from ``crates/wrenn-proto/proto`` (grpcio-tools).
- ``wrenn/_models.py``: pydantic models from ``crates/wrenn-cp/openapi.json``
  (datamodel-code-generator).
- ``wrenn/_sync``: the synchronous API, rewritten from ``wrenn/_async``.

``python scripts/gen.py`` writes them; ``python scripts/gen.py --check`` fails
(exit 1) when a committed file differs from what would be generated, so drift
of the OpenAPI document or the protos fails ``scripts/check.sh``.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SDK = Path(__file__).resolve().parent.parent
REPO = SDK.parent.parent
PROTO_ROOT = REPO / "crates" / "wrenn-proto" / "proto"
# WRENN_SDK_OPENAPI: another document, to try the generator on (e.g. a branch's)
OPENAPI = Path(
    os.environ.get("WRENN_SDK_OPENAPI") or REPO / "crates" / "wrenn-cp" / "openapi.json"
).resolve()
PROTOS = ["process/process.proto", "filesystem/filesystem.proto"]

# Async → sync rewrites, applied in order to every line of wrenn/_async/*.py.
UNASYNC: list[tuple[str, str]] = [
    (r"\basync def\b", "def"),
    (r"\basync for\b", "for"),
    (r"\basync with\b", "with"),
    (r"\bawait ", ""),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\b__aiter__\b", "__iter__"),
    (r"\b__anext__\b", "__next__"),
    (r"\baiter_bytes\b", "iter_bytes"),
    (r"\baiter_raw\b", "iter_raw"),
    (r"\baiter_lines\b", "iter_lines"),
    (r"\baread\b", "read"),
    (r"\baclose\b", "close"),
    (r"\banext\(", "next("),
    (r"\bStopAsyncIteration\b", "StopIteration"),
    (r"\bAsync([A-Z]\w*)", r"\1"),
    (r"\bwrenn\._async\b", "wrenn._sync"),
    (r"\basync_(\w+)", r"sync_\1"),
]
HEADER = "# Generated from wrenn/_async by scripts/gen.py: do not edit.\n"


def unasync(text: str) -> str:
    out = []
    for line in text.splitlines(keepends=True):
        for pattern, repl in UNASYNC:
            line = re.sub(pattern, repl, line)
        out.append(line)
    return HEADER + "".join(out)


def ruff_format(paths: list[Path]) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "format",
            "--quiet",
            "--config",
            str(SDK / "pyproject.toml"),
            *map(str, paths),
        ],
        check=True,
        cwd=SDK,
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--quiet",
            "--fix",
            "--config",
            str(SDK / "pyproject.toml"),
            "--select",
            "I,F401",
            *map(str, paths),
        ],
        check=False,
        cwd=SDK,
    )


def gen_proto(dest: Path) -> None:
    out = dest / "_proto"
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            *PROTOS,
        ],
        check=True,
    )
    for pkg in ["", "process", "filesystem"]:
        (out / pkg / "__init__.py").write_text("")


def gen_models(dest: Path) -> None:
    # generated beside the package so that every formatter sees its pyproject.toml
    target = SDK / "wrenn" / "_models.gen.py"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "datamodel_code_generator",
            "--input",
            str(OPENAPI),
            "--input-file-type",
            "openapi",
            "--output",
            str(target),
            "--output-model-type",
            "pydantic_v2.BaseModel",
            "--target-python-version",
            "3.10",
            "--use-standard-collections",
            "--use-union-operator",
            "--disable-timestamp",
            "--use-schema-description",
            "--field-constraints",
            "--enum-field-as-literal",
            "all",
            "--use-double-quotes",
            "--collapse-root-models",
            "--formatters",
            "ruff-format",
        ],
        check=True,
    )
    text = target.read_text().replace(
        "#   filename:  " + str(OPENAPI), "#   filename:  openapi.json"
    )
    target.write_text(text)
    ruff_format([target])
    target.replace(dest / "_models.py")


def gen_sync(dest: Path) -> None:
    out = dest / "_sync"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sorted((SDK / "wrenn" / "_async").glob("*.py")):
        if src.name == "_compat.py":
            continue  # hand-written in both flavours
        target = out / src.name
        target.write_text(unasync(src.read_text()))
        written.append(target)
    ruff_format(written)


def generate(dest: Path) -> None:
    gen_proto(dest)
    gen_models(dest)
    gen_sync(dest)


def compare(fresh: Path, committed: Path) -> list[str]:
    drift = []
    for f in sorted(fresh.rglob("*")):
        if f.is_dir() or "__pycache__" in f.parts:
            continue
        rel = f.relative_to(fresh)
        other = committed / rel
        if not other.exists() or not filecmp.cmp(f, other, shallow=False):
            drift.append(str(rel))
    return drift


def main() -> int:
    if "--check" in sys.argv:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / "wrenn"
            fresh.mkdir()
            # the sync copy is formatted with the package's ruff settings
            (fresh / "_sync").mkdir()
            generate(fresh)
            drift = compare(fresh, SDK / "wrenn")
        if drift:
            print("generated files differ (run scripts/gen.py):", *drift, sep="\n  ")
            return 1
        print("generated files up to date")
        return 0
    dest = SDK / "wrenn"
    shutil.rmtree(dest / "_proto", ignore_errors=True)
    generate(dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
