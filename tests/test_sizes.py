"""Modules and functions stay small enough to read (issue 24): no module over 500 lines, no
function over 80, counted from the source with `ast` (nothing is imported).

An entry in `EXCEPTIONS` says why a file may stay longer; an entry that is no longer needed
fails the test, so the list only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "hawizard"
MODULE_LINES = 500
FUNCTION_LINES = 80

#: "path relative to hawizard/" or "path::function" → why it is longer.
EXCEPTIONS: dict[str, str] = {}


def _sources() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text() for p in sorted(ROOT.rglob("*.py"))}


def long_modules() -> dict[str, int]:
    found = {}
    for rel, text in _sources().items():
        lines = len(text.splitlines())
        if lines > MODULE_LINES:
            found[rel] = lines
    return found


def long_functions() -> dict[str, int]:
    found = {}
    for rel, text in _sources().items():
        for node in ast.walk(ast.parse(text, rel)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > FUNCTION_LINES:
                    found[f"{rel}::{node.name}"] = lines
    return found


def test_no_module_over_the_limit():
    over = {k: v for k, v in long_modules().items() if k not in EXCEPTIONS}
    assert not over, f"modules over {MODULE_LINES} lines (split them along their seams): {over}"


def test_no_function_over_the_limit():
    over = {k: v for k, v in long_functions().items() if k not in EXCEPTIONS}
    assert not over, f"functions over {FUNCTION_LINES} lines: {over}"


def test_every_exception_is_still_needed():
    needed = set(long_modules()) | set(long_functions())
    stale = sorted(set(EXCEPTIONS) - needed)
    assert not stale, f"remove these from EXCEPTIONS, they are within the limits now: {stale}"
