"""The recorder's SQLite file beside the plan: append rounds and operation events, read a span.

One table, `entries(id, ts, kind, body)`, indexed on `(ts, kind)`: `kind` is "round" (a
compact round, `hawizard.recorder.rounds`), "certs" (the certificates' expiry, written only
when it differs from the last one: it changes once a day but made half of every round), or
"op" (an operation's start, end or result); `body` is compact JSON. A round read back gets
the certificates of the last "certs" row at or before it. The dashboard's events (leader
changes, members down and back, ...) are not stored: they are derived from consecutive
rounds (`timeline`), so they can never disagree with the rounds they come from.

Bounded by age and size (`[monitoring] record_days`, `record_mb`): the oldest rows go first,
checked when the file is opened and every `PRUNE_EVERY` appends (past 95 % of the size
bound, the oldest go until 90 %); `auto_vacuum = INCREMENTAL`
gives the freed pages back to the file system. The file is opened safely (no symlink is
followed, 0600: `sidecars.open_database_file`) and written in WAL mode, so a reader (an
incident export, a replay) never blocks the recording dashboard.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from hawizard import sidecars
from hawizard.recorder.rounds import BadRound, Round, decode

PRUNE_EVERY = 500
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS entries ("
    " id INTEGER PRIMARY KEY, ts REAL NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS entries_ts ON entries (ts, kind)",
)


class RecorderError(OSError):
    """The store cannot be used (not SQLite, damaged, refused): the message says which file."""


class Store:
    """One open recorder file; thread-safe (the dashboard appends from its probe worker)."""

    def __init__(self, path: Path, conn: sqlite3.Connection, max_days: float, max_mb: float):
        self.path = path
        self._conn = conn
        self.max_age_s = max_days * 86400.0
        self.max_bytes = int(max_mb * (1 << 20))
        self._lock = threading.Lock()
        self._appended = 0
        self._last_certs: Any = self._certs_at(1e18)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        max_days: float = 7,
        max_mb: float = 100,
        create: bool = True,
    ) -> Store:
        """Open (or create) the store. Raises `UnsafeSidecar`, `RecorderError`,
        `FileNotFoundError` (create=False and nothing recorded yet)."""
        path = Path(path)
        if not create and not path.exists():
            raise FileNotFoundError(2, "nothing recorded yet", str(path))
        fd = sidecars.open_database_file(path)
        os.close(fd)  # checked and made 0600; SQLite opens it by name next
        try:
            conn = sqlite3.connect(os.fspath(path), check_same_thread=False, timeout=10)
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only takes on a new file
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.commit()
        except sqlite3.DatabaseError as exc:
            raise RecorderError(
                5, f"{path} is not a hawizard recording ({exc}): move it aside", str(path)
            ) from None
        store = cls(path, conn, max_days, max_mb)
        store.prune()
        return store

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing --------------------------------------------------------------------------

    def append(self, kind: str, at: dt.datetime, body: Mapping[str, Any]) -> None:
        """One row; the bounds are enforced every `PRUNE_EVERY` appends."""
        text = json.dumps(body, separators=(",", ":"), sort_keys=True)
        with self._lock:
            self._conn.execute(
                "INSERT INTO entries (ts, kind, body) VALUES (?, ?, ?)",
                (at.timestamp(), kind, text),
            )
            self._conn.commit()
            self._appended += 1
            due = self._appended % PRUNE_EVERY == 0
        if due:
            self.prune()

    def append_round(self, doc: Mapping[str, Any]) -> None:
        """A round as `rounds.encode` made it; its certificates go to a "certs" row when they
        changed since the last one."""
        at = dt.datetime.fromisoformat(doc["at"])
        body = dict(doc)
        certs = body.pop("cert", [])
        if certs != self._last_certs:
            self.append("certs", at, {"cert": certs})
            self._last_certs = certs
        self.append("round", at, body)

    def append_op(self, at: dt.datetime, command: str, phase: str, result: str = "") -> None:
        """An operation's `phase` ("start", "end") and its result ("ok", "failed", ...)."""
        self.append("op", at, {"command": command, "phase": phase, "result": result})

    def prune(self, now: float | None = None) -> int:
        """Drop rows older than the age bound, then the oldest until the size bound holds.
        Returns how many rows went."""
        now = time.time() if now is None else now
        with self._lock:
            gone = self._delete_before(now - self.max_age_s)
            # past 95 % of the bound, down to 90 %: the appends until the next check
            # (PRUNE_EVERY rounds, ~0.5 MiB for 5 members) still fit under it
            if self._used_bytes() <= self.max_bytes * 0.95:
                self._conn.commit()
                self._vacuum()
                return gone
            while self._used_bytes() > self.max_bytes * 0.9:
                (count,) = self._conn.execute("SELECT COUNT(*) FROM entries").fetchone()
                row = self._conn.execute(
                    "SELECT ts FROM entries ORDER BY ts, id LIMIT 1 OFFSET ?",
                    (max(1, count // 10),),
                ).fetchone()
                if row is None:
                    break
                dropped = self._delete_before(row[0])
                if not dropped:
                    break
                gone += dropped
            self._conn.commit()
            self._vacuum()
        return gone

    def _vacuum(self) -> None:
        """Give the free pages back to the file system. The pragma frees one page per step
        and sqlite3's `execute` steps it once (measured: one page a call, `fetchall` or
        not); `executescript` runs it to the end."""
        (free,) = self._conn.execute("PRAGMA freelist_count").fetchone()
        if free:
            self._conn.executescript("PRAGMA incremental_vacuum;")

    def _delete_before(self, cutoff: float) -> int:
        """Rows older than `cutoff` go; the last "certs" row among them is kept, stamped
        `cutoff`, since the rounds after it still need it."""
        self._conn.execute(
            "UPDATE entries SET ts = ? WHERE id = (SELECT id FROM entries WHERE kind = 'certs' "
            "AND ts < ? ORDER BY ts DESC, id DESC LIMIT 1)",
            (cutoff, cutoff),
        )
        return self._conn.execute("DELETE FROM entries WHERE ts < ?", (cutoff,)).rowcount

    def _certs_at(self, ts: float) -> Any:
        row = self._conn.execute(
            "SELECT body FROM entries WHERE kind = 'certs' AND ts <= ? "
            "ORDER BY ts DESC, id DESC LIMIT 1",
            (ts,),
        ).fetchone()
        try:
            return json.loads(row[0])["cert"] if row else []
        except (ValueError, KeyError, TypeError):
            return []

    def _used_bytes(self) -> int:
        (pages,) = self._conn.execute("PRAGMA page_count").fetchone()
        (free,) = self._conn.execute("PRAGMA freelist_count").fetchone()
        (size,) = self._conn.execute("PRAGMA page_size").fetchone()
        return (pages - free) * size

    # --- reading --------------------------------------------------------------------------

    def _rows(self, kind: str, since: dt.datetime | None, until: dt.datetime | None):
        low = -1e18 if since is None else since.timestamp()
        high = 1e18 if until is None else until.timestamp()
        with self._lock:
            return self._conn.execute(
                "SELECT ts, body FROM entries WHERE kind = ? AND ts >= ? AND ts <= ? "
                "ORDER BY ts, id",
                (kind, low, high),
            ).fetchall()

    def rounds(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Iterator[Round]:
        """The rounds in [since, until], oldest first, each with the certificates of its
        time; a damaged row is skipped."""
        low = -1e18 if since is None else since.timestamp()
        high = 1e18 if until is None else until.timestamp()
        with self._lock:
            certs = self._certs_at(low)
            rows = self._conn.execute(
                "SELECT kind, body FROM entries WHERE kind IN ('round', 'certs') "
                "AND ts >= ? AND ts <= ? ORDER BY ts, id",
                (low, high),
            ).fetchall()
        for kind, body in rows:
            try:
                doc = json.loads(body)
                if kind == "certs":
                    certs = doc["cert"]
                    continue
                yield decode({**doc, "cert": certs})
            except (BadRound, ValueError, KeyError, TypeError):
                continue

    def round_before(self, at: dt.datetime) -> Round | None:
        """The last round at or before `at` (the baseline a span starts from)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT ts, body FROM entries WHERE kind = 'round' AND ts <= ? "
                "ORDER BY ts DESC, id DESC LIMIT 1",
                (at.timestamp(),),
            ).fetchone()
            if row is None:
                return None
            certs = self._certs_at(row[0])
        try:
            return decode({**json.loads(row[1]), "cert": certs})
        except (BadRound, ValueError, TypeError):
            return None

    def ops(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> list[tuple[dt.datetime, dict[str, Any]]]:
        """Operation events in [since, until], oldest first."""
        out = []
        for ts, body in self._rows("op", since, until):
            try:
                doc = json.loads(body)
            except ValueError:
                continue
            if isinstance(doc, dict):
                out.append((dt.datetime.fromtimestamp(ts, dt.UTC), doc))
        return out

    def span(self) -> tuple[dt.datetime, dt.datetime] | None:
        """The times of the first and the last row, or None when empty."""
        with self._lock:
            low, high = self._conn.execute("SELECT MIN(ts), MAX(ts) FROM entries").fetchone()
        if low is None:
            return None
        return dt.datetime.fromtimestamp(low, dt.UTC), dt.datetime.fromtimestamp(high, dt.UTC)
