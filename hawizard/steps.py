"""Steps and the runner: the only place that decides what runs, where, when, and for real or not.

A step is data — `(node, title, check, apply)`. `check(host)` answers "must anything change?"
so a converged cluster costs only checks; `apply(host)` makes the change. Phases run in order;
inside a phase each node's steps run in order on that node's one connection, and different
nodes run in parallel on a bounded pool. A phase with any failure is the last one started.

Dry run, resume and progress all live here, not in the steps: in a dry run the runner hands
steps `DryRunHost`s (probes real, side effects recorded); the journal skips `once` steps that
already ran; every transition becomes an `Event` for whoever listens (CLI, TUI).

Local steps (`node=None`) run on the operator's machine, e.g. "wait until the cluster is
healthy"; they get a `Local` instead of a Host. In a dry run their `check` runs but their
`apply` is only recorded, since the runner cannot see inside it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hawizard.journal import Journal
from hawizard.remote import HostPool, Recorded, RemoteError

__all__ = [
    "LOCAL",
    "Event",
    "EventKind",
    "Failure",
    "Local",
    "NodeSummary",
    "Phase",
    "RunResult",
    "Runner",
    "Step",
    "detail",
    "say",
]

log = logging.getLogger(__name__)

#: The name local steps are counted and recorded under (not a valid node name).
LOCAL = "(local)"
_TAIL = 20
#: After Ctrl-C: seconds the steps in flight get to finish on their own, then their commands
#: are cut (SSH channels closed) and the run returns after at most `_ABORT_WAIT` more.
_GRACE = 1.0
_ABORT_WAIT = 1.0


def say(target: object, line: str) -> None:
    """A line of progress from a step's check or apply, to the runner's log: `target` is the
    host (or `Local`) the step got, which streams it when the runner listens."""
    on_output = getattr(target, "on_output", None)
    if on_output is not None:
        on_output(line)


def detail(target: object, line: str) -> None:
    """A line of a tool's raw output that the step sums up in a `say` line of its own (dpkg's
    notes during a masked install): kept for a verbose view and a failure's last lines, not
    shown in the default log, where it would read as a failure when nothing failed."""
    on_detail = getattr(target, "on_detail", None)
    if on_detail is not None:
        on_detail(line)


class EventKind(StrEnum):
    PHASE = "phase"  # a phase begins: step = phase title, text = "i/n"
    STARTED = "started"
    OUTPUT = "output"  # one line of a remote command's output
    CHANGED = "changed"  # applied (in a dry run: would be applied)
    UNCHANGED = "unchanged"  # check said nothing to do, or a `once` step already done
    FAILED = "failed"  # text = the error


@dataclass(frozen=True)
class Event:
    kind: EventKind
    node: str | None
    step: str
    text: str = ""
    phase: str = ""
    at: float = field(default_factory=time.monotonic)
    #: OUTPUT only: raw tool output a step sums up itself (`detail`): a verbose view's line
    detail: bool = False


@dataclass(frozen=True)
class Step:
    """`check` returns True when something must change (None: always apply).

    `key` identifies the step in the journal; it defaults to "node/title", so give an explicit
    one when a title is not stable. `once` steps run at most once per journal.
    """

    node: str | None
    title: str
    check: Callable[[Any], bool] | None
    apply: Callable[[Any], None]
    key: str = ""
    once: bool = False

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", f"{self.node or LOCAL}/{self.title}")


@dataclass(frozen=True)
class Phase:
    title: str
    steps: tuple[Step, ...]

    def __init__(self, title: str, steps: Iterable[Step]):
        object.__setattr__(self, "title", title)
        object.__setattr__(self, "steps", tuple(steps))


class Local:
    """What a local step receives: where it would report output, and whether it is a dry run."""

    name = LOCAL

    def __init__(self, dry_run: bool):
        self.dry_run = dry_run
        self.step = ""
        self.on_output: Callable[[str], None] | None = None
        self.on_detail: Callable[[str], None] | None = None

    def output(self, line: str) -> None:
        if self.on_output is not None:
            self.on_output(line)


@dataclass
class NodeSummary:
    changed: int = 0
    unchanged: int = 0
    failed: int = 0
    not_run: int = 0  # steps after a failure on this node, or in phases never started


@dataclass(frozen=True)
class Failure:
    node: str
    step: str
    error: str
    output: tuple[str, ...] = ()  # the last output lines of the failed step


@dataclass
class RunResult:
    dry_run: bool
    nodes: dict[str, NodeSummary] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    #: Dry run: per host (LOCAL for local steps), the side effects that were not performed.
    recorded: dict[str, list[Recorded]] = field(default_factory=dict)
    phases_done: list[str] = field(default_factory=list)
    phases_not_started: list[str] = field(default_factory=list)
    #: Ctrl-C stopped the run; `interrupted_at` holds "node: step" of the steps in flight.
    interrupted: bool = False
    interrupted_at: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.phases_not_started and not self.interrupted

    def count(self, what: str) -> int:
        """Total of one NodeSummary field over all nodes ("changed", "failed", ...)."""
        return sum(getattr(s, what) for s in self.nodes.values())


class Runner:
    """Runs phases of steps against the hosts of one `HostPool` (closed when `run` ends)."""

    def __init__(
        self,
        hosts: HostPool,
        *,
        parallel: int = 10,
        journal: Journal | None = None,
        listener: Callable[[Event], None] | None = None,
    ):
        if parallel < 1:
            raise ValueError("parallel must be at least 1")
        self.hosts = hosts
        self.parallel = parallel
        self.journal = journal
        self.listener = listener
        self.dry_run = hosts.dry_run
        self._emit_lock = threading.Lock()
        self._result_lock = threading.Lock()
        self._cancel = threading.Event()
        self._local = Local(self.dry_run)
        self._result = RunResult(self.dry_run)
        self._local_recorded: list[Recorded] = []
        self._in_flight: dict[str, str] = {}  # node -> title of the step it is running

    def cancel(self) -> None:
        """Finish the steps that are running, start no others (thread-safe; for the TUI)."""
        self._cancel.set()

    def run(self, phases: Sequence[Phase]) -> RunResult:
        self._validate(phases)
        self._local_recorded.clear()
        result = self._result = RunResult(self.dry_run)
        for phase in phases:
            for step in phase.steps:
                result.nodes.setdefault(step.node or LOCAL, NodeSummary())
        writing = self.journal is not None and not self.dry_run
        if writing:
            self.journal.begin()
        try:
            for i, phase in enumerate(phases):
                if result.failures or self._cancel.is_set():
                    result.phases_not_started.append(phase.title)
                    for step in phase.steps:
                        result.nodes[step.node or LOCAL].not_run += 1
                    continue
                try:
                    count = f"{i + 1}/{len(phases)}"
                    self._emit(Event(EventKind.PHASE, None, phase.title, count, phase.title))
                    self._run_phase(phase)
                except KeyboardInterrupt:  # between two waits: the same as during one
                    self._interrupt([])
                result.phases_done.append(phase.title)
        finally:
            result.recorded = self.hosts.recorded()
            if self._local_recorded:
                result.recorded[LOCAL] = list(self._local_recorded)
            self.hosts.close()
            if writing:
                self.journal.finish(
                    ok=result.ok, failed=[f"{f.node}: {f.step}" for f in result.failures]
                )
        return result

    def _validate(self, phases: Sequence[Phase]) -> None:
        names = {n.name for n in self.hosts.plan.nodes}
        seen: set[str] = set()
        for phase in phases:
            for step in phase.steps:
                if step.node is not None and step.node not in names:
                    raise ValueError(
                        f"step {step.title!r}: no node named {step.node!r} in the plan"
                    )
                if step.key in seen:
                    raise ValueError(f"two steps share the journal key {step.key!r}")
                seen.add(step.key)

    def _run_phase(self, phase: Phase) -> None:
        """Lanes on a bounded set of daemon threads; the caller's thread only waits.

        Waiting in short `join`s keeps Ctrl-C deliverable; daemon threads mean a step stuck
        past the interrupt (a local wait loop) cannot hold the process open afterwards.
        """
        lanes: dict[str | None, list[Step]] = {}
        for step in phase.steps:
            lanes.setdefault(step.node, []).append(step)
        queue = deque(lanes.values())
        queue_lock = threading.Lock()
        bugs: list[BaseException] = []

        def worker() -> None:
            while True:
                with queue_lock:
                    if not queue:
                        return
                    steps = queue.popleft()
                try:
                    self._lane(phase, steps)
                except BaseException as exc:
                    # _lane catches step errors: this is a runner bug, or a KeyboardInterrupt
                    # raised inside a step, which the caller treats as Ctrl-C
                    bugs.append(exc)

        threads = [
            threading.Thread(target=worker, name=f"hawizard-step-{i}", daemon=True)
            for i in range(min(self.parallel, len(lanes)) or 1)
        ]
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.2)
        except KeyboardInterrupt:
            self._interrupt(threads)
        if bugs:
            raise bugs[0]

    def _interrupt(self, threads: list[threading.Thread]) -> None:
        """Ctrl-C: start nothing more, give the steps in flight `_GRACE` seconds, then cut
        their remote commands; the journal keeps every step that finished, so a re-run
        resumes from here."""
        self._cancel.set()
        with self._result_lock:
            self._result.interrupted = True
            self._result.interrupted_at = [
                f"{node}: {title}" for node, title in sorted(self._in_flight.items())
            ]
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C: cut at once
            _join_all(threads, _GRACE)
        self.hosts.abort()
        with contextlib.suppress(KeyboardInterrupt):
            _join_all(threads, _ABORT_WAIT)

    def _lane(self, phase: Phase, steps: list[Step]) -> None:
        """One node's steps, in order, by one worker: the Host is never shared meanwhile."""
        for i, step in enumerate(steps):
            if self._cancel.is_set():
                self._not_run(step, len(steps) - i)
                return
            if not self._run_step(phase, step):
                self._not_run(step, len(steps) - i - 1)
                return

    def _not_run(self, step: Step, n: int) -> None:
        with self._result_lock:
            self._result.nodes[step.node or LOCAL].not_run += n

    def _run_step(self, phase: Phase, step: Step) -> bool:
        node = step.node or LOCAL
        self._emit(Event(EventKind.STARTED, step.node, step.title, phase=phase.title))
        if step.once and self.journal is not None and (done := self.journal.done_once(step.key)):
            self._finish(phase, step, EventKind.UNCHANGED, f"done already ({done.at}, journal)")
            return True
        tail: deque[str] = deque(maxlen=_TAIL)

        def output(line: str) -> None:
            tail.append(line)
            self._emit(Event(EventKind.OUTPUT, step.node, step.title, line, phase.title))

        def raw(line: str) -> None:
            tail.append(line)  # a failure shows the tool's own last lines
            self._emit(
                Event(EventKind.OUTPUT, step.node, step.title, line, phase.title, detail=True)
            )

        target = self.hosts.get(step.node) if step.node is not None else self._local
        target.step = step.title
        target.on_output = output
        target.on_detail = raw
        with self._result_lock:
            self._in_flight[node] = step.title
        try:
            needed = step.check(target) if step.check is not None else True
            if needed and step.node is None and self.dry_run:
                self._local_recorded.append(Recorded("local", step.title, step.title))
            elif needed:
                step.apply(target)
            if not self.dry_run and self.journal is not None:
                self.journal.record(
                    step.key, step.node, step.title, changed=bool(needed), once=step.once
                )
        except Exception as exc:
            error = str(exc) if isinstance(exc, RemoteError) else f"{type(exc).__name__}: {exc}"
            if self._cancel.is_set() and self._result.interrupted:
                error = f"interrupted (Ctrl-C): {error}"
            lines = tuple(tail) or (tuple(exc.tail()) if isinstance(exc, RemoteError) else ())
            with self._result_lock:
                self._result.failures.append(Failure(node, step.title, error, lines))
            self._finish(phase, step, EventKind.FAILED, error)
            return False
        finally:
            target.on_output = None
            target.on_detail = None
            with self._result_lock:
                self._in_flight.pop(node, None)
        if needed:
            self._finish(phase, step, EventKind.CHANGED, "would change" if self.dry_run else "")
        else:
            self._finish(phase, step, EventKind.UNCHANGED)
        return True

    def _finish(self, phase: Phase, step: Step, kind: EventKind, text: str = "") -> None:
        with self._result_lock:
            summary = self._result.nodes[step.node or LOCAL]
            field_name = {
                EventKind.CHANGED: "changed",
                EventKind.UNCHANGED: "unchanged",
                EventKind.FAILED: "failed",
            }[kind]
            setattr(summary, field_name, getattr(summary, field_name) + 1)
        self._emit(Event(kind, step.node, step.title, text, phase.title))

    def _emit(self, event: Event) -> None:
        if self.listener is None:
            return
        with self._emit_lock:  # listeners never see two events at once
            try:
                self.listener(event)
            except Exception:
                log.exception("event listener failed on %s", event)


def _join_all(threads: list[threading.Thread], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    for t in threads:
        while t.is_alive() and (left := deadline - time.monotonic()) > 0:
            t.join(min(left, 0.2))
