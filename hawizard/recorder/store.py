"""The recorder's SQLite file beside the plan: append rounds and operation events, read a span.

One table, `entries(id, ts, kind, body)`, indexed on `(ts, kind)`: `kind` is "round" (a
compact round, `hawizard.recorder.rounds`: a key frame), "rdelta" (a round as its difference
from the row `b` before it, `hawizard.recorder.delta`: a key frame every `KEY_EVERY` rounds
and differences between them keep a week of 2-second rounds of 5 members within 100 MB),
"certs" (the certificates' expiry, written only
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
from hawizard.recorder.delta import diff, patch
from hawizard.recorder.rounds import BadRound, Round, decode

PRUNE_EVERY = 500
#: A whole round every this many: bounds the rows a replay reads to reach any point (5
#: minutes of 2-second rounds) and what a damaged row can take with it.
KEY_EVERY = 150
#: How many recent rounds a reader keeps to resolve differences against (two recorders
#: writing at once interleave their rows; each difference names its own base row).
_BASES = 16
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
        # this writer's last round (its base for the next difference) and its row id
        self._prev: dict[str, Any] | None = None
        self._prev_id = 0
        self._since_key = 0
        self.key_every = KEY_EVERY

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

    def append(self, kind: str, at: dt.datetime, body: Mapping[str, Any]) -> int:
        """One row; the bounds are enforced every `PRUNE_EVERY` appends. Returns its id."""
        text = json.dumps(body, separators=(",", ":"), sort_keys=True)
        with self._lock:
            cursor = self._conn.execute(
                "INSERT INTO entries (ts, kind, body) VALUES (?, ?, ?)",
                (at.timestamp(), kind, text),
            )
            self._conn.commit()
            self._appended += 1
            due = self._appended % PRUNE_EVERY == 0
        if due:
            self.prune()
        return int(cursor.lastrowid or 0)

    def append_round(self, doc: Mapping[str, Any]) -> None:
        """A round as `rounds.encode` made it; its certificates go to a "certs" row when they
        changed since the last one."""
        at = dt.datetime.fromisoformat(doc["at"])
        body = dict(doc)
        certs = body.pop("cert", [])
        if certs != self._last_certs:
            self.append("certs", at, {"cert": certs})
            self._last_certs = certs
        prev = self._prev
        if prev is None or self._since_key + 1 >= self.key_every or prev["at"] > body["at"]:
            self._prev_id = self.append("round", at, body)
            self._since_key = 0
        else:
            self._prev_id = self.append("rdelta", at, {"b": self._prev_id, **diff(prev, body)})
            self._since_key += 1
        self._prev = body

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
        """Rows older than `cutoff` go; the first round kept becomes a key frame when it was
        a difference (so the rounds after it can still be rebuilt), and the last "certs"
        row among those that go is kept, stamped `cutoff`: the rounds after it need it."""
        first = self._conn.execute(
            "SELECT id, ts, kind FROM entries WHERE kind IN ('round', 'rdelta') AND ts >= ? "
            "ORDER BY ts, id LIMIT 1",
            (cutoff,),
        ).fetchone()
        if first is not None and first[2] == "rdelta":
            whole = [doc for _ts, doc, _c in _rebuild(*self._fetch(first[1], first[1]))]
            if whole:
                text = json.dumps(whole[-1], separators=(",", ":"), sort_keys=True)
                self._conn.execute(
                    "UPDATE entries SET kind = 'round', body = ? WHERE id = ?", (text, first[0])
                )
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
        time; a damaged row (or a difference whose base is gone) is skipped."""
        low = -1e18 if since is None else since.timestamp()
        high = 1e18 if until is None else until.timestamp()
        for ts, doc, certs in self._docs(low, high):
            if ts < low:
                continue
            try:
                yield decode({**doc, "cert": certs})
            except BadRound:
                continue

    def round_before(self, at: dt.datetime) -> Round | None:
        """The last round at or before `at` (the baseline a span starts from)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT ts FROM entries WHERE kind IN ('round', 'rdelta') AND ts <= ? "
                "ORDER BY ts DESC, id DESC LIMIT 1",
                (at.timestamp(),),
            ).fetchone()
        if row is None:
            return None
        last = None
        for _ts, doc, certs in self._docs(row[0], row[0]):
            last = (doc, certs)
        if last is None:
            return None
        try:
            return decode({**last[0], "cert": last[1]})
        except BadRound:
            return None

    def _docs(self, low: float, high: float) -> Iterator[tuple[float, dict[str, Any], Any]]:
        """(ts, whole round, its certificates) for the rounds up to `high`, starting at the
        key frame at or before `low` (the caller drops what is before `low`). The rows are
        read under the lock; the rounds are rebuilt one at a time after it."""
        with self._lock:
            certs, rows = self._fetch(low, high)
        yield from _rebuild(certs, rows)

    def _fetch(self, low: float, high: float) -> tuple[Any, list[tuple]]:
        start = self._conn.execute(
            "SELECT MAX(ts) FROM entries WHERE kind = 'round' AND ts <= ?", (low,)
        ).fetchone()[0]
        start = low if start is None else start
        rows = self._conn.execute(
            "SELECT id, ts, kind, body FROM entries WHERE kind IN ('round', 'rdelta', "
            "'certs') AND ts >= ? AND ts <= ? ORDER BY ts, id",
            (start, high),
        ).fetchall()
        return self._certs_at(start), rows

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


def _rebuild(certs: Any, rows: list[tuple]) -> Iterator[tuple[float, dict[str, Any], Any]]:
    """Whole rounds from key frames and the differences after them, with the certificates
    of their time; a damaged row, or a difference whose base is not among the last
    `_BASES` rounds, is skipped."""
    bases: dict[int, dict[str, Any]] = {}
    for row_id, ts, kind, body in rows:
        try:
            doc = json.loads(body)
            if kind == "certs":
                certs = doc["cert"]
                continue
            if kind == "rdelta":
                doc = patch(bases[doc.pop("b")], doc)
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        bases[row_id] = doc
        if len(bases) > _BASES:
            del bases[min(bases)]
        yield ts, doc, certs
