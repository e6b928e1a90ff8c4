"""`lab prove`: its own lab, a cluster, and for each operation workload → operation → checker.

For each operation: the recording workload starts on a fresh key prefix and runs alone for
`BASELINE_S` (the "before" latencies), the operation runs through the ops layer, the
workload goes on for `AFTER_S`, stops, and the checker judges its history against one final
range read. `--self-test` adds a row where one acknowledged key is deleted behind the
workload's back: the checker must call it lost, or it proves nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from hawizard.lab.prove.history import check, max_stall, p99
from hawizard.lab.prove.operations import OPS, PLANNED, Context, Outcome, available, prepare

__all__ = ["BASELINE_S", "OpReport", "judge", "prove"]

BASELINE_S = 3.0
AFTER_S = 2.0
NODES = 4  # three members and a spare for `replace`


@dataclass
class OpReport:
    """One row of the scorecard."""

    op: str
    round: int = 1
    duration_s: float = 0.0
    acked: int = 0
    failed: int = 0
    lost: int = 0
    stall_s: float = 0.0
    p99_ms_before: float | None = None
    p99_ms_during: float | None = None
    verdict: str = "ok"
    note: str = ""
    lost_keys: list[str] = field(default_factory=list)
    phantom_keys: list[str] = field(default_factory=list)
    stale_keys: list[str] = field(default_factory=list)
    window: int = 0

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    def to_json(self) -> dict:
        return asdict(self)


def planned(op: str) -> bool:
    """A planned operation must not fail a request; `OP@kill` stays planned (killing the
    tool must not cost the clients anything), `OP@poweroff` is not (a member dies)."""
    base, _, fault = op.partition("@")
    return base in PLANNED and fault != "poweroff"


def judge(op: str, findings, outcome: Outcome, *, expect_lost: bool = False) -> str:
    """The verdict: "ok", or what went wrong (the first of: the operation, loss, phantoms,
    stale reads, failed requests of a planned operation)."""
    problems = []
    if not outcome.ok:
        problems.append("not available" if "not available" in outcome.note else "op failed")
    if findings.lost and not expect_lost:
        problems.append(f"LOST {len(findings.lost)}")
    if findings.phantom:
        problems.append(f"{len(findings.phantom)} never written")
    if findings.stale:
        problems.append(f"{len(findings.stale)} read back older")
    if planned(op) and findings.failed:
        problems.append(f"{findings.failed} failed (planned)")
    return "; ".join(problems) or "ok"


def run_one(ctx: Context, op: str, round_no: int, self_test: bool = False) -> OpReport:
    """Workload, operation, checker for one operation (or the self-test: no operation, one
    acknowledged key deleted)."""
    from hawizard.lab.prove.workload import Recorder

    plan = ctx.plan
    endpoints = [(m.address, plan.etcd.client_port) for m in plan.etcd_nodes]
    rec = Recorder(endpoints, ctx.recorder.trust, prefix=f"/prove/r{round_no}/{op}/")
    ctx.recorder = rec
    if available(op.partition("@")[0]):
        try:
            prepare(ctx, op)
        except Exception as exc:  # its row says so; the other operations still run
            return OpReport(op, round_no, verdict=f"preparation failed: {exc}"[:300])
    ctx.say(f"{op}: workload")
    with rec:
        time.sleep(BASELINE_S)
        t0 = time.monotonic()
        outcome = _operate(ctx, op)
        t1 = time.monotonic()
        time.sleep(AFTER_S)
    victim = ""
    if self_test:
        victim = next(w.key for w in rec.writes if w.acked and not w.key.endswith("/reg"))
        ctx.say(f"self-test: deleting {victim} behind the workload's back")
        rec.delete(victim)
    findings = check(rec.writes, rec.reads, rec.final(), outcome.window)
    before = [w.t1 - w.t0 for w in rec.writes if w.acked and w.t0 < t0]
    during = [w.t1 - w.t0 for w in rec.writes if w.acked and t0 <= w.t0 <= t1]
    report = OpReport(
        op,
        round_no,
        round(t1 - t0, 1),
        findings.acked,
        findings.failed,
        len(findings.lost),
        round(max_stall(rec.writes, t0, t1), 2),
        _ms(p99(before)),
        _ms(p99(during)),
        judge(op, findings, outcome),
        outcome.note,
        findings.lost,
        findings.phantom,
        findings.stale,
        len(findings.windowed),
    )
    if self_test:
        report.note = f"deleted {victim}; checker found lost: {', '.join(findings.lost) or 'none'}"
    return report


def _operate(ctx: Context, op: str) -> Outcome:
    if op == "self-test":
        time.sleep(2)
        return Outcome(True)
    if "@" in op:
        from hawizard.lab.prove.faults import run_faulted

        base, _, fault = op.partition("@")
        fault, _, seed = fault.partition(":")  # `upgrade@kill:25698` replays a schedule
        ctx.say(f"{op}: running")
        try:
            return run_faulted(ctx, base, fault, int(seed) if seed else None)
        except Exception as exc:  # reported in the scorecard like any failed operation
            return Outcome(False, f"{type(exc).__name__}: {exc}"[:300])
    if not available(op):
        return OPS[op](ctx)  # the slot's own "not available" outcome
    ctx.say(f"{op}: running")
    try:
        return OPS[op](ctx)
    except Exception as exc:  # the scorecard reports it; the other operations still run
        return Outcome(False, f"{type(exc).__name__}: {exc}"[:300])


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def prove(
    name: str,
    ops: Sequence[str],
    *,
    rounds: int = 1,
    self_test: bool = False,
    say: Callable[[str], None] = lambda line: None,
    keep: bool = False,
) -> list[OpReport]:
    """Bring up lab `name`, and per round build a fresh cluster and prove `ops` on it.
    The lab is removed at the end (unless `keep`). Raises `LabError` when the lab cannot
    come up."""
    from hawizard.lab import Lab

    lab = Lab(name)
    reports: list[OpReport] = []
    say(f"lab {name}: up ({NODES} nodes)")
    lab.down(purge=True)
    try:
        lab.up(nodes=NODES)
        for round_no in range(1, rounds + 1):
            if round_no > 1:
                lab.reset(*(n.name for n in lab.nodes))
            old = any(op.partition("@")[0] == "upgrade" for op in ops)
            ctx = _cluster(lab, round_no, old, say)
            if self_test:
                reports.append(run_one(ctx, "self-test", round_no, self_test=True))
            for op in ops:
                reports.append(run_one(ctx, op, round_no))
                say(f"{op}: {reports[-1].verdict}")
    finally:
        if not keep:
            lab.down(purge=True)
    return reports


def _cluster(lab, round_no: int, old: bool, say: Callable[[str], None]) -> Context:
    """A 3-member cluster on the lab's first nodes (etcd 3.5.0 when an upgrade follows)."""
    from hawizard import pki
    from hawizard.etcd.probe import wait_healthy
    from hawizard.etcd.rollout import etcd_phases
    from hawizard.lab.prove.binaries import etcd_350
    from hawizard.lab.prove.workload import Recorder
    from hawizard.plan import dump, load

    folder = lab.dir / "prove" / f"round-{round_no}"
    (folder / "pki").mkdir(parents=True, exist_ok=True, mode=0o700)
    plan = lab.plan(nodes=3, pki_dir=folder / "pki")
    if old:
        plan = replace(plan, etcd=replace(plan.etcd, binaries=str(etcd_350()), version="3.5.0"))
    path = Path(folder / "plan.toml")
    dump(plan, path)
    plan = load(path)
    pki.create(plan)
    ctx = Context(lab, path, None, folder, say)  # type: ignore[arg-type]
    say(f"round {round_no}: etcd {plan.etcd.version or ''} on {len(plan.etcd_nodes)} members")
    result = ctx.run(plan, etcd_phases(plan))
    if not result.ok:
        from hawizard.lab.errors import LabError

        raise LabError(f"the cluster did not come up: {result.failures!r}"[:400])
    wait_healthy(plan, timeout=60)
    trust = ctx.trust("start", pki.paths(plan).etcd_ca.cert)
    ctx.recorder = Recorder([], trust)  # its trust is what the next workload starts with
    return ctx
