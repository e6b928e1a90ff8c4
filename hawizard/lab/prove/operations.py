"""The operations `lab prove` puts under load, each through the ops layer the CLI runs.

Every operation is a function `(ctx) -> Outcome`: it runs while the recording workload
writes, and returns whether it finished and, for `restore`, its declared loss window. They
call the same functions as the CLI (`ops.defrag.Defrag` through `ops.operation.drive`,
`ops.rotate.rotate`, `ops.upgrade.upgrade`, `ops.change.change`, `ops.restore.restore`,
`ops.recover.RecoverOperation` through `ops.operation.drive`), with `--yes` semantics (no
confirmation).
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from hawizard.lab.kv_loop import Trust
from hawizard.lab.prove.history import Window

if TYPE_CHECKING:
    from hawizard.lab import Lab
    from hawizard.lab.prove.workload import Recorder
    from hawizard.plan import Plan
    from hawizard.steps import RunResult

__all__ = ["OPS", "ORDER", "PLANNED", "Context", "Outcome", "available", "prepare"]

#: Planned operations must not fail a single request; the others (a power-off, a recovery,
#: a restore) may, but nothing acknowledged may be lost.
PLANNED = frozenset({"replace", "upgrade", "rotate-ca", "defrag", "patch"})
#: The order `--ops all` runs them in: the upgrade first (the cluster is built on 3.5.0 for
#: it), the restore last (it rewinds the cluster).
ORDER = ("upgrade", "leader-loss", "defrag", "rotate-ca", "replace", "patch", "recover", "restore")


@dataclass
class Context:
    """What an operation works with: the lab, the plan file, the workload, a progress line."""

    lab: Lab
    plan_path: Path
    recorder: Recorder
    folder: Path
    say: Callable[[str], None] = lambda line: None
    upgrade_from: Path | None = None  # the 3.5.0 binaries the cluster was built with

    @property
    def plan(self) -> Plan:
        from hawizard.plan import load

        return load(self.plan_path)

    def save(self, plan: Plan) -> Plan:
        from hawizard.plan import dump, load

        dump(plan, self.plan_path)
        return load(self.plan_path)

    def run(self, plan: Plan, phases, listener=None) -> RunResult:
        """The engine's runner as `ops.runner.make_runner` builds it for the CLI."""
        from hawizard.ops.runner import make_runner

        runner = make_runner(
            plan, dry_run=False, listener=listener, ask_password=_no_password, parallel=10
        )
        return runner.run(list(phases))

    def trust(self, name: str, ca: Path) -> Trust:
        """A client identity of its own (copies): rotations rewrite the PKI's files."""
        from hawizard import pki

        admin = pki.paths(self.plan).etcd_admin
        d = self.folder / "client" / name
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copyfile(ca, d / "ca.pem")
        shutil.copyfile(admin.cert, d / "c.pem")
        shutil.copyfile(admin.key, d / "k.pem")
        (d / "k.pem").chmod(0o600)
        return Trust(d / "ca.pem", d / "c.pem", d / "k.pem")


@dataclass
class Outcome:
    ok: bool
    note: str = ""
    window: Window | None = None
    details: dict = field(default_factory=dict)


def _no_password(prompt: str) -> str:
    raise RuntimeError(f"lab prove cannot answer a password prompt ({prompt})")


def _ok(result: RunResult | None, note: str = "") -> Outcome:
    if result is None:
        return Outcome(True, note or "nothing to do")
    if result.ok:
        return Outcome(True, note)
    return Outcome(False, f"{note} failed: {result.failures!r}"[:300])


# --- the operations -----------------------------------------------------------------------------


def leader_loss(ctx: Context) -> Outcome:
    """Power off the member that leads (`lab fault stop`), let the writes go on, power it on."""
    from hawizard.etcd.probe import cluster_health, wait_healthy

    plan = ctx.plan
    leader = cluster_health(plan).leader_name
    if not leader:
        return Outcome(False, "no leader to power off")
    ctx.say(f"power off the leader {leader}")
    stopped = time.monotonic()
    ctx.lab.stop(leader)
    deadline = stopped + 60
    while time.monotonic() < deadline:  # the survivors elect a leader and serve writes again
        if sum(1 for w in ctx.recorder.writes if w.acked and w.t0 > stopped) >= 20:
            break
        time.sleep(0.2)
    ctx.say(f"power {leader} on again")
    ctx.lab.start(leader)
    wait_healthy(plan, timeout=120)
    return Outcome(True, f"{leader} off {time.monotonic() - stopped:.0f} s")


