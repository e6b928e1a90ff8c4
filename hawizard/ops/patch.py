"""`hawizard patch PLAN`: OS updates on every node, one node at a time, never below quorum.

For each node with work (etcd members and masters alike), in turn — the etcd leader last, so
the cluster elects once at most:

1. **gate** — the cluster can lose this node now: every etcd member healthy with one leader
   and at least one failure to spare, every running apiserver ready. Otherwise the run stops
   there, naming who is unhealthy (the first gate is also checked up front: `Refused`).
2. **VIP** — on a balancer node of a `vip`-mode endpoint that holds the VIP: keepalived is
   stopped there (a marker in `/run` says hawizard did it) and the run waits until another
   balancer node holds the VIP.
3. **upgrade** — the package manager's upgrade (`hawizard.os_packages`): security updates
   only by default where the distribution tells them apart, every update with `all_updates`.
4. **reboot** — when the system says it needs one (`/run/reboot-required`,
   `needs-restarting -r`) and `reboot="auto"`; then wait until SSH answers from a new boot.
5. **back** — keepalived started again if hawizard stopped it; etcd healthy with this member
   caught up (raft index within `CATCH_UP_WINDOW` of the leader's); the apiserver ready when
   it ran before. Only then the next node.

Every phase holds one node's steps, so the engine never works on two nodes at once. The run
is journaled (the plan's journal, `steps.Runner`), and the patch record `<plan stem>.patch.json`
says per node when it started and finished, the packages, and the upgrade/reboot/recovery
times — "one node at a time" can be read from it. It is resumable by construction: every step
asks the node whether it still has work (updates pending, a reboot wanted, the keepalived
marker), so running the same command again finishes what an interrupted run left, and a
converged cluster has nothing to do. The caller holds the plan lock (`patch` does).

A dry run lists the updates per node from the package indexes as they are (`apt-get update`
changes the node's index files, so it only runs in a real run) and changes nothing.

The node survey (read-only facts) is `ops.patch_facts`; the VIP hand-off is `balancer.handoff`;
the phases are `ops.patch_run`, the record `ops.patch_record`. This module judges the request
and runs it through the driver.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from hawizard.control_plane.probe import probe_apiserver
from hawizard.etcd.probe import ClientTLS, cluster_health
from hawizard.health import ClusterHealth
from hawizard.ops.patch_facts import NodeSurvey, holds_address, survey_node
from hawizard.ops.patch_record import NodeEntry, PatchRecord, record_path
from hawizard.ops.patch_run import Patching, etcd_problems
from hawizard.ops.refusal import Refused
from hawizard.plan import BalancerMode, Node, Plan
from hawizard.steps import Phase, RunResult

__all__ = [
    "REBOOT_CHOICES",
    "NodeEntry",
    "NodeSurvey",
    "PatchRecord",
    "Patching",
    "assess",
    "command_for",
    "holds_address",
    "patch",
    "record_path",
]

REBOOT_CHOICES = ("auto", "never")
SURVEY_PARALLEL = 10


def command_for(plan_label: str, all_updates: bool = False, reboot: str = "auto") -> str:
    return (
        f"hawizard patch {plan_label}"
        + (" --all" if all_updates else "")
        + (f" --reboot={reboot}" if reboot != "auto" else "")
    )


# --- assess -----------------------------------------------------------------------------------


def check_reboot(reboot: str) -> None:
    if reboot not in REBOOT_CHOICES:
        raise Refused(f"unknown --reboot value {reboot!r}", "use --reboot=auto or --reboot=never")


def assess(
    plan: Plan,
    *,
    security_only: bool = True,
    reboot: str = "auto",
    refresh: bool = True,
    trust_new: bool = False,
    sudo_password=None,
) -> Patching:
    """Judge the request: the cluster can lose a node, and what every node would upgrade.
    Raises `Refused` (nothing has changed then, except refreshed package indexes)."""
    check_reboot(reboot)
    label = str(plan.source) if plan.source else "PLAN"
    if plan.source is None:
        raise Refused("the plan has no file", "a patch run records its progress beside the plan")
    record = PatchRecord.read(record_path(plan.source))
    health = _etcd_can_lose_one(plan, label)
    surveys = _survey_all(plan, label, security_only, refresh, trust_new, sudo_password)
    _apiservers_ready(plan, surveys, label)
    leader = health.leader_name if health else ""
    order = [s.node for s in surveys if s.has_work(reboot)]
    order.sort(key=lambda n: n == leader)  # the leader last: one election at most
    resume = record is not None and not record.finished
    return Patching(
        plan,
        security_only,
        reboot,
        surveys,
        order,
        health,
        _notes(plan, surveys, reboot, refresh),
        resume=resume,
        record=record if resume else None,
    )


def _etcd_can_lose_one(plan: Plan, label: str) -> ClusterHealth | None:
    """The first gate, checked up front: every member healthy, one leader, one to spare."""
    if not plan.etcd_nodes:
        return None
    try:
        health = cluster_health(plan, tls=ClientTLS.for_plan(plan))
    except OSError as exc:
        raise Refused(
            f"cannot use the operator's etcd client certificate ({exc})",
            f"hawizard certs check {label}",
        ) from None
    problems = etcd_problems(health)
    if problems:
        raise Refused(
            f"the cluster cannot lose a node now: {'; '.join(problems)}",
            f"bring it back first (`hawizard status {label}`), then patch",
        )
    return health


def _survey_all(
    plan: Plan,
    label: str,
    security_only: bool,
    refresh: bool,
    trust_new: bool,
    sudo_password,
) -> list[NodeSurvey]:
    """Every node's survey, in parallel; one that does not answer refuses the whole run."""

    def one(node: Node) -> NodeSurvey | str:
        try:
            return survey_node(
                plan,
                node,
                security_only=security_only,
                refresh=refresh,
                trust_new=trust_new,
                sudo_password=sudo_password,
            )
        except Refused:
            raise
        except Exception as exc:
            return f"{node.name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"

    with ThreadPoolExecutor(max_workers=min(SURVEY_PARALLEL, len(plan.nodes)) or 1) as pool:
        answers = list(pool.map(one, plan.nodes))
    failed = [a for a in answers if isinstance(a, str)]
    if failed:
        raise Refused(
            f"cannot survey every node: {'; '.join(failed)}",
            f"every node must answer before any is patched (`hawizard status {label}`)",
        )
    return [a for a in answers if isinstance(a, NodeSurvey)]


