#!/usr/bin/env python3
"""Import cycles between the modules of each crate (style rule: arrows point
down; when two modules need each other, the shared part is a third, lower
module).

For every crate root (crates/*/src/lib.rs and main.rs) the module tree is
read from `mod` declarations (files, `mod.rs`, `#[path]`, inline `mod x {}`),
and every reference `crate::a::b`, `super::x`, `self::x`, `use` trees and
names a module imported (`use crate::db;` then `db::audit::list`) becomes an
edge from the module holding the reference to the deepest module the path
names (`crate::api::rfc3339` -> `api`, `crate::db::audit::Row` -> `db::audit`).
A module and its submodules count as one: each module also "contains" its
children, so `db::audit -> api` and `api::audit_log -> db::audit` close a
cycle `api <-> db::audit`. References from a module to its own descendants or
ancestors (a parent using its child, `use super::*` in tests) are never
edges, nor are references from `#[cfg(test)]` modules (test code may reach
anywhere), and a `mod` declaration is containment, not a reference.

    tests/lint/module_cycles.py [--all] [ROOT]   check ROOT (default: this repository)
    tests/lint/module_cycles.py --self-test

Prints each group of modules that depend on each other and its shortest
cycles with the references that make them (`--all`: every cycle), then
`cycles: N passed, M failed` (one check per crate root); exits 1 on a cycle.
Python 3.11 standard library only.
"""

from __future__ import annotations

import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

Module = tuple[str, ...]  # path from the crate root; () is the root


@dataclass
class Crate:
    name: str
    root: Path
    modules: set[Module] = field(default_factory=set)
    # `#[cfg(test)]` modules: their references are not edges
    tests: set[Module] = field(default_factory=set)
    # (source, target) -> first place seen, "file:line"
    refs: dict[tuple[Module, Module], str] = field(default_factory=dict)


# ---------------------------------------------------------------- lexing