def defrag(ctx: Context) -> Outcome:
    """`etcd defrag` the way its CLI runs it: `ops.defrag_op.defrag` on the driver."""
    from hawizard.ops.defrag_op import defrag as run_defrag

    plan = ctx.plan
    assert plan.source is not None
    op, driven = run_defrag(plan, ctx.run, command=f"hawizard etcd defrag {ctx.plan_path}")
    if op.defrag.refusal is not None:
        return Outcome(False, f"refused: {op.defrag.refusal}")
    assert driven.result is not None
    return _ok(driven.result, f"order {', '.join(op.defrag.order)}")


def rotate_ca(ctx: Context) -> Outcome:
    """Rotate the etcd CA; the clients follow it as an operator's would: the bundle from
    phase 1 on, the new client certificate from phase 3, the new CA alone at the end."""
    from hawizard import pki
    from hawizard.ops.rotate import rotate
    from hawizard.pki.rotation import ca_files
    from hawizard.steps import EventKind

    plan = ctx.plan
    files = ca_files(plan, pki.CA.ETCD)
    switched: set[str] = set()

    def follow(event) -> None:
        which = event.step[:7]
        phase = event.kind is EventKind.PHASE and which in ("phase 1", "phase 3")
        if phase and which not in switched and files.trust.exists():
            switched.add(which)
            ctx.recorder.use(ctx.trust(which.replace(" ", "-"), files.trust))

    _, result = rotate(plan, lambda p, ph: ctx.run(p, ph, follow), ca="etcd")
    ctx.recorder.use(ctx.trust("new-ca", files.current.cert))
    return _ok(result)


def upgrade(ctx: Context) -> Outcome:
    """etcd 3.5.0 → 3.5.1, one member at a time (the cluster was built on 3.5.0 for it)."""
    from hawizard.lab.prove.binaries import etcd_351
    from hawizard.ops.upgrade import upgrade as run_upgrade

    plan = ctx.plan
    if plan.etcd.version != "3.5.0":
        return Outcome(False, f"the cluster runs etcd {plan.etcd.version}, not 3.5.0")
    new = ctx.save(
        replace(plan, etcd=replace(plan.etcd, binaries=str(etcd_351()), version="3.5.1"))
    )
    _, result, _ = run_upgrade(new, ctx.run, command=f"hawizard etcd upgrade {ctx.plan_path}")
    return _ok(result, "3.5.0 → 3.5.1")


def replace_member(ctx: Context) -> Outcome:
    """Replace the plan's last member with the lab's spare node (running member, planned)."""
    from hawizard.ops.change import change
    from hawizard.plan import Role

    plan = ctx.plan
    old = plan.etcd_nodes[-1].name
    members = {n.name for n in plan.nodes}
    spare = next((n for n in ctx.lab.plan().nodes if n.name not in members), None)
    if spare is None:
        return Outcome(False, "the lab has no spare node")
    plan = ctx.save(plan.with_nodes((*plan.nodes, replace(spare, roles=(Role.ETCD,)))))
    outcome = change(
        plan,
        "replace",
        spare.name,
        old,
        run=ctx.run,
        command=f"hawizard etcd replace {ctx.plan_path} {old} {spare.name}",
        plan_label=str(ctx.plan_path),
    )
    note = f"{old} → {spare.name}"
    return Outcome(outcome.ok, note if outcome.ok else f"{note} failed")


