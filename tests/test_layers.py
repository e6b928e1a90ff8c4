"""The layering holds, read from the source with `ast` (nothing is imported):

- no module of `hawizard.etcd` imports `hawizard.control_plane` (what spans both lives in
  `hawizard.ops`), and the engine and the domains import no face (`cli`, `tui`);
- no import cycle between the package's modules, lazy imports inside functions included
  (they hide a cycle from Python, not from the design); imports under `TYPE_CHECKING` are
  annotations only and do not count.

An import of a package's name (`from hawizard.plan import Plan`) is an edge to the package's
`__init__`; `from hawizard.etcd import render` is an edge to the module `render`.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "hawizard"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _type_checking_lines(tree: ast.AST) -> set[int]:
    """Line numbers inside `if TYPE_CHECKING:` blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", "")
            if name == "TYPE_CHECKING":
                for child in node.body:
                    for sub in ast.walk(child):
                        if hasattr(sub, "lineno"):
                            lines.add(sub.lineno)
    return lines


def imports_of(name: str, *, typing_too: bool = False) -> set[str]:
    """The hawizard modules `name` imports (anywhere in the file)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), str(path))
    skip = set() if typing_too else _type_checking_lines(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")
                up = up[: len(up) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            targets = []
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in MODULES else base)
        else:
            continue
        for t in targets:
            while t and t not in MODULES:  # `import hawizard.x.y` of a name inside a module
                t = t.rpartition(".")[0]
            if t.startswith("hawizard") and t != name:
                found.add(t)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_source_tree_is_found():
    assert "hawizard.etcd.rollout" in MODULES and "hawizard.ops.change" in MODULES


def test_etcd_never_imports_the_control_plane():
    offenders = {
        name: sorted(
            t for t in imports_of(name, typing_too=True) if t.startswith("hawizard.control_plane")
        )
        for name in MODULES
        if name.startswith("hawizard.etcd")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_engine_and_domains_import_no_face():
    faces = ("hawizard.cli", "hawizard.tui")
    lower = [n for n in MODULES if not n.startswith((*faces, "hawizard.__main__"))]
    offenders = {
        name: sorted(t for t in imports_of(name, typing_too=True) if t.startswith(faces))
        for name in lower
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_import_cycles():
    graph = {name: imports_of(name) for name in MODULES}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_widget_imports_a_screen():
    """Screens compose widgets; a widget that imported a screen would tie them in a knot."""
    widgets = [n for n in MODULES if n.startswith("hawizard.tui.widgets")]
    offenders = {
        name: sorted(t for t in imports_of(name, typing_too=True) if ".tui.screens" in t)
        for name in widgets
    }
    assert {k: v for k, v in offenders.items() if v} == {}