def strip_code(text: str) -> str:
    """Blanks comments, string and char literals (newlines kept, so line
    numbers survive); lifetimes are left alone."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(blank(text[i:j]))
            i = j
        elif m := re.compile(r'b?r(#*)"').match(text, i):
            if i and (text[i - 1].isalnum() or text[i - 1] == "_"):
                out.append(c)
                i += 1
                continue
            end = '"' + m[1]
            j = text.find(end, m.end())
            j = n if j < 0 else j + len(end)
            out.append(blank(text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(blank(text[i : j + 1]))
            i = j + 1
        elif c == "'":
            m = re.compile(r"'(\\.[^']*|[^\\'])'").match(text, i)
            if m:
                out.append(blank(m[0]))
                i = m.end()
            else:  # a lifetime or label
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def blank(s: str) -> str:
    return "".join("\n" if ch == "\n" else " " for ch in s)


# ---------------------------------------------------------------- use trees


def expand_use(tree: str) -> list[tuple[list[str], str | None]]:
    """`crate::a::{b, c::d as e, self}` -> [(path, bound name)]; a glob
    binds nothing."""
    tree = re.sub(r"\s*(::|[{},])\s*", r"\1", re.sub(r"\s+", " ", tree.strip()))
    results: list[tuple[list[str], str | None]] = []

    def walk(prefix: list[str], s: str) -> None:
        if not s:
            return
        if s.startswith("::"):
            s = s[2:]
        brace = s.find("{")
        if brace >= 0 and s.endswith("}"):
            head = [p for p in s[:brace].split("::") if p]
            inner = s[brace + 1 : -1]
            for part in split_top(inner):
                walk(prefix + head, part)
            return
        alias = None
        if " as " in s:
            s, alias = s.split(" as ", 1)
            alias = None if alias == "_" else alias
        parts = [p for p in s.split("::") if p]
        if parts == ["self"]:
            results.append((prefix, alias or (prefix[-1] if prefix else None)))
            return
        if parts and parts[-1] == "*":
            results.append((prefix + parts[:-1], None))
            return
        full = prefix + parts
        results.append((full, alias or (full[-1] if full else None)))

    walk([], tree)
    return results


def split_top(s: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(s):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(s[start:i])
            start = i + 1
    parts.append(s[start:])
    return [p for p in parts if p]


# ---------------------------------------------------------------- crate walk

MOD_DECL = re.compile(
    r"((?:#\s*\[[^\]]*\]\s*)*)(?:pub(?:\s*\([^)]*\))?\s+)?mod\s+([A-Za-z_][A-Za-z0-9_]*)\s*([;{])"
)
CFG_TEST = re.compile(r"#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]")
PATH_ATTR = re.compile(r'#\s*\[\s*path\s*=\s*"([^"]+)"\s*\]')
USE_STMT = re.compile(r"\buse\s+([^;]+);")
VIS_IN = re.compile(r"pub\s*\(\s*in\s+[^)]*\)")
PATH_RE = re.compile(r"(?<![A-Za-z0-9_])(\$?crate|super|self)((?:\s*::\s*[A-Za-z_][A-Za-z0-9_]*)*)")


def line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def load_crate(name: str, root_file: Path) -> Crate:
    crate = Crate(name, root_file)
    pending: list[tuple[Path, Module, bool]] = [(root_file, (), True)]
    seen: set[Path] = set()
    files: list[tuple[Path, Module, str, list[tuple[int, int, Module]]]] = []
    while pending:
        path, module, owns_dir = pending.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        crate.modules.add(module)
        raw = path.read_text(errors="replace")
        code = strip_code(raw)
        spans = inline_modules(code, module)
        for start, end, inner in spans:
            crate.modules.add(inner)
        for m in MOD_DECL.finditer(code):
            if CFG_TEST.search(m[1]):
                crate.tests.add(module_at(spans, m.start(), module) + (m[2],))
        for m in MOD_DECL.finditer(code):
            if m[3] != ";":
                continue
            holder = module_at(spans, m.start(), module)
            child = holder + (m[2],)
            # `#[path = "..."]`: strings are blanked in `code`, so read the raw text.
            attrs = raw[m.start(1) : m.end(1)]
            pa = PATH_ATTR.search(attrs)
            base = path.parent if owns_dir else path.parent / path.stem
            if holder != module:  # inside an inline module
                base = base.joinpath(*holder[len(module) :])
            if pa:
                pending.append((path.parent / pa[1], child, False))
                continue
            flat, nested = base / f"{m[2]}.rs", base / m[2] / "mod.rs"
            if nested.is_file():
                pending.append((nested, child, True))
            else:
                pending.append((flat, child, False))
        files.append((path, module, code, spans))
    for path, module, code, spans in files:
        scan_refs(crate, path, module, code, spans)
    return crate


def inline_modules(code: str, module: Module) -> list[tuple[int, int, Module]]:
    """(start, end, module) of every `mod x { ... }` block, nested ones too."""
    blocks: list[tuple[int, int, str]] = []
    for m in MOD_DECL.finditer(code):
        if m[3] != "{":
            continue
        depth, j = 1, m.end()
        while j < len(code) and depth:
            depth += {"{": 1, "}": -1}.get(code[j], 0)
            j += 1
        blocks.append((m.end(), j, m[2]))
    spans = []
    for start, end, _ in blocks:
        # Named by every block that encloses it, outermost first.
        chain = sorted((s, n) for s, e, n in blocks if s <= start and end <= e)
        spans.append((start, end, module + tuple(n for _, n in chain)))
    return spans


def module_at(spans: list[tuple[int, int, Module]], pos: int, module: Module) -> Module:
    best = module
    for s, e, inner in spans:
        if s <= pos < e and len(inner) > len(best):
            best = inner
    return best


def resolve(crate: Crate, here: Module, segments: list[str]) -> Module | None:
    """The deepest module a path names, from module `here`; None for paths
    outside the crate (other crates, std)."""
    found = resolve_full(crate, here, segments)
    return found[0] if found else None


def resolve_full(crate: Crate, here: Module, segments: list[str]) -> tuple[Module, bool] | None:
    """(deepest module, whether the whole path is that module)."""
    if not segments:
        return None
    head, rest = segments[0], list(segments[1:])
    if head in ("crate", "$crate"):
        base: Module = ()
    elif head == "self":
        base = here
    elif head == "super":
        base = here[:-1] if here else None
        while base is not None and rest and rest[0] == "super":
            base = base[:-1] if base else None
            rest = rest[1:]
        if base is None:
            return None
    else:
        return None
    target, used = base, 0
    for seg in rest:
        if target + (seg,) not in crate.modules:
            break
        target, used = target + (seg,), used + 1
    return target, used == len(rest)


def scan_refs(crate: Crate, path: Path, module: Module, code: str, spans) -> None:
    code = VIS_IN.sub(lambda m: blank(m[0]), code)
    # Declarations are containment, not references.
    code = MOD_DECL.sub(lambda m: blank(m[0][:-1]) + m[0][-1], code)
    where = lambda pos: f"{path}:{line_of(code, pos)}"  # noqa: E731
    aliases: dict[Module, dict[str, Module]] = {}
    for m in USE_STMT.finditer(code):
        here = module_at(spans, m.start(), module)
        for segments, bound in expand_use(m[1]):
            target = resolve(crate, here, segments)
            if target is None:
                continue
            add_ref(crate, here, target, where(m.start()))
            _, whole = resolve_full(crate, here, segments) or (None, False)
            if bound and whole:
                aliases.setdefault(here, {})[bound] = target
    for m in PATH_RE.finditer(code):
        if code[max(0, m.start() - 4) : m.start()].rstrip().endswith("use"):
            continue  # handled with its tree
        segments = [m[1]] + [s for s in re.split(r"\s*::\s*", m[2]) if s]
        here = module_at(spans, m.start(), module)
        target = resolve(crate, here, segments)
        if target is not None:
            add_ref(crate, here, target, where(m.start()))
    for here, names in aliases.items():
        pattern = re.compile(
            r"(?<![A-Za-z0-9_:])(" + "|".join(map(re.escape, names)) + r")((?:\s*::\s*[A-Za-z_][A-Za-z0-9_]*)+)"
        )
        for m in pattern.finditer(code):
            if module_at(spans, m.start(), module) != here:
                continue
            target = names[m[1]]
            for seg in [s for s in re.split(r"\s*::\s*", m[2]) if s]:
                if target + (seg,) in crate.modules:
                    target = target + (seg,)
                else:
                    break
            add_ref(crate, here, target, where(m.start()))


def add_ref(crate: Crate, source: Module, target: Module, place: str) -> None:
    if source[: len(target)] == target or target[: len(source)] == source:
        return  # within one module's subtree: ancestor or descendant
    if any(source[: len(t)] == t for t in crate.tests):
        return  # test code may reach anywhere
    crate.refs.setdefault((source, target), place)


# ---------------------------------------------------------------- cycles


def cycles(crate: Crate) -> list[tuple[set[Module], list[list[Module]]]]:
    """Each strongly connected group of modules, with a shortest cycle
    through each reference inside it (one per set of modules)."""
    graph: dict[Module, set[Module]] = {m: set() for m in crate.modules}
    for source, target in crate.refs:
        graph.setdefault(source, set()).add(target)
        graph.setdefault(target, set())
    for m in list(graph):
        if m:
            graph.setdefault(m[:-1], set()).add(m)  # containment
    found = []
    for group in strongly_connected(graph):
        if len(group) < 2:
            continue
        loops: dict[frozenset[Module], list[Module]] = {}
        for source, target in sorted(crate.refs):
            if source in group and target in group:
                back = shortest_path(graph, target, source, group)
                if back:
                    loop = [source] + back
                    loops.setdefault(frozenset(loop), loop)
        found.append((group, sorted(loops.values(), key=lambda l: (len(l), l))))
    return found


def strongly_connected(graph: dict[Module, set[Module]]) -> list[set[Module]]:
    index: dict[Module, int] = {}
    low: dict[Module, int] = {}
    stack: list[Module] = []
    on: set[Module] = set()
    groups: list[set[Module]] = []
    counter = [0]

    def visit(v: Module) -> None:
        # Iterative Tarjan: the module trees are shallow but wide.
        work = [(v, iter(sorted(graph[v])))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on:
                    low[node] = min(low[node], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        group.add(w)
                        if w == node:
                            break
                    groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def shortest_path(graph, start, goal, allowed) -> list[Module] | None:
    prev = {start: None}
    queue = [start]
    for node in queue:
        if node == goal:
            path = []
            while node is not None:
                path.append(node)
                node = prev[node]
            return path[::-1]
        for nxt in sorted(graph[node]):
            if nxt in allowed and nxt not in prev:
                prev[nxt] = node
                queue.append(nxt)
    return None


def show(m: Module) -> str:
    return "::".join(m) if m else "crate"


def describe(crate: Crate, cycle: list[Module]) -> list[str]:
    """`a -> b (file:line)` for references, `a contains a::x` for the rest."""
    lines = []
    for a, b in zip(cycle, cycle[1:]):
        place = crate.refs.get((a, b))
        if place:
            lines.append(f"    {show(a)} -> {show(b)}  ({place})")
        else:
            lines.append(f"    {show(a)} contains {show(b)}")
    return lines


# ---------------------------------------------------------------- driver


def crate_roots(repo: Path) -> list[tuple[str, Path]]:
    roots = []
    for src in sorted(repo.glob("crates/*/src")):
        for root in ("lib.rs", "main.rs"):
            if (src / root).is_file():
                kind = "lib" if root == "lib.rs" else "bin"
                roots.append((f"{src.parent.name} ({kind})", src / root))
    return roots


SHOWN = 12  # cycles printed per group unless --all


def check(repo: Path, out=print, shown: int | None = SHOWN) -> tuple[int, int]:
    passed = failed = 0
    for name, root in crate_roots(repo):
        crate = load_crate(name, root)
        found = cycles(crate)
        if not found:
            passed += 1
            continue
        failed += 1
        for group, loops in found:
            out(f"{name}: modules that depend on each other: {', '.join(sorted(map(show, group)))}")
            for loop in loops[:shown]:
                out(f"  cycle {' -> '.join(map(show, loop))}")
                for line in describe(crate, loop):
                    out(line.replace(f"{repo}/", ""))
            if shown is not None and len(loops) > shown:
                out(f"  ... and {len(loops) - shown} longer cycles (--all prints them)")
    return passed, failed


# ---------------------------------------------------------------- self-test

FIXTURES: dict[str, tuple[dict[str, str], int]] = {
    # name: (files under crates/demo/src, expected cycles)
    "two modules use each other": (
        {
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": "use crate::b::g;\npub fn f() { g() }\n",
            "b.rs": "pub fn g() { crate::a::f() }\n",
        },
        1,
    ),
    "parent uses child, child uses super": (
        {
            "lib.rs": "mod a;\n",
            "a/mod.rs": "mod x;\npub use self::x::f;\npub fn h() { x::f() }\n",
            "a/x.rs": "use super::h;\npub fn f() {}\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
        },
        0,
    ),
    "mod.rs declaring children is no edge": (
        {
            "lib.rs": "pub mod api;\npub mod db;\n",
            "api/mod.rs": "pub mod keys;\npub mod hosts;\n",
            "api/keys.rs": "use crate::db::keys;\n",
            "api/hosts.rs": "use crate::db;\nfn f() { db::hosts::list() }\n",
            "db/mod.rs": "pub mod keys;\npub mod hosts;\n",
            "db/keys.rs": "",
            "db/hosts.rs": "pub fn list() {}\n",
        },
        0,
    ),
    "submodule collapses into its module": (
        {
            "lib.rs": "mod api;\nmod db;\n",
            "api/mod.rs": "mod audit_log;\npub fn rfc3339() {}\n",
            "api/audit_log.rs": "use crate::db::audit;\n",
            "db/mod.rs": "pub mod audit;\n",
            "db/audit.rs": "fn at() { crate::api::rfc3339() }\n",
        },
        1,
    ),
    "comments and strings do not count": (
        {
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": "use crate::b;\n",
            "b.rs": '// crate::a::f\n/* use crate::a; */\nconst S: &str = "crate::a::f";\nconst R: &str = r#"crate::a"#;\nfn l<\'a>(x: &\'a str) -> char { \'c\' }\n',
        },
        0,
    ),
    "use tree and alias": (
        {
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": "use crate::{b::{self as bee}};\nfn f() { bee::g() }\n",
            "b.rs": "pub mod inner;\npub fn g() {}\n",
            "b/inner.rs": "use crate::{a as alpha};\n",
        },
        1,
    ),
    "test modules do not count": (
        {
            "main.rs": "mod a;\nmod b {\n    pub fn g() { crate::a::f() }\n}\n",
            "a.rs": "pub fn f() {}\n#[cfg(test)]\n#[path = \"a_tests.rs\"]\nmod tests;\n",
            "a_tests.rs": "use crate::b::g;\n",
        },
        0,
    ),
    "path attribute file is followed": (
        {
            "main.rs": "mod a;\nmod b;\n",
            "a.rs": "#[path = \"a_impl.rs\"]\nmod imp;\n",
            "a_impl.rs": "use crate::b;\n",
            "b.rs": "use crate::a;\n",
        },
        1,
    ),
}


def self_test() -> int:
    passed = failed = 0
    for name, (files, expected) in FIXTURES.items():
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "crates" / "demo" / "src"
            for rel, text in files.items():
                (src / rel).parent.mkdir(parents=True, exist_ok=True)
                (src / rel).write_text(text)
            lines: list[str] = []
            total = 0
            for crate_name, root in crate_roots(Path(tmp)):
                total += sum(len(loops) for _, loops in cycles(load_crate(crate_name, root)))
            check(Path(tmp), lines.append)
        if total == expected:
            passed += 1
        else:
            failed += 1
            print(f"FAIL {name}: {total} cycles, expected {expected}")
            for line in lines:
                print(line)
    # Not "name: N passed" at the start of a line: the lint suite counts checks.
    print(f"module_cycles self-test: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def main(argv: list[str]) -> int:
    if argv[1:] == ["--self-test"]:
        return self_test()
    args = argv[1:]
    every = "--all" in args
    args = [a for a in args if a != "--all"]
    repo = Path(args[0]) if args else Path(__file__).resolve().parents[2]
    passed, failed = check(repo, shown=None if every else SHOWN)
    print(f"cycles: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
