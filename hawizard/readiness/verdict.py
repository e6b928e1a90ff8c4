"""What every checklist item is made of: a verdict, the evidence lines behind it, and the fix.

Shared by the item modules (`etcd_item`, `control_plane_item`, `items`): each judge collects
`Findings` line by line and turns them into one `Item`, so "the worst line wins" and "an
unknown line never hides a known one" are decided once, here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hawizard.plan import Plan
from hawizard.readiness.facts import NodeFacts


class Verdict(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"

    @property
    def symbol(self) -> str:
        return {"ok": "✔", "warn": "▲", "fail": "✖", "unknown": "?"}[self.value]

    @property
    def rank(self) -> int:
        return {"ok": 0, "unknown": 1, "warn": 2, "fail": 3}[self.value]


@dataclass(frozen=True)
class Item:
    number: int
    key: str
    title: str
    verdict: Verdict
    evidence: tuple[str, ...]
    fix: str = ""  # a command, a plan field or a pointer; empty when ✔

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "key": self.key,
            "title": self.title,
            "verdict": self.verdict.value,
            "symbol": self.verdict.symbol,
            "evidence": list(self.evidence),
            "fix": self.fix,
        }


def worst(verdicts: Sequence[Verdict]) -> Verdict:
    return max(verdicts, key=lambda v: v.rank, default=Verdict.OK)


def exit_code(items: Sequence[Item]) -> int:
    """0 all ✔ (unknowns included), 1 any ▲, 2 any ✖."""
    verdicts = {i.verdict for i in items}
    return 2 if Verdict.FAIL in verdicts else 1 if Verdict.WARN in verdicts else 0


class Findings:
    """Evidence lines, each with the verdict it alone would give; the item takes the worst."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.verdicts: list[Verdict] = []
        self.fixes: list[str] = []

    def add(self, verdict: Verdict, line: str, fix: str = "") -> None:
        self.lines.append(f"{verdict.symbol} {line}")
        self.verdicts.append(verdict)
        if fix and verdict is not Verdict.OK and fix not in self.fixes:
            self.fixes.append(fix)

    def item(self, number: int, key: str, title: str) -> Item:
        # A line hawizard could not judge does not hide what it could: the item is unknown
        # only when nothing else was found (its "?" line stays in the evidence).
        known = [v for v in self.verdicts if v is not Verdict.UNKNOWN]
        verdict = worst(known) if known else Verdict.UNKNOWN
        return Item(number, key, title, verdict, tuple(self.lines), "; ".join(self.fixes))


def unread(f: Findings, facts: Mapping[str, NodeFacts], names: Sequence[str]) -> list[str]:
    """Nodes that could not be read; each gets an unknown line. Returns the readable ones."""
    readable = []
    for name in names:
        nf = facts.get(name)
        if nf is None or not nf.ok:
            f.add(Verdict.UNKNOWN, f"{name}: not read ({nf.error if nf else 'not asked'})")
        else:
            readable.append(name)
    return readable


def plan_arg(plan: Plan) -> str:
    """The plan as the fixes name it: its file, or PLAN when it has none yet."""
    return str(plan.source) if plan.source is not None else "PLAN"
