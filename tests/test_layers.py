"""The layering of DESIGN.md holds, read from the source with `ast` (nothing is imported):

    faces (cli, tui) → ops → domains (etcd, control_plane, balancer, monitoring) → engine

- no domain imports a sibling domain (what spans two lives in `hawizard.ops`, or below
  both: the plan's `etcd_client_url`, the artifacts' `BinariesError`), nor `ops`, nor a face;
- the engine (every module below the domains: plan, pki, steps, remote, health, …) imports
  no domain, no use case and no face;
- a face reaches the domains and the engine's moving parts (SSH, the PKI on disk) through
  `ops`, except where `FACE_EXCEPTIONS` says why not (each entry with its reason; an entry
  that is no longer needed fails the test, so the list only shrinks);
- no import cycle between the package's modules, lazy imports inside functions included
  (they hide a cycle from Python, not from the design); imports under `TYPE_CHECKING` are
  annotations only and do not count for cycles or for the faces' rule (a face may name a
  domain's result type in an annotation), but do count between domains and layers.

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


DOMAINS = ("etcd", "control_plane", "balancer", "monitoring")
FACES = ("hawizard.cli", "hawizard.tui")
OPS = "hawizard.ops"
# Beside the layers, not in them: the lab (a test bed that imports the plan only), the
# readiness checklist (judged by `ops.check`) and the entry point.
ASIDE = ("hawizard.lab", "hawizard.readiness", "hawizard.__main__")


def _package(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def _in(name: str, packages: tuple[str, ...] | str) -> bool:
    packages = (packages,) if isinstance(packages, str) else packages
    return any(_package(name, p) for p in packages)


def _domain_of(name: str) -> str | None:
    for d in DOMAINS:
        if _package(name, f"hawizard.{d}"):
            return d
    return None


def _is_engine(name: str) -> bool:
    """Everything below the domains: plan, pki, steps, remote, health, journal, …"""
    return name != "hawizard" and _domain_of(name) is None and not _in(name, (*FACES, OPS, *ASIDE))


def _offenders(sources, forbidden, *, typing_too: bool = True) -> dict[str, list[str]]:
    found = {
        name: sorted(t for t in imports_of(name, typing_too=typing_too) if forbidden(name, t))
        for name in MODULES
        if sources(name)
    }
    return {k: v for k, v in found.items() if v}


def test_the_layers_cover_the_tree():
    """Each rule below reads the classification; a misspelt package would pass vacuously."""
    for d in DOMAINS:
        assert f"hawizard.{d}" in MODULES
    assert {"hawizard.plan", "hawizard.pki", "hawizard.steps", "hawizard.remote"} <= {
        n for n in MODULES if _is_engine(n)
    }
    assert not _is_engine("hawizard.ops.apply") and not _is_engine("hawizard.etcd.render")


def test_domains_never_import_each_other():
    """etcd ↛ control_plane, control_plane ↛ etcd, balancer ↛ etcd/control_plane, monitoring
    ↛ any sibling: what spans two domains lives in `ops`, or below both."""
    offenders = _offenders(
        lambda n: _domain_of(n) is not None,
        lambda n, t: _domain_of(t) not in (None, _domain_of(n)),
    )
    assert offenders == {}


def test_domains_import_no_use_case():
    assert _offenders(lambda n: _domain_of(n) is not None, lambda n, t: _in(t, OPS)) == {}


def test_engine_imports_no_domain_use_case_or_face():
    offenders = _offenders(
        _is_engine, lambda n, t: _domain_of(t) is not None or _in(t, (OPS, *FACES, *ASIDE))
    )
    assert offenders == {}


def test_engine_and_domains_import_no_face():
    lower = [n for n in MODULES if not _in(n, (*FACES, "hawizard.__main__"))]
    offenders = {
        name: sorted(t for t in imports_of(name, typing_too=True) if _in(t, FACES))
        for name in lower
    }
    assert {k: v for k, v in offenders.items() if v} == {}


# What a face may not import directly: the domains, SSH and the PKI on disk (through `ops`).
# The plan (the model every screen edits), the health and history models and the runner's
# event types (what the faces display), the lab (its own command) and small helpers (text
# guards, local files, host-key trust) are the faces' to use.
FACE_FORBIDDEN = (*(f"hawizard.{d}" for d in DOMAINS), "hawizard.remote", "hawizard.pki")

# (face module, module it imports): why it does not go through `ops` (yet).
FACE_EXCEPTIONS = {
    ("hawizard.cli.backup_cmd", "hawizard.etcd.backup"): "lists the local backup folder and "
    "formats ages: read-only file listing, no use case",
    ("hawizard.cli.restore_cmd", "hawizard.etcd.backup"): "`human_age` text only",
    ("hawizard.cli.status_cmd", "hawizard.etcd.backup"): "`human_age` text only",
    ("hawizard.tui.screens.dashboard", "hawizard.etcd.backup"): "`human_age` text only",
    ("hawizard.tui.screens.restore_dialog", "hawizard.etcd.backup"): "lists the local "
    "backup folder for the file picker (read-only)",
    ("hawizard.cli.backup_cmd", "hawizard.pki.record_key"): "loads the backup-record key "
    "to tell verified backups from others in the listing (read-only)",
    ("hawizard.tui.screens.restore_dialog", "hawizard.pki.record_key"): "same key, to offer "
    "only verified backups in the file picker (read-only)",
    ("hawizard.tui.screens.restore_dialog", "hawizard.etcd.restore"): "`inspect_snapshot` "
    "reads the chosen snapshot file locally before the restore is confirmed",
    ("hawizard.cli.status_cmd", "hawizard.etcd.probe"): "the `--watch` loop probes directly "
    "(read-only); `ops.status` has no streaming form yet",
    ("hawizard.tui.backend", "hawizard.etcd.probe"): "the dashboard's probe functions are "
    "injected through the backend (tests swap them); read-only",
    ("hawizard.cli.etcd_cmd", "hawizard.etcd.membership"): "membership changes are assessed "
    "by `etcd.membership.assess` (pure rules + the in-flight record) before `ops.change` runs",
    ("hawizard.cli.etcd_cmd", "hawizard.etcd.quorum_rules"): "the `Op` enum the command maps "
    "its verb to (a value, no behaviour)",
    ("hawizard.tui.screens.member_dialog", "hawizard.etcd.membership"): "same assessment as "
    "`hawizard etcd add/remove/replace`, before `ops.change` runs",
    ("hawizard.tui.screens.member_dialog", "hawizard.etcd.quorum_rules"): "the pure quorum "
    "rules, to show a change's impact as the operator types",
    ("hawizard.tui.screens.dashboard_actions", "hawizard.etcd.quorum_rules"): "the `Op` enum",
    ("hawizard.tui.widgets.change_panel", "hawizard.etcd.membership"): "the CLI command that "
    "finishes a change, and clearing its record after `ops.change` succeeded",
    ("hawizard.tui.screens.preflight", "hawizard.remote"): "the checks are `ops.preflight`'s; "
    "the screen makes the sudo password asker (a dialog) and catches `UnknownHostKey` to ask "
    "the operator to trust the key it names",
    ("hawizard.cli.patch_cmd", "hawizard.remote"): "the sudo password prompt and the host "
    "pool `ops.patch` runs on are made by the face that asks",
    ("hawizard.cli.plan_cmd", "hawizard.balancer.summary"): "the endpoint's one-line "
    "description (pure text from the plan)",
    ("hawizard.tui.screens.review", "hawizard.balancer.summary"): "same description",
    ("hawizard.tui.screens.control_plane", "hawizard.balancer.summary"): "same description",
    ("hawizard.tui.screens.control_plane", "hawizard.control_plane.render"): "the remote "
    "paths and unit names the screen lists (constants, pure)",
}


def _face_imports() -> dict[tuple[str, str], str]:
    """(face module, forbidden module it imports) → the package prefix it matched."""
    found = {}
    for name in MODULES:
        if not _in(name, FACES):
            continue
        for t in imports_of(name):  # annotations only (`TYPE_CHECKING`) are allowed
            for prefix in FACE_FORBIDDEN:
                if _package(t, prefix):
                    found[(name, t)] = prefix
    return found


def _excepted(face: str, target: str) -> bool:
    return any(f == face and _package(target, t) for f, t in FACE_EXCEPTIONS)


def test_faces_reach_domains_and_engine_internals_through_ops():
    offenders = sorted(k for k in _face_imports() if not _excepted(*k))
    assert offenders == []


def test_every_face_exception_is_still_needed():
    used = {
        (f, t)
        for f, t in FACE_EXCEPTIONS
        for face, target in _face_imports()
        if f == face and _package(target, t)
    }
    assert sorted(set(FACE_EXCEPTIONS) - used) == []
    assert all(reason.strip() for reason in FACE_EXCEPTIONS.values())


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
