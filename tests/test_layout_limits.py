"""The house rules of the layout (issue 16): no import cycle between modules, lazy imports included; at most 12
``.py`` files at the package root; no file over 450 lines and no function over 80 lines in the package, the
baselines and the benchmarks. Each rule is checked on the tree and, so that it can fail, on a sample."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = {"avbench": REPO / "avbench", "avbench_baselines": REPO / "baselines", "avbench_tasks": REPO / "tasks"}
MAX_ROOT_FILES, MAX_FILE_LINES, MAX_FUNCTION_LINES = 12, 450, 80


def modules(packages: dict[str, Path]) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of ``packages`` (``pkg/__init__.py`` is ``pkg``)."""
    out = {}
    for top, folder in packages.items():
        for p in sorted(folder.rglob("*.py")):
            parts = [top, *p.relative_to(folder).with_suffix("").parts]
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def _targets(name: str, path: Path, node: ast.Import | ast.ImportFrom, known: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    if node.level:
        base = base[:len(base) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    return [f"{target}.{a.name}" if f"{target}.{a.name}" in known else target for a in node.names]


def import_graph(known: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules of ``known`` it imports anywhere in its body (function-level imports included)."""
    graph: dict[str, set[str]] = {m: set() for m in known}
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for t in _targets(name, path, node, known):
                    while t and t not in known:
                        t = t.rpartition(".")[0]
                    if t and t != name:
                        graph[name].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for v in sorted(graph):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return found


def long_functions(files: list[Path], limit: int) -> list[str]:
    out = []
    for p in files:
        for node in ast.walk(ast.parse(p.read_text(), str(p))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > limit:
                    out.append(f"{p.relative_to(REPO) if p.is_relative_to(REPO) else p.name}:{node.lineno} "
                               f"{node.name} ({n} lines)")
    return out


def _code_files() -> list[Path]:
    return [p for folder in ("avbench", "baselines", "benchmarks") for p in sorted((REPO / folder).rglob("*.py"))]


def test_no_import_cycle():
    found = cycles(import_graph(modules(PACKAGES)))
    assert not found, "\n".join(" <-> ".join(c) for c in found)


def test_at_most_12_files_at_the_package_root():
    root = sorted(p.name for p in (REPO / "avbench").glob("*.py"))
    assert len(root) <= MAX_ROOT_FILES, root


def test_no_file_over_450_lines():
    long = [f"{p.relative_to(REPO)} ({n})" for p in _code_files() if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES]
    assert not long, long


def test_no_function_over_80_lines():
    found = long_functions(_code_files(), MAX_FUNCTION_LINES)
    assert not found, found


def test_the_checks_can_fail(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .a import x\n")
    (pkg / "a.py").write_text("x = 1\ndef f():\n    from .sub import b  # lazy\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from ..a import x\n" + "def g():\n" + "    pass\n" * 90)
    found = cycles(import_graph(modules({"pkg": pkg})))
    assert found == [["pkg.a", "pkg.sub.b"]]
    assert long_functions([pkg / "sub" / "b.py"], MAX_FUNCTION_LINES) == ["b.py:2 g (91 lines)"]


# The limits are met milestone by milestone; until then the tree checks are expected to fail.
for _test in (test_no_function_over_80_lines,):
    globals()[_test.__name__] = pytest.mark.xfail(reason="issue 16: met by the redesign's milestones",
                                                  strict=True)(_test)
