"""The run journal: which steps finished, kept beside the plan so a failed run can resume.

File: `<plan stem>.journal.json` next to the plan, mode 0600, rewritten atomically (temp file +
rename) after every step, so a crash leaves either the old or the new journal, never half.

What it means for a rerun:
- `once` steps (things that must never happen twice, like bootstrapping a new etcd cluster)
  are skipped whenever their key is in the journal's `once` history — even if the plan changed
  since, because "bootstrap again" is never right. The history survives successful runs. Put
  anything that should make such a step run again into its key.
- Normal steps are idempotent and always re-check; their entries only tell the operator where
  the previous run got to. They are dropped when a run completes without failures, and when the
  plan's fingerprint changed since they were written.
- A journal that cannot be parsed stops the run (`JournalError`) instead of being ignored:
  forgetting a `once` step could re-bootstrap a live cluster.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from hawizard import sidecars
from hawizard.plan import Plan, dumps

__all__ = [
    "JOURNAL_VERSION",
    "Entry",
    "Journal",
    "JournalError",
    "journal_path",
    "plan_fingerprint",
]

JOURNAL_VERSION = 1


class JournalError(Exception):
    pass


def plan_fingerprint(plan: Plan) -> str:
    """sha256 of the plan's canonical TOML: equal plans, equal fingerprints."""
    return "sha256:" + hashlib.sha256(dumps(plan).encode()).hexdigest()


def journal_path(plan_path: Path) -> Path:
    return sidecars.journal_path(plan_path)


@dataclass(frozen=True)
class Entry:
    key: str
    node: str | None
    title: str
    changed: bool
    once: bool
    plan: str  # the plan fingerprint it was recorded under
    at: str  # ISO 8601, UTC


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Journal:
    """Thread-safe: the runner records from several workers."""

    def __init__(self, path: Path, fingerprint: str):
        self.path = path
        self.fingerprint = fingerprint
        self._lock = threading.Lock()
        self._once: dict[str, Entry] = {}
        self._steps: dict[str, Entry] = {}
        self.last_run: dict = {}
        self._load()

    @classmethod
    def for_plan(cls, plan: Plan) -> Journal:
        if plan.source is None:
            raise JournalError("the plan has no file, so there is no place for its journal")
        return cls(journal_path(plan.source), plan_fingerprint(plan))

    def _load(self) -> None:
        try:
            raw = sidecars.read_json(self.path)
            if raw is None:
                return
            if raw.get("version") != JOURNAL_VERSION:
                raise ValueError(f"unknown journal version {raw.get('version')!r}")
            self._once = {k: Entry(**v) for k, v in raw.get("once", {}).items()}
            self._steps = {k: Entry(**v) for k, v in raw.get("steps", {}).items()}
            self.last_run = dict(raw.get("last_run", {}))
        except sidecars.UnsafeSidecar as exc:
            raise JournalError(exc.strerror or str(exc)) from None
        except (OSError, ValueError, TypeError, AttributeError, RecursionError) as exc:
            raise JournalError(
                f"{self.path}: unreadable journal ({exc}). It records one-time steps such as "
                "the cluster bootstrap; fix or remove it only if you know none of them ran."
            ) from None

    # --- queries -------------------------------------------------------------------------

    def done_once(self, key: str) -> Entry | None:
        """The record of a `once` step that already ran (under any plan version)."""
        with self._lock:
            return self._once.get(key)

    def previous(self, key: str) -> Entry | None:
        """A step finished by the last, unfinished run of this same plan."""
        with self._lock:
            entry = self._steps.get(key)
            return entry if entry is not None and entry.plan == self.fingerprint else None

    @property
    def resuming(self) -> bool:
        """True when the last run did not complete (failed or interrupted)."""
        return bool(self.last_run) and not self.last_run.get("ok", False)

    # --- updates -------------------------------------------------------------------------

    def begin(self) -> None:
        with self._lock:
            # progress made under another plan says nothing about this one
            self._steps = {k: e for k, e in self._steps.items() if e.plan == self.fingerprint}
            self.last_run = {"plan": self.fingerprint, "started": _now(), "ok": False}
            self._write()

    def record(
        self, key: str, node: str | None, title: str, *, changed: bool, once: bool = False
    ) -> None:
        entry = Entry(key, node, title, changed, once, self.fingerprint, _now())
        with self._lock:
            self._steps[key] = entry
            if once:
                self._once[key] = entry
            self._write()

    def finish(self, *, ok: bool, failed: list[str] | tuple[str, ...] = ()) -> None:
        with self._lock:
            self.last_run.update(finished=_now(), ok=ok, failed=list(failed))
            if ok:
                self._steps.clear()
            self._write()

    def _write(self) -> None:
        data = {
            "version": JOURNAL_VERSION,
            "plan": self.fingerprint,
            "last_run": self.last_run,
            "once": {k: asdict(v) for k, v in self._once.items()},
            "steps": {k: asdict(v) for k, v in self._steps.items()},
        }
        sidecars.write_json(self.path, data)