def _apiservers_ready(plan: Plan, surveys: list[NodeSurvey], label: str) -> None:
    """Every running apiserver ready: the cluster can lose one master's."""
    not_ready = [
        f"kube-apiserver on {s.node} is {api.state.value}"
        for s in surveys
        if s.apiserver and not (api := probe_apiserver(plan, plan.node(s.node))).ok
    ]
    if not_ready:
        raise Refused(
            f"the cluster cannot lose a node now: {'; '.join(not_ready)}",
            f"bring it back first (`hawizard status {label}`), then patch",
        )


def _notes(plan: Plan, surveys: list[NodeSurvey], reboot: str, refresh: bool) -> list[str]:
    """What the operator should know before saying yes: updates left out, reboots left
    pending, a dry run's stale indexes, a VIP with no second node."""
    notes = []
    for s in surveys:
        if s.skipped:
            notes.append(
                f"{s.node}: {s.skipped} update(s) that are not security updates left out "
                "(--all installs them)"
            )
        if s.reboot_required == "yes" and reboot == "never":
            notes.append(f"{s.node} wants a reboot; --reboot=never leaves it pending")
    if not refresh:
        notes.append(
            "dry run: updates as the nodes' package indexes know them now (the real run "
            "refreshes them first, and may find more)"
        )
    if plan.balancer_mode == BalancerMode.VIP and len(plan.balancer_nodes) < 2:
        notes.append(
            "the VIP has no second balancer node: the endpoint is down while its one node reboots"
        )
    return notes


# --- the whole use case -------------------------------------------------------------------------


def patch(
    plan: Plan,
    run: Callable[[Plan, list[Phase]], RunResult],
    *,
    security_only: bool = True,
    reboot: str = "auto",
    dry_run: bool = False,
    trust_new: bool = False,
    sudo_password=None,
    confirm: Callable[[Patching], bool] | None = None,
    command: str = "",
) -> tuple[Patching, RunResult | None]:
    """Lock the plan, assess, (confirm,) record, run one node per phase, close the record.

    `sudo_password` (a `remote.SudoPassword`) serves the survey's SSH sessions; give the run's
    `HostPool` the same one so the operator is asked once. Returns the assessment and the
    run's result (None when no node had work or the operator said no). Raises `Refused` (also
    for a plan held by another command, and while another operation is in flight).
    """
    from hawizard.ops.operation import drive

    check_reboot(reboot)
    command = command or command_for(str(plan.source), not security_only, reboot)
    survey = dict(
        security_only=security_only,
        reboot=reboot,
        refresh=not dry_run,
        trust_new=trust_new,
        sudo_password=sudo_password,
    )
    op = PatchOperation(command, survey)
    ask = None if confirm is None else (lambda o: confirm(o.patching))
    driven = drive(op, plan, lambda p, ph: run(p, list(ph)), dry_run=dry_run, confirm=ask)
    assert op.patching is not None
    return op.patching, driven.result


@dataclass
class PatchOperation:
    """A patch run as an Operation: the survey is its judgement, made under the lock."""

    command: str
    survey: dict
    title: str = "OS patch run"
    record: str | None = "patch"
    patching: Patching | None = None

    def assess(self, plan: Plan) -> bool:
        self.patching = assess(plan, **self.survey)
        return bool(self.patching.order)

    def begin(self, dry_run: bool) -> None:
        assert self.patching is not None
        self.patching.begin(dry_run=dry_run)

    def phases(self) -> list[Phase]:
        assert self.patching is not None
        return self.patching.phases()

    def finish(self, ok: bool) -> None:
        assert self.patching is not None
        self.patching.finish(ok)
