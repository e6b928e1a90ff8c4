"""The wizard's steps, in order: the step indicator and next/back both read this one list."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WizardStep:
    key: str  # the installed screen's name
    label: str


STEPS = (
    WizardStep("nodes", "Nodes"),
    WizardStep("preflight", "Preflight"),
    WizardStep("certificates", "Certificates"),
    WizardStep("etcd", "etcd"),
    WizardStep("control-plane", "Control plane"),
    WizardStep("review", "Review"),
    WizardStep("readiness", "Readiness"),
)
KEYS = tuple(s.key for s in STEPS)


def index(key: str) -> int:
    return KEYS.index(key)


def next_key(key: str) -> str | None:
    i = index(key)
    return KEYS[i + 1] if i + 1 < len(KEYS) else None


def previous_key(key: str) -> str | None:
    i = index(key)
    return KEYS[i - 1] if i > 0 else None