def restore(ctx: Context) -> Outcome:
    """Snapshot a follower, let the writes go on, restore every member from it: the writes
    after the snapshot's revision are the declared window."""
    from hawizard.etcd.probe import cluster_health
    from hawizard.etcd.snapshot import take_snapshot
    from hawizard.ops.restore import restore as run_restore
    from hawizard.remote import Host

    plan = ctx.plan
    health = cluster_health(plan)
    member = sorted((m for m in health.members if m.healthy), key=lambda m: m.is_leader)[0]
    out = ctx.folder / "snapshots" / f"prove-{time.time():.0f}.db"
    out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with Host.from_plan(plan, member.name) as host:
        info = take_snapshot(host, plan, plan.node(member.name), out)
    assert info is not None and info.revision is not None
    time.sleep(2)  # writes the snapshot does not hold: the window
    outcome = run_restore(
        plan,
        out,
        ctx.run,
        command=f"hawizard etcd restore {ctx.plan_path} {out}",
        force_while_healthy=True,
    )
    window = Window(info.revision, time.monotonic())
    if outcome is None:
        return Outcome(False, "restore did not run", window)
    return Outcome(outcome.ok, f"snapshot revision {info.revision}", window)


def recover(ctx: Context) -> Outcome:
    """Quorum lost for real, then `etcd recover` (`ops.recover.RecoverOperation` through the
    driver, as the CLI runs it with `--yes`): both followers stopped and their data dirs
    moved away (as tests/ops/test_recover_lab.py loses them), so the leader, which holds
    every acknowledged write, is the one survivor. Writes fail while the quorum is lost (not
    a planned operation); none acknowledged may be lost."""
    from hawizard.etcd.probe import cluster_health
    from hawizard.ops.operation import drive
    from hawizard.ops.recover import RecoverOperation

    plan = ctx.plan
    leader = cluster_health(plan).leader_name
    if not leader:
        return Outcome(False, "no leader: nothing to keep")
    lost = [m.name for m in plan.etcd_nodes if m.name != leader][:2]
    data = plan.etcd.data_dir
    stamp = f"{time.time():.0f}"
    for name in lost:
        ctx.say(f"recover: {name} lost (etcd stopped, {data} moved away)")
        ctx.lab.exec(name, ["systemctl", "stop", "etcd"], timeout=60)
        ctx.lab.exec(name, ["mv", "-T", data, f"{data}.lost-by-prove-{stamp}"])
    op = RecoverOperation(f"hawizard etcd recover {ctx.plan_path}")
    driven = drive(op, plan, ctx.run)
    survivor = op.survey.survivor.name if op.survey is not None else "?"
    return _ok(driven.result, f"{', '.join(lost)} lost; recovered from {survivor}")


def patch(ctx: Context) -> Outcome:
    """OS patching with reboots: a security update that asks for one is due on every member
    (`patchrepo`); `patch` drains, updates and reboots one node at a time."""
    from hawizard.ops.patch import patch as run_patch

    plan = ctx.plan
    patching, result = run_patch(plan, lambda p, ph: ctx.run(p, ph), reboot="auto")
    return _ok(result, f"{len(patching.order)} nodes patched")


def prepare(ctx: Context, op: str) -> None:
    """What an operation needs before the workload starts (not timed as the operation):
    the security update due on every node for `patch`, the 3.5.1 plan for `upgrade@…`."""
    base, _, fault = op.partition("@")
    if base == "patch":
        from hawizard.lab.prove.patchrepo import install_old

        ctx.say("patch: a security update due on every node")
        install_old(ctx.lab, [n.name for n in ctx.plan.nodes], ctx.folder)
    elif base == "upgrade" and fault:
        from hawizard.lab.prove.binaries import etcd_351

        plan = ctx.plan
        ctx.save(replace(plan, etcd=replace(plan.etcd, binaries=str(etcd_351()), version="3.5.1")))


OPS: dict[str, Callable[[Context], Outcome]] = {
    "leader-loss": leader_loss,
    "replace": replace_member,
    "upgrade": upgrade,
    "rotate-ca": rotate_ca,
    "defrag": defrag,
    "patch": patch,
    "recover": recover,
    "restore": restore,
}


def available(op: str) -> bool:
    """False for a slot whose code is not in this build (`--ops all` leaves it out)."""
    if op == "recover":
        return importlib.util.find_spec("hawizard.ops.recover") is not None
    return True
