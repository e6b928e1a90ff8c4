"""`hawizard certs rotate`: new certificates onto a running etcd cluster, one member at a time.

**Leaf rotation** (default): the etcd leaves that are expiring, expired or no longer match
the plan (or all of them with `all_leaves`) are re-issued locally — same subject and SANs,
new keys — then rolled out one member at a time: upload, restart, wait until every member
is healthy again *and* the member serves exactly the certificate just issued (client and
peer port), then the next. Followers go first; the leader hands its leadership to a
follower before its own restart. Masters get a new apiserver→etcd client certificate one at
a time the same way. A member that is down is skipped with a note (its certificates are left
as they are); without quorum nothing starts.

**CA rotation** (`ca="etcd"`), refused unless every member is healthy; three phases, each a
rolling restart with health waits (see `hawizard.pki.rotation` for the local files):
1. every member and master trusts the bundle old + new CA;
2. the new CA takes the old one's place locally (the old pair is kept, renamed), every etcd
   leaf is re-issued from it and rolled;
3. everyone trusts the new CA alone.
No member ever trusts neither CA: the bundle is in place on all of them before any of them
serves a certificate from the new CA, and the bundle is only dropped once all of them do.

Resumable: the rotation in flight is recorded in `<plan stem>.rotate.json` (its kind, phase
and the serials it issued) before anything changes; running the same command again continues
it, and a different rotation is refused until it finishes. Every member step decides from
the node itself (files, a `rotation-pending` marker written before the upload and removed
after the health wait, the served certificate) whether it still has work, so a member that
was done is never restarted again. The caller holds the plan lock (`rotate` does).

The record is `ops.rotate_state`, the phases `ops.rotate_run`; this module judges the request
and runs it through the driver.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from hawizard import pki
from hawizard.etcd.probe import cluster_health
from hawizard.ops.refusal import Refused
from hawizard.ops.rotate_run import Rotation
from hawizard.ops.rotate_state import RotationState, read_state, state_path
from hawizard.pki.inspection import Status, ca_certificate, inspect_cert
from hawizard.pki.specs import CA, leaf_specs
from hawizard.plan import Plan
from hawizard.steps import Phase, RunResult

__all__ = [
    "CA_CHOICES",
    "Rotation",
    "RotationState",
    "assess",
    "check_ca",
    "command_for",
    "read_state",
    "rotate",
    "state_path",
]

CA_CHOICES = ("etcd", "kubernetes")
_NEEDS_ROTATION = (Status.EXPIRING, Status.EXPIRED, Status.MISMATCH, Status.UNTRUSTED)


def command_for(plan_label: str, ca: str | None, all_leaves: bool = False) -> str:
    tail = f" --ca {ca}" if ca else (" --all" if all_leaves else "")
    return f"hawizard certs rotate {plan_label}{tail}"


# --- assess -----------------------------------------------------------------------------------


def check_ca(ca: str | None) -> None:
    """Refuse a `--ca` value that names no CA (before anything is probed or locked)."""
    if ca is not None and ca not in CA_CHOICES:
        raise Refused(
            f"unknown CA {ca!r}: hawizard rotates the 'etcd' or the 'kubernetes' CA",
            "use --ca etcd or --ca kubernetes, or no --ca for the leaf certificates",
        )


def assess(
    plan: Plan, *, ca: str | None = None, all_leaves: bool = False, now: datetime | None = None
) -> Rotation:
    """Judge the request against the PKI and a probe round; raise `Refused` when it must not
    go ahead (nothing has changed then)."""
    label = str(plan.source) if plan.source else "PLAN"
    check_ca(ca)
    if ca == "kubernetes":
        raise Refused(
            "rotating the Kubernetes CA is not supported yet (kubeconfigs, the apiserver "
            "serving certificate and kubelets would all need the three phases)",
            f"rotate the etcd CA with `{command_for(label, 'etcd')}`; Kubernetes leaves are "
            "renewed with `hawizard certs create --renew` and `hawizard apply`",
        )
    if plan.source is None:
        raise Refused("the plan has no file", "a rotation records its progress beside the plan")
    kind = "ca" if ca else "leaf"
    state = read_state(plan)
    if state is not None and (state.kind != kind or state.ca != ca):
        raise Refused(
            f"a {'CA' if state.kind == 'ca' else 'leaf'} rotation started {state.started} "
            "has not finished",
            f"run `{command_for(label, state.ca, state.kind == 'leaf')}` to finish it first",
        )
    try:
        health = cluster_health(plan)
    except OSError as exc:
        raise Refused(
            f"cannot use the operator's etcd client certificate ({exc})",
            f"hawizard certs check {label}",
        ) from None
    down = [m.name for m in health.members if m.in_plan and not (m.reachable and m.healthy)]
    if not health.quorum_ok:
        raise Refused(
            f"etcd has lost its quorum ({health.summary}): nothing can be rotated",
            f"hawizard status {label}",
        )
    if kind == "ca" and (down or not health.converged):
        why = f"{', '.join(down)} down" if down else "; ".join(list(health.problems)[:3])
        raise Refused(
            f"the cluster is degraded ({health.summary}; {why}): a CA rotation restarts every "
            "member three times and needs all of them",
            f"bring the cluster back first (`hawizard status {label}`), then run it again",
        )
    notes: list[str] = []
    skipped = list(state.skipped) if state else []
    for name in down:
        if name not in skipped:
            skipped.append(name)
    for name in skipped:
        notes.append(
            f"{name} is down: its certificates are not rotated now; run "
            f"`{command_for(label, None, True)}` again once it is back"
        )
    members = [n for n in plan.etcd_nodes if n.name not in skipped]
    leader = next((m.name for m in health.members if m.is_leader), "")
    members.sort(key=lambda n: n.name == leader)  # the leader last
    if kind == "ca":
        names: list[str] = []
    elif state is not None:
        names = list(state.names)
    else:
        names = _leaves_to_rotate(plan, skipped, all_leaves, now)
        if not names:
            notes.append("no etcd certificate is expiring or mismatched: nothing to rotate")
    return Rotation(
        plan,
        kind,
        CA(ca) if ca else None,
        names,
        members,
        [n for n in plan.control_plane_nodes if n.name not in skipped],
        skipped,
        notes,
        health,
        resume=state is not None,
        state=state,
    )


def _leaves_to_rotate(
    plan: Plan, skipped: list[str], all_leaves: bool, now: datetime | None
) -> list[str]:
    now = now or datetime.now(UTC)
    ca_cert = ca_certificate(pki.ca_specs(plan)[CA.ETCD])
    untouched = {f"etcd/{kind}-{name}" for name in skipped for kind in ("server", "peer")}
    names = []
    for spec in leaf_specs(plan):
        if spec.ca is not CA.ETCD or spec.name in untouched:
            continue
        report = inspect_cert(spec, ca_cert, plan.pki.key.value, now, plan.pki.cert_days)
        if all_leaves or report.status in _NEEDS_ROTATION:
            names.append(spec.name)
    return names


# --- the whole use case -------------------------------------------------------------------------


def rotate(
    plan: Plan,
    run: Callable[[Plan, list[Phase]], RunResult],
    *,
    ca: str | None = None,
    all_leaves: bool = False,
    dry_run: bool = False,
    confirm: Callable[[Rotation], bool] | None = None,
    command: str = "",
) -> tuple[Rotation, RunResult | None]:
    """Lock the plan, assess, (confirm,) record, run the phases, clear the record when done.

    `run(plan, phases)` runs phases on the engine (the face decides how progress is shown).
    Returns the rotation and the run's result (None when there was nothing to do or the
    operator said no). Raises `Refused` (also for a plan held by another command, and while
    another operation is in flight: `ops.operation.drive`).
    """
    from hawizard.ops.operation import drive

    command = command or command_for(str(plan.source), ca, all_leaves)
    op = RotateOperation(command, ca, all_leaves)
    ask = None if confirm is None else (lambda o: confirm(o.rotation))
    driven = drive(op, plan, lambda p, ph: run(p, list(ph)), dry_run=dry_run, confirm=ask)
    assert op.rotation is not None
    return op.rotation, driven.result


@dataclass
class RotateOperation:
    """A rotation as an Operation: judged (and resumed from `.rotate.json`) under the lock."""

    command: str
    ca: str | None = None
    all_leaves: bool = False
    title: str = "certificate rotation"
    record: str | None = "rotate"
    rotation: Rotation | None = None

    def assess(self, plan: Plan) -> bool:
        self.rotation = assess(plan, ca=self.ca, all_leaves=self.all_leaves)
        return not (self.rotation.kind == "leaf" and not self.rotation.names)

    def begin(self, dry_run: bool) -> None:
        assert self.rotation is not None
        self.rotation.begin(dry_run=dry_run)

    def phases(self) -> list[Phase]:
        assert self.rotation is not None
        return self.rotation.phases()

    def finish(self, ok: bool) -> None:
        assert self.rotation is not None
        self.rotation.finish(ok)
