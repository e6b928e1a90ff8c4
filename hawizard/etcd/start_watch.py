"""Did the member stay running after its start? A bounded watch of the etcd unit right after
the start step, so a member that exits at once fails *its start step* within seconds, quoting
its own journal, instead of surfacing minutes later as a promote or health timeout.

Why a watch is needed at all: the start is `--no-block` (a bootstrapping member waits for its
peers), and a member that cannot run often exits with status 0 — a member this cluster
removed logs "the member has been permanently removed from the cluster" and stops cleanly, so
`Restart=on-failure` never restarts it and the unit just sits `inactive`. It even notifies
systemd as it goes, so the unit is `active` for a moment: one look is not enough, the member
must be seen running for `STAY_UP` seconds — or answer `/health` as healthy (`until`): a
member in a cluster with a leader is past every such early exit, and a new cluster's members
are healthy well before their stay is over (a rollout would otherwise wait it out). A member
that crashes instead is caught in systemd's `auto-restart` state (`RestartSec`).
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass

STAY_UP = 2.0  # seconds a just-started member must keep running
POLL = 0.25  # seconds between two looks at the unit
JOURNAL_LINES = 300  # how far back the member's own journal is read for the quote
_PROPERTIES = (
    "ActiveState",
    "SubState",
    "MainPID",
    "Job",
    "Result",
    "ExecMainStatus",
    "InvocationID",
)
_SEVERE = ("fatal", "panic", "dpanic", "error")
# What a stopping etcd says about itself after the reason it stops for.
_ECHOES = (
    "server stopped",
    "request cancelled",
    "context canceled",
    "Server closed",
    "closed network connection",
)


class MemberExited(Exception):
    """The member's etcd did not stay running after its start: the message quotes its journal
    and says what to do next."""


@dataclass(frozen=True)
class UnitState:
    """What `systemctl show` says about the unit at one moment."""

    active: str = ""  # ActiveState: active, activating, inactive, failed, ...
    sub: str = ""  # SubState: running, start, auto-restart, dead, ...
    main_pid: int = 0
    job: str = ""  # a queued start job (the start is --no-block)
    result: str = ""  # success, exit-code, signal, ...
    exit_status: str = ""
    invocation: str = ""

    @classmethod
    def parse(cls, text: str) -> UnitState:
        values = dict(line.partition("=")[::2] for line in text.splitlines() if "=" in line)

        def number(key: str) -> int:
            raw = values.get(key, "").strip()
            return int(raw) if raw.isdigit() else 0

        return cls(
            active=values.get("ActiveState", "").strip(),
            sub=values.get("SubState", "").strip(),
            main_pid=number("MainPID"),
            job=values.get("Job", "").strip(),
            result=values.get("Result", "").strip(),
            exit_status=values.get("ExecMainStatus", "").strip(),
            invocation=values.get("InvocationID", "").strip(),
        )

    @property
    def exited(self) -> bool:
        """Not running and no start queued: the member ran and stopped (or never ran)."""
        return self.active in ("inactive", "failed") and not self.job

    @property
    def crashing(self) -> bool:
        """systemd waits to restart a member that died (`RestartSec`, longer than the watch).
        The restart count alone says nothing: it may be left over from before this start."""
        return self.sub == "auto-restart"

    @property
    def how(self) -> str:
        if self.crashing:
            status = f"{self.result}, status {self.exit_status or '?'}"
            return f"crashed ({status}) and waits for systemd to restart it"
        if self.result in ("", "success"):
            return f"exited with status {self.exit_status or '0'}"
        return f"stopped ({self.result}, status {self.exit_status or '?'})"


def state_command(unit: str) -> str:
    return f"systemctl show {shlex.quote(unit)} -p {','.join(_PROPERTIES)}"


def journal_command(unit: str, invocation: str) -> str:
    """The member's own lines of its latest run (systemd's lines about the unit left out),
    or the unit's last lines when systemd kept no invocation ID."""
    base = f"journalctl --no-pager -o cat -n {JOURNAL_LINES}"
    if invocation:
        return f"{base} {shlex.quote('_SYSTEMD_INVOCATION_ID=' + invocation)}"
    return f"{base} -u {shlex.quote(unit)}"


def watch_started(
    host,
    unit: str = "etcd",
    *,
    stay: float = STAY_UP,
    poll: float = POLL,
    until: Callable[[], bool] | None = None,
) -> UnitState:
    """Watch `unit` on `host` for `stay` seconds after its start; raise `MemberExited`
    (quoting the member's journal) as soon as it is seen dead or crashing. `until()`: proof
    that it is up (the member answers healthy), which ends the watch at once."""
    deadline = time.monotonic() + stay
    while True:
        state = UnitState.parse(host.probe(state_command(unit)).stdout)
        if state.exited or state.crashing:
            line = last_words(host, unit, state.invocation)
            quote = f": {line}" if line else ""
            raise MemberExited(
                f"etcd on {host.name} did not stay running: it {state.how} right after its "
                f"start; its journal says{quote or ' nothing'}. {_advice(line, host.name)}"
            )
        if time.monotonic() >= deadline or (until is not None and until()):
            return state
        time.sleep(poll)


def last_words(host, unit: str, invocation: str) -> str:
    """The member's last meaningful journal line (journald may lag its exit a little)."""
    for attempt in range(3):
        lines = host.probe(journal_command(unit, invocation)).stdout.splitlines()
        line = meaningful_line(lines)
        if line:
            return line
        time.sleep(0.3 * (attempt + 1))
    return ""


def meaningful_line(lines: list[str]) -> str:
    """etcd logs JSON (zap). The reason, in this order: the last fatal/error line; etcd's own
    "server error" (why a server stops, e.g. a removed member); the last warning (one that
    carries an error first) that is not the shutdown's echo ("server stopped", "request
    cancelled"); else the last line. Returned as "msg: error", short and on one line."""
    parsed = [(_json(line), line.strip()) for line in lines if line.strip()]
    records = [rec for rec, _ in parsed if rec]
    severe = [rec for rec in records if rec.get("level") in _SEVERE]
    if severe:
        return _short(severe[-1])
    stopped = [rec for rec in records if rec.get("msg") == "server error" and "error" in rec]
    if stopped:
        return _short(stopped[-1])
    warned = [
        rec
        for rec in records
        if rec.get("level") == "warn"
        and not any(echo in str(rec.get("error", "")) for echo in _ECHOES)
    ]
    erred = [rec for rec in warned if "error" in rec]
    if erred or warned:
        return _short((erred or warned)[-1])
    if not parsed:
        return ""
    rec, raw = parsed[-1]
    return _short(rec) if rec else _one_line(raw)


def _json(line: str) -> dict | None:
    if not line.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _short(rec: dict) -> str:
    msg, error = str(rec.get("msg", "")), str(rec.get("error", ""))
    return _one_line(f"{msg}: {error}" if msg and error else msg or error)


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _advice(line: str, node: str) -> str:
    if "permanently removed" in line or "data-dir used by this member must be removed" in line:
        return (
            f"{node} holds the data of a member this cluster removed, which etcd never runs "
            f"again: `hawizard etcd add PLAN {node}` (or the `replace` that was running, run "
            "again) renames that data dir aside, kept, and joins it as a new member"
        )
    return f"see `journalctl -u etcd` on {node}; running the same command again resumes"
