"""Confirm one etcd membership change: quorum and failure tolerance now and after, or why not.

The numbers appear at once from `quorum_rules.plan_change` on the dashboard's latest probe
round; a thread worker then runs the full check (`membership.assess`: a fresh probe round, the
node to add over SSH, an unfinished earlier change) and its verdict replaces them. Only an
allowed verdict from that full check can be confirmed, with the button or `y`; a refusal shows
the reason and the command to run instead, with "Close" as the only way out. Escape cancels.
The dialog judges nothing itself: both verdicts come from the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Select, Static

from hawizard.etcd.quorum_rules import ChangeImpact, Op, plan_change
from hawizard.plan import Plan
from hawizard.tui.messages import ChangeChecked
from hawizard.tui.widgets.status import SYMBOL, Mark, mark_color

if TYPE_CHECKING:
    from hawizard.etcd.membership import Assessment
    from hawizard.etcd.quorum_rules import TargetState
    from hawizard.health import ClusterHealth

Check = Callable[[Plan, Op, str, "str | None"], "Assessment"]

TITLES = {
    Op.ADD: "Add an etcd member",
    Op.REMOVE: "Remove an etcd member",
    Op.REPLACE: "Replace an etcd member",
}
CHOICE_LABEL = {Op.ADD: "node to add", Op.REPLACE: "new member"}


def checker(
    probe: Callable[[Plan], ClusterHealth],
    target_probe: Callable[[Plan, str], TargetState] | None = None,
) -> Check:
    """The full check, as the CLI makes it (`membership.assess`), with the dashboard's probe for
    the fresh round; `target_probe` replaces the SSH look at the node (None: assess's own).

    A change works from the plan file (its lock, journal and in-flight record live next to
    it, and a remove rewrites it), so a plan with unsaved edits is refused before anything."""

    def check(plan: Plan, op: Op, node: str, old: str | None) -> Assessment:
        from hawizard.etcd.membership import BadRequest, assess
        from hawizard.plan import PlanError, load

        if plan.source is None:
            raise BadRequest(
                "the plan has no file yet: a membership change records its progress next to it",
                "save it first (ctrl+s)",
            )
        try:
            saved = load(plan.source)
        except PlanError as exc:
            raise BadRequest(
                f"cannot read {plan.source}: {exc}", "save it again (ctrl+s)"
            ) from None
        if saved != plan:
            raise BadRequest(
                f"the plan in this window differs from {plan.source}: the change works from "
                "the file",
                "save it first (ctrl+s), then try again",
            )
        target = target_probe(plan, node) if target_probe is not None else None
        return assess(plan, op, node, old, health=probe(plan), target=target)

    return check


def what_happens(op: Op, node: str, old: str | None) -> list[str]:
    """The sequence `hawizard.ops.change` runs, in the operator's words."""
    first = ["a snapshot of the cluster is taken and verified on this machine first"]
    join = [
        f"{node} gets etcd, its certificates and its config, joins as a learner "
        "(initial-cluster-state existing)",
        f"{node} is promoted to a voting member once it has caught up",
    ]
    tell = [
        "the other members' config learns the new member list (no restart); "
        "deployed apiservers follow, one master at a time"
    ]
    if op is Op.ADD:
        return first + join + tell
    if op is Op.REMOVE:
        return [
            *first,
            f"{node} leaves the member list; etcd on {node} is stopped and disabled",
            f"its data dir is kept, never deleted; the plan drops {node}'s etcd role "
            "(backup <plan>.bak)",
            *tell,
        ]
    if node == old:
        return [
            *first,
            f"{old} leaves the member list; its old data dir is renamed aside (kept)",
            f"{old} joins again as a new member with an empty data dir, as a learner",
            f"{old} is promoted to a voting member once it has caught up",
            *tell,
        ]
    return [
        *first,
        f"{old} is removed first: etcd there is stopped, its data dir kept",
        *join,
        f"the plan drops {old}'s etcd role; {tell[0]}",
    ]


class MemberChangeDialog(ModalScreen["Assessment | None"]):
    """Dismisses with the allowed `Assessment` when confirmed, None otherwise."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("y", "confirm", "Confirm"),
        Binding("d", "dry_run", "Dry run"),
    ]

    def __init__(
        self,
        plan: Plan,
        op: Op,
        node: str,
        *,
        old: str | None = None,
        choices: list[str] | None = None,
        health: ClusterHealth | None = None,
        check: Check,
    ) -> None:
        super().__init__()
        self.plan = plan
        self.op = op
        self.node = node
        self.old = old
        self.choices = choices or []
        self.health = health
        self.check = check
        self.impact: ChangeImpact | None = None
        self.assessment: Assessment | None = None
        self.checking = False
        self.checked = 0  # full checks answered (for tests)
        self.dry_run = False  # dismissed with `d`: show what would run, change nothing

    @property
    def request(self) -> tuple[str, str, str | None]:
        return (self.op.value, self.node, self.old)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="member-change"):
            yield Label(TITLES[self.op], classes="dialog-title")
            if len(self.choices) > 1:
                with Horizontal(classes="change-choice"):
                    yield Label(CHOICE_LABEL[self.op], classes="inline-label")
                    yield Select(
                        [(self.choice_label(c), c) for c in self.choices],
                        value=self.node,
                        allow_blank=False,
                        id="change-node",
                    )
            yield Static("", id="change-what")
            yield Static("", id="change-numbers")
            yield Static("", id="change-verdict")
            yield Static("", id="change-steps")
            yield Static("", id="change-check")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Confirm (y)", id="confirm-change", variant="warning", disabled=True)
                yield Button("Cancel (esc)", id="cancel-change", variant="primary")

    def choice_label(self, name: str) -> str:
        if self.op is Op.REPLACE and name == self.old:
            return f"{name} (same node: re-add with an empty data dir)"
        return f"{name} ({self.address(name)})"

    def address(self, name: str) -> str:
        return next((n.address for n in self.plan.nodes if n.name == name), "not in the plan")

    def on_mount(self) -> None:
        self.query_one("#cancel-change", Button).focus()  # the safe choice is the default
        self.judge()

    @on(Select.Changed, "#change-node")
    def node_chosen(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.node:
            self.node = event.value
            self.judge()

    # --- judging: instant numbers, then the full check in a worker --------------------------

    def judge(self) -> None:
        self.assessment = None
        self.impact = None
        if self.health is not None:
            try:
                self.impact = plan_change(
                    self.health,
                    self.op,
                    self.node,
                    old=self.old,
                    plan_path=str(self.plan.source or "PLAN"),
                )
            except ValueError:
                self.impact = None
        self.checking = True
        self.show()
        self.full_check(self.plan, self.op, self.node, self.old)

    @work(thread=True, exclusive=True, group="assess", exit_on_error=False)
    def full_check(self, plan: Plan, op: Op, node: str, old: str | None) -> None:
        from hawizard.etcd.membership import BadRequest

        request = (op.value, node, old)
        try:
            assessment = self.check(plan, op, node, old)
        except BadRequest as exc:
            self.post_message(ChangeChecked(request, None, str(exc), exc.hint))
        except OSError as exc:
            self.post_message(
                ChangeChecked(
                    request,
                    None,
                    f"cannot use the operator's etcd client certificate: {exc.strerror or exc}",
                    "create it on the Certificates step (or `hawizard certs create PLAN`)",
                )
            )
        except Exception as exc:  # a check that breaks must not take the dashboard with it
            self.post_message(ChangeChecked(request, None, f"the check failed: {exc}"))
        else:
            self.post_message(ChangeChecked(request, assessment))

    def on_change_checked(self, message: ChangeChecked) -> None:
        if message.request != self.request:
            return  # an answer for a node chosen before
        self.checking = False
        self.checked += 1
        self.assessment = message.assessment
        if message.assessment is not None:
            self.impact = message.assessment.impact
            self.show()
        else:
            self.show(error=message.error, hint=message.hint)

    # --- showing ------------------------------------------------------------------------

    def line(self, mark: Mark, text: str) -> Text:
        return Text(f"{SYMBOL[mark]} {text}", style=mark_color(self.app, mark), end="")

    def show(self, *, error: str = "", hint: str = "") -> None:
        impact = self.impact
        what = self.query_one("#change-what", Static)
        if self.op is Op.REPLACE:
            head = f"replace {self.old} with {self.node}" + (
                " (the same node, as a new member)" if self.node == self.old else ""
            )
        else:
            head = f"{self.op.value} {self.node} ({self.address(self.node)})"
        what.update(Text(head, style="bold", end=""))
        self.query_one("#change-numbers", Static).update(self.numbers(impact))
        verdict = self.query_one("#change-verdict", Static)
        refused = bool(error) or (impact is not None and not impact.allowed)
        if error:
            text = self.line(Mark.BAD, f"refused: {error}")
            if hint:
                text.append(f"\n  → {hint}")
        elif impact is None:
            text = self.line(Mark.IDLE, "no probe round yet: waiting for the full check")
        else:
            text = self.verdict(impact)
        verdict.update(text)
        steps = self.query_one("#change-steps", Static)
        steps.display = not refused
        sequence = what_happens(self.op, self.node, self.old)
        plan_text = Text("what happens:", style="bold", end="")
        for i, step in enumerate(sequence, 1):
            plan_text.append(f"\n  {i}. {step}")
        steps.update(plan_text)
        if self.checking:
            where = "" if self.op is Op.REMOVE else f" and {self.node} over SSH"
            status = self.line(Mark.RUN, f"checking: a fresh probe round{where}…")
        elif error or self.assessment is None:
            status = self.line(Mark.BAD, "the full check did not pass")
        else:
            status = self.line(Mark.OK, "checked just now against the running cluster")
        self.query_one("#change-check", Static).update(status)
        confirm = self.query_one("#confirm-change", Button)
        allowed = self.assessment is not None and self.assessment.allowed
        confirm.disabled = not allowed
        confirm.display = not refused
        self.query_one("#cancel-change", Button).label = "Close" if refused else "Cancel (esc)"

    def numbers(self, impact: ChangeImpact | None) -> Text:
        text = Text(f"{'':<22}{'now':>5}       {'after':>5}\n", style="bold", end="")
        if impact is None:
            return text.append("  (no numbers until the cluster answers)")
        rows = (
            ("voting members", impact.before_members, impact.after_members),
            ("quorum", impact.before_quorum, impact.after_quorum),
            ("healthy", impact.before_healthy, impact.after_healthy),
            ("tolerates failures", impact.before_tolerance, impact.after_tolerance),
        )
        for i, (label, now, after) in enumerate(rows):
            text.append(f"{label:<22}{now:>5}   →   ")
            worse = label == "tolerates failures" and after < now
            style = mark_color(self.app, Mark.WARN) if worse else ""
            text.append(f"{after:>5}", style=style)
            if i < len(rows) - 1:
                text.append("\n")
        return text

    def verdict(self, impact: ChangeImpact) -> Text:
        if impact.allowed:
            verb = "resuming" if impact.resume else "allowed"
            text = self.line(Mark.OK, f"{verb}: {impact.reason}")
        else:
            text = self.line(Mark.BAD, f"refused: {impact.reason}")
            if impact.suggestion:
                text.append(f"\n  → {impact.suggestion}")
        for note in impact.notes:
            text.append("\n")
            text.append_text(self.line(Mark.WARN, note))
        return text

    # --- answers ------------------------------------------------------------------------

    @on(Button.Pressed, "#confirm-change")
    def action_confirm(self) -> None:
        if self.assessment is not None and self.assessment.allowed:
            self.dismiss(self.assessment)

    def action_dry_run(self) -> None:
        """As the CLI's --dry-run: the change is judged and its commands recorded, not run."""
        if self.assessment is not None and self.assessment.allowed:
            self.dry_run = True
            self.dismiss(self.assessment)

    @on(Button.Pressed, "#cancel-change")
    def action_cancel(self) -> None:
        self.dismiss(None)
