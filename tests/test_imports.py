"""The imports inside angpt/ run one way: no import cycles.

An `ast` walk over every module of the package (subpackages included) collects each
`import angpt.x` / `from angpt.x import y` / `from .x import y` / `from . import x`, at
module level and inside functions alike (a lazy import is still a dependency). Importing a
submodule runs its parents' `__init__` first, so importing `angpt.a.b` also depends on `angpt.a`
(except from inside `angpt.a`, which is running already; an import of a name from the
package's own `__init__`, `from . import x`, still counts).
Any strongly connected group of two or more modules is a cycle, and the test names it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "angpt"
ROOT = "angpt"


def _modules() -> dict[str, Path]:
    """{dotted name: file} of every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _parents(name: str) -> list[str]:
    """angpt.a.b -> [angpt.a] (the root package is left out: its __init__ imports nothing
    of its own at import time and every module would otherwise point at it)."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts))]


def graph_of(sources: dict[str, tuple[bool, str]]) -> dict[str, set[str]]:
    """{module: modules of the package it imports} from {module: (is a package, source)}.
    Each import is resolved to the modules that run: `from m import name` depends on m, and
    on m.name too where that is a module."""
    graph: dict[str, set[str]] = {m: set() for m in sources}
    for mod, (is_pkg, text) in sources.items():
        here = mod if is_pkg else mod.rpartition(".")[0]  # the package a relative import starts from
        targets: set[str] = set()
        for node in ast.walk(ast.parse(text, mod)):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == ROOT or alias.name.startswith(ROOT + "."):
                        targets.add(alias.name)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    src = ".".join(base + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                if not (src == ROOT or src.startswith(ROOT + ".")):
                    continue
                targets.add(src)
                for alias in node.names:
                    if f"{src}.{alias.name}" in sources:
                        targets.add(f"{src}.{alias.name}")
        own = set(_parents(mod)) | {mod}  # a module's own packages are running already: no edge
        for t in list(targets):
            targets.update(q for q in _parents(t) if q not in own)
        graph[mod] = {t for t in targets if t in sources and t != mod and t != ROOT}
    return graph


def import_graph() -> dict[str, set[str]]:
    """The graph of the real package."""
    return graph_of({m: (p.name == "__init__.py", p.read_text()) for m, p in _modules().items()})


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

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
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def _describe(comp: list[str], graph: dict[str, set[str]]) -> str:
    edges = [f"{a} -> {b}" for a in comp for b in sorted(graph[a]) if b in comp]
    return "{" + ", ".join(comp) + "}: " + "; ".join(edges)


def test_the_walk_sees_lazy_relative_and_package_imports():
    """The walk itself, on toy sources: a cycle through a function body, through relative and
    absolute imports, and through a package's __init__, is found; one-way imports are not."""
    toy = {
        "angpt": (True, ""),
        "angpt.a": (False, "from .b import f\n"),
        "angpt.b": (False, "def f():\n    import angpt.a\n"),
        "angpt.c": (False, "from angpt import a\n"),
        "angpt.p": (True, "from .q import g\n"),
        "angpt.p.q": (False, "from .. import c\nfrom . import VALUE  # defined in p's __init__\n"),
        "angpt.p.r": (False, "def h():\n    from . import q\n"),
        "angpt.d": (False, "from .p.r import h\n"),
        "angpt.e": (True, "from .f import k\n"),
        "angpt.e.f": (False, "from .g import m\n"),
        "angpt.e.g": (False, "from ..c import a\n"),
    }
    g = graph_of(toy)
    assert g["angpt.a"] == {"angpt.b"} and g["angpt.b"] == {"angpt.a"} and g["angpt.c"] == {"angpt.a"}
    assert g["angpt.p.q"] == {"angpt.c", "angpt.p"}
    assert g["angpt.p.r"] == {"angpt.p", "angpt.p.q"}
    assert g["angpt.d"] == {"angpt.p", "angpt.p.r"}  # importing p.r runs p's __init__ first
    assert g["angpt.e.f"] == {"angpt.e.g"}  # a sibling: the package e is running already
    assert cycles(g) == [["angpt.a", "angpt.b"], ["angpt.p", "angpt.p.q"]]
    assert cycles({"angpt.a": {"angpt.b"}, "angpt.b": set()}) == []
    real = import_graph()  # a lazy import inside train() is seen on the real package too
    assert "angpt.model" in real["angpt.train"] and "angpt.layers" in real["angpt.blocks"]


def test_no_import_cycles():
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles inside angpt/:\n" + "\n".join(_describe(c, graph) for c in found)
