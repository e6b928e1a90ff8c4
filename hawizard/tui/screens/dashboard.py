"""Dashboard: the etcd cluster's health, live, without ever blocking a key press.

Polling follows Dolphie: a thread worker runs one probe round (`hawizard.ops.status`), posts
the `ClusterHealth`, and only then is a one-shot timer armed for the next round, so rounds
never overlap and a slow round delays the next one instead of stacking up. Tables are keyed by
member and certificate name; a refresh updates only the cells whose value changed, inside one
`batch_update`. Every judgement (healthy, quorum, tolerance) comes from `hawizard.health`.

Day 2 starts here too: `a` adds a planned etcd node that is not a member yet, `x` removes the
member under the cursor, `R` replaces it. A dialog (`member_dialog`) shows what the engine
says about the change; a confirmed change runs in the `ChangePanel` below the tables while
the polling goes on, and the plan it leaves behind becomes the app's plan.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Label, Static

from hawizard import formatting as fmt
from hawizard.etcd.quorum_rules import Op
from hawizard.health import MemberState
from hawizard.plan import Plan
from hawizard.tui.messages import HealthChecked, HealthFailed
from hawizard.tui.screens.member_dialog import MemberChangeDialog, checker
from hawizard.tui.screens.password_dialog import password_asker
from hawizard.tui.screens.rotate_dialog import RotateDialog, rotation_text
from hawizard.tui.widgets.change_panel import ChangePanel
from hawizard.tui.widgets.keyed_table import Cell, KeyedTable
from hawizard.tui.widgets.status import SYMBOL, Mark, mark_color

if TYPE_CHECKING:
    from hawizard.control_plane.probe import ApiserverHealth
    from hawizard.health import CertExpiry, ClusterHealth, MemberHealth
    from hawizard.tui.app import WizardApp

log = logging.getLogger(__name__)

INTERVALS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
MEMBER_COLUMNS = (
    ("member", "member"),
    ("endpoint", "endpoint"),
    ("health", "health"),
    ("leader", "leader"),
    ("term", "raft term"),
    ("index", "raft index"),
    ("db", "DB size"),
    ("version", "version"),
    ("latency", "latency"),
)  # why a member is down is listed in full under the tables (`health.problems`)
API_COLUMNS = (
    ("master", "master"),
    ("url", "apiserver"),
    ("state", "state"),
    ("livez", "/livez"),
    ("readyz", "/readyz"),
    ("latency", "latency"),
    ("note", "note"),
)
API_STATE = {  # ApiserverState value -> mark; a staged (not started) control plane is no alarm
    "ready": (Mark.OK, "✔ ready"),
    "not ready": (Mark.WARN, "▲ not ready"),
    "not live": (Mark.BAD, "✖ not live"),
    "not running": (Mark.IDLE, "· not running"),
    "unreachable": (Mark.BAD, "✖ unreachable"),
    "error": (Mark.BAD, "✖ error"),
}
LB_COLUMNS = (
    ("node", "balancer node"),
    ("vip", "VIP"),
    ("keepalived", "keepalived"),
    ("haproxy", "haproxy"),
    ("backends", "backends (haproxy's view)"),
)
KEEPALIVED_MARK = {"MASTER": Mark.OK, "BACKUP": Mark.OK}
CERT_COLUMNS = (
    ("name", "certificate"),
    ("source", "source"),
    ("cn", "CN"),
    ("expires", "expires"),
    ("days", "days left"),
)
STATE_VIEW = {
    "healthy": (Mark.OK, "-ok", "✔ HEALTHY"),
    "degraded": (Mark.WARN, "-warn", "▲ DEGRADED"),
    "quorum_lost": (Mark.BAD, "-bad", "✖ QUORUM LOST"),
}

MEMBER_MARK = {  # every MemberState (hawizard.health) has its mark here; the words are its own
    MemberState.NOT_IN_PLAN: Mark.WARN,
    MemberState.NOT_A_MEMBER: Mark.IDLE,  # a planned node `a` can add
    MemberState.UNREACHABLE: Mark.BAD,
    MemberState.UNHEALTHY: Mark.BAD,
    MemberState.LEARNER: Mark.RUN,
    MemberState.HEALTHY: Mark.OK,
}

Probe = Callable[[Plan], "ClusterHealth"]
ApiProbe = Callable[[Plan], "list[ApiserverHealth]"]


def member_cells(m: MemberHealth) -> dict[str, Cell]:
    """A member's row; an unreachable or unhealthy member's whole row is red."""
    mark = MEMBER_MARK[m.state]
    health = f"{SYMBOL[mark]} {m.state.value}"
    row = mark if mark is Mark.BAD else None
    return {
        "member": (m.name, row),
        "endpoint": (m.endpoint.removeprefix("https://") or "—", row),  # always TLS
        "health": (health, mark),
        "leader": ("★ leader" if m.is_leader else "", row),
        "term": (fmt.number(m.raft_term), row),
        "index": (fmt.number(m.raft_index), row),
        "db": (fmt.size(m.db_size), row),
        "version": (m.version or "—", row),
        "latency": (fmt.millis(m.rtt_ms), row),
    }


def apiserver_cells(a: ApiserverHealth) -> dict[str, Cell]:
    mark, state = API_STATE.get(a.state.value, (Mark.BAD, f"✖ {a.state.value}"))
    row = mark if mark is Mark.BAD else None

    def flag(value: bool | None) -> Cell:
        return ("—", row) if value is None else ("✔", Mark.OK) if value else ("✖", Mark.BAD)

    note = a.error or "; ".join(a.failed_checks)
    return {
        "master": (a.node, row),
        "url": (a.url.removeprefix("https://"), row),
        "state": (state, mark),
        "livez": flag(a.livez),
        "readyz": flag(a.readyz),
        "latency": (fmt.millis(a.latency_ms), row),
        "note": (fmt.clip(note, 40), Mark.BAD if row else None),
    }


def cert_cells(c: CertExpiry) -> dict[str, Cell]:
    if c.expired:
        days: Cell = (f"✖ {fmt.expired_ago(c.days_left)}", Mark.BAD)
    elif c.expiring:
        days = (f"▲ {c.days_left}", Mark.WARN)
    else:
        days = (f"✔ {c.days_left}", Mark.OK)
    return {
        "name": (c.name, None),
        "source": (c.source, None),
        "cn": (c.common_name, None),
        "expires": (f"{c.not_after:%Y-%m-%d}", None),
        "days": days,
    }


def default_probe() -> Probe:
    """One round against every etcd member of the plan, with the operator's client cert."""
    from hawizard.etcd import probe

    tls_by_plan: dict[int, Any] = {}

    def run(plan: Plan) -> ClusterHealth:
        key = id(plan)
        if key not in tls_by_plan:
            tls_by_plan.clear()
            tls = probe.ClientTLS.for_plan(plan)
            tls.context()  # fails early, with the cert's path, if it is missing or broken
            tls_by_plan[key] = tls
        return probe.cluster_health(plan, tls=tls_by_plan[key])

    return run


def balancer_cells(n: Any, vip_mode: bool) -> dict[str, Cell]:
    """One balancer node's row (a `hawizard.balancer.probe.BalancerNodeState`)."""
    if not n.reachable:
        return {
            "node": (n.node, Mark.BAD),
            "vip": ("?", Mark.BAD),
            "keepalived": ("?", Mark.BAD),
            "haproxy": ("?", Mark.BAD),
            "backends": (f"✖ unreachable: {n.error}", Mark.BAD),
        }
    backends = " ".join(f"{name}:{status}" for name, status in n.backends) or "-"
    return {
        "node": (n.node, None),
        "vip": ("● holder", Mark.OK) if n.holds_vip else ("-", None),
        "keepalived": (n.keepalived, KEEPALIVED_MARK.get(n.keepalived, Mark.WARN))
        if vip_mode
        else ("-", None),
        "haproxy": (n.haproxy, Mark.OK if n.haproxy == "active" else Mark.BAD),
        "backends": (backends, None),
    }


def default_balancer_probe(plan: Plan) -> Any:
    from hawizard.balancer.probe import probe_balancer

    return probe_balancer(plan, timeout=max(plan.etcd.probe_timeout, 1.0))


def default_apiserver_probe(plan: Plan) -> list[ApiserverHealth]:
    from hawizard.control_plane.probe import probe_apiservers

    return probe_apiservers(plan, timeout=plan.etcd.probe_timeout)


class DashboardScreen(Screen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh_now", "Refresh"),
        Binding("p", "pause", "Pause"),
        Binding("plus,equals_sign", "slower", "+interval"),
        Binding("minus", "faster", "-interval"),
        Binding("ctrl+b", "back", "Wizard"),
        Binding("a", "add_member", "Add member"),
        Binding("x", "remove_member", "Remove"),
        Binding("R", "replace_member", "Replace"),
        Binding("c", "rotate_cert", "Rotate cert"),
        Binding("D", "restore", "Restore"),
        Binding("k", "readiness", "Checklist"),
        Binding("escape", "close_change", "Close log", show=False),  # the panel says so
    ]

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self.health: ClusterHealth | None = None
        self.balancer: Any = None  # the last round's BalancerHealth (None: no endpoint to check)
        self.rounds = 0
        self.cells_written = 0  # for tests: how many cells the last round touched
        self._timer: Timer | None = None
        self._polling = False
        self._again = False
        self._shown_plan: Plan | None = None
        self._probe: Probe | None = None
        self.backup_age: Any = None  # BackupAge, read by the probe worker (files, not network)

    @property
    def wizard(self) -> WizardApp:
        return self.app  # type: ignore[return-value]

    @property
    def plan(self) -> Plan:
        return self.wizard.plan

    @property
    def interval(self) -> float:
        return self.wizard.interval

    def compose(self) -> ComposeResult:
        with Vertical(id="dash"):
            yield Static("", id="dash-title")
            yield Static("", id="quorum-banner", classes="banner")
            yield Static("", id="dash-info")
            yield Static("", id="backup-age")
            yield Label("etcd members", classes="section-title")
            # the row cursor picks the member to remove or replace; a red row stays red under it
            yield DataTable(
                id="members",
                cursor_type="row",
                cursor_foreground_priority="renderable",
                zebra_stripes=True,
            )
            yield Label("control plane", classes="section-title", id="api-title")
            yield DataTable(id="apiservers", cursor_type="none", zebra_stripes=True)
            yield Label("load balancer", classes="section-title", id="lb-title")
            yield DataTable(id="balancer", cursor_type="none", zebra_stripes=True)
            yield Label("certificate expiry", classes="section-title", id="cert-title")
            yield DataTable(id="cert-expiry", cursor_type="row", zebra_stripes=True)
            yield Static("", id="findings")
            yield ChangePanel(id="change-panel")
        yield Footer()

    def on_mount(self) -> None:
        self.members = KeyedTable(self.query_one("#members", DataTable), MEMBER_COLUMNS)
        self.apis = KeyedTable(self.query_one("#apiservers", DataTable), API_COLUMNS)
        self.lbs = KeyedTable(self.query_one("#balancer", DataTable), LB_COLUMNS)
        self.show_balancer_section(False)
        self.certs = KeyedTable(self.query_one("#cert-expiry", DataTable), CERT_COLUMNS)
        self.app.theme_changed_signal.subscribe(self, lambda _t: self.repaint())
        self.show_change_panel(False)

    def on_screen_resume(self) -> None:
        if self._shown_plan is not self.plan:
            self._shown_plan = self.plan
            self.health = None
            self.members.rebuild({}, self.render_cell)
            self.apis.rebuild({}, self.render_cell)
            self.lbs.rebuild({}, self.render_cell)
            self.show_balancer_section(False)
            self.certs.rebuild({}, self.render_cell)
            self.show_sections()
            self.show_banner(Mark.IDLE, "-idle", "· probing…", "")
        self.show_title()
        if not self.paused:
            self.poll()

    def on_screen_suspend(self) -> None:
        self.disarm()  # no probing behind the wizard's back

    # --- the loop (Dolphie): probe in a worker, then arm a one-shot timer ------------------

    def poll(self) -> None:
        self.disarm()
        if self._polling:
            self._again = True  # a round is running: start the next one right after it
            return
        self._polling = True
        self._again = False
        if self._probe is None:
            self._probe = self.wizard.health_probe or default_probe()
        api_probe = self.wizard.apiserver_probe or default_apiserver_probe
        lb_probe = self.wizard.balancer_probe or default_balancer_probe
        self.probe_round(self.plan, self._probe, api_probe, lb_probe)

    @work(thread=True, group="probe", exit_on_error=False)
    def probe_round(
        self, plan: Plan, probe: Probe, api_probe: ApiProbe, lb_probe: Callable[[Plan], Any]
    ) -> None:
        from hawizard.ops.status import status_round

        if not plan.etcd_nodes:
            self.post_message(HealthFailed("the plan has no etcd node", "add some on Nodes"))
            return
        try:
            report = status_round(
                plan, etcd_probe=probe, apiserver_probe=api_probe, balancer_probe=lb_probe
            )
        except (OSError, ValueError) as exc:
            self.post_message(
                HealthFailed(
                    f"cannot use the operator's etcd client certificate: "
                    f"{getattr(exc, 'strerror', None) or exc}",
                    "create it on the Certificates step (or `hawizard certs create PLAN`)",
                )
            )
            return
        except Exception as exc:  # a probe bug must not stop the dashboard
            log.exception("probe round failed")
            self.post_message(HealthFailed(f"probe round failed: {exc}"))
            return
        self.backup_age = report.backup
        self.post_message(HealthChecked(report.health, list(report.apiservers), report.balancer))

    def on_health_checked(self, message: HealthChecked) -> None:
        self._polling = False
        self.rounds += 1
        self.health = message.health
        self.balancer = message.balancer
        self.show(message.health, message.apiservers)
        self.show_balancer(message.balancer)
        self.next_round()

    def on_health_failed(self, message: HealthFailed) -> None:
        self._polling = False
        self.rounds += 1
        self._probe = None  # e.g. the client cert may exist by the next round
        self.show_banner(Mark.BAD, "-bad", f"✖ {message.error}", message.hint)
        self.next_round()

    def next_round(self) -> None:
        if self._again:
            self.poll()
        elif not self.paused and self.is_current:
            self._timer = self.set_timer(self.interval, self.poll)

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    # --- keys -----------------------------------------------------------------------------

    def action_refresh_now(self) -> None:
        self.poll()

    def action_pause(self) -> None:
        self.paused = not self.paused
        if self.paused:
            self.disarm()
        else:
            self.poll()
        self.show_title()

    def action_slower(self) -> None:
        self.change_interval(+1)

    def action_faster(self) -> None:
        self.change_interval(-1)

    def change_interval(self, step: int) -> None:
        now = self.interval
        here = min(range(len(INTERVALS)), key=lambda i: abs(INTERVALS[i] - now))
        self.wizard.interval = INTERVALS[max(0, min(len(INTERVALS) - 1, here + step))]
        if self._timer is not None:  # re-arm with the new interval
            self.disarm()
            self._timer = self.set_timer(self.interval, self.poll)
        self.show_title()

    def action_back(self) -> None:
        self.wizard.goto("review")

    # --- day 2: add, remove, replace ------------------------------------------------------

    @property
    def change_panel(self) -> ChangePanel:
        return self.query_one("#change-panel", ChangePanel)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "close_change":
            panel = self.change_panel
            return panel.display and not panel.running
        return True

    def action_add_member(self) -> None:
        health = self.change_health()
        if health is None:
            return
        choices = list(health.not_in_cluster)
        if not choices:
            self.notify(
                "Every etcd node of the plan is a member already. To add one, put the machine "
                "into the plan with the etcd role — on the wizard's Nodes step (ctrl+b, then "
                "back to Nodes) or in the plan file (`hawizard plan init` writes one) — save "
                "it, then press a again.",
                title="no node to add",
                severity="warning",
                timeout=10,
            )
            return
        self.open_change(Op.ADD, choices[0], choices=choices)

    def action_remove_member(self) -> None:
        if self.change_health() is None:
            return
        name = self.selected_member()
        if name is not None:
            self.open_change(Op.REMOVE, name)

    def action_replace_member(self) -> None:
        health = self.change_health()
        if health is None:
            return
        old = self.selected_member()
        if old is None:
            return
        # a planned node that is not a member yet, or the same one (its data dir was lost)
        choices = [*health.not_in_cluster, old]
        self.open_change(Op.REPLACE, choices[0], old=old, choices=choices)

    def action_rotate_cert(self) -> None:
        """Offer `hawizard certs rotate` for the certificate row under the cursor: the etcd
        CA row rotates the CA, an etcd leaf row the due leaves (all of them when the row is
        not due); a Kubernetes row says which command renews it."""
        from hawizard.ops.rotate import command_for

        if self.change_health() is None:
            return
        name = self.certs.selected()
        if name is None:
            self.notify("no certificate row yet: wait for the first probe round")
            return
        row = next((c for c in self.health.certificates if c.name == name), None)
        plan = self.plan
        label = str(plan.source) if plan.source else "PLAN"
        if name.startswith("kubernetes/") or (
            row is not None and row.source == "local" and not name.startswith("etcd/")
        ):
            self.notify(
                f"{name} is renewed with `hawizard certs create {label} --renew` and then "
                f"`hawizard apply {label}` (only etcd certificates are rotated live)",
                title="not an etcd certificate",
                timeout=10,
            )
            return
        ca = "etcd" if name == "etcd/ca" else None
        due = row is not None and (row.expiring or row.expired)
        all_leaves = ca is None and not due
        command = command_for(label, ca, all_leaves)
        title = "▲ Rotate the etcd CA" if ca else f"▲ Rotate etcd certificates ({name})"

        def confirmed(go: bool | None) -> None:
            if go:
                self.show_change_panel(True)
                self.change_panel.start_rotation(plan, ca, all_leaves, password_asker(self.app))
                self.refresh_bindings()

        self.app.push_screen(RotateDialog(title, rotation_text(ca, all_leaves, command)), confirmed)

    def action_restore(self) -> None:
        """Disaster recovery: a dialog to choose and judge the snapshot, then the restore runs
        in the change panel (the same `ops.restore` as `hawizard etcd restore`)."""
        from hawizard.tui.screens.restore_dialog import RestoreDialog

        if self.change_panel.running:
            self.change_health()  # says which change runs
            return
        plan = self.plan
        if plan.source is None:
            self.notify("save the plan first (ctrl+s): the restore journal lives beside it")
            return

        def confirmed(snapshot: Any) -> None:
            if snapshot is not None:
                self.show_change_panel(True)
                self.change_panel.start_restore(plan, snapshot, password_asker(self.app))
                self.refresh_bindings()

        self.app.push_screen(RestoreDialog(plan, self.health), confirmed)

    def action_readiness(self) -> None:
        """The production checklist (`hawizard check`) in a dialog over the dashboard."""
        from hawizard.tui.screens.readiness_dialog import ReadinessDialog

        self.app.push_screen(ReadinessDialog(self.plan))

    def action_close_change(self) -> None:
        if not self.change_panel.running:
            self.show_change_panel(False)

    def change_health(self) -> ClusterHealth | None:
        """The latest round, when a change may be started now (else say why)."""
        panel = self.change_panel
        if panel.running:
            self.notify(
                f"one change at a time: `{panel.command}` is running",
                title="change running",
                severity="warning",
            )
            return None
        if self.health is None:
            self.notify("no probe round has answered yet: wait a moment", severity="warning")
        return self.health

    def selected_member(self) -> str | None:
        name = self.members.selected()
        if name is None:
            self.notify("no member row yet: wait for the first probe round", severity="warning")
        return name

    def open_change(
        self, op: Op, node: str, *, old: str | None = None, choices: list[str] | None = None
    ) -> None:
        plan = self.plan
        check = checker(self.wizard.health_probe or default_probe(), self.wizard.target_probe)
        dialog = MemberChangeDialog(
            plan, op, node, old=old, choices=choices, health=self.health, check=check
        )

        def confirmed(assessment: Any) -> None:
            if assessment is not None:
                self.show_change_panel(True)
                self.change_panel.start(plan, assessment, check, password_asker(self.app))
                self.refresh_bindings()

        self.app.push_screen(dialog, confirmed)

    def on_change_panel_finished(self, message: ChangePanel.Finished) -> None:
        if message.plan is not None and message.plan != self.plan:
            self.wizard.set_plan(message.plan, message.plan.source)
            self._shown_plan = self.plan  # adopted here: no rebuild on the next resume
            self.show_sections()
            self.show_title()
        title = self.change_panel.title
        if message.ok:
            what = "membership changed" if self.change_panel.change is not None else "done"
            self.notify(f"{title}: done", title=f"✔ {what}")
        else:
            self.notify(f"{title}: see the panel below", title="✖ not done", severity="error")
        self.refresh_bindings()
        self.poll()  # show the new membership now

    def show_change_panel(self, shown: bool) -> None:
        """The change's run takes the certificate table's place while it is shown."""
        self.change_panel.display = shown
        self.query_one("#cert-title").display = not shown
        self.query_one("#cert-expiry").display = not shown
        self.refresh_bindings()

    # --- rendering ------------------------------------------------------------------------

    def render_cell(self, cell: Cell) -> Text:
        text, mark = cell
        return Text(text, style=mark_color(self.app, mark) if mark else "", end="")

    def show_sections(self) -> None:
        masters = bool(self.plan.control_plane_nodes)
        self.query_one("#api-title").display = masters
        self.query_one("#apiservers").display = masters

    def show_title(self) -> None:
        state = "paused (p resumes)" if self.paused else f"every {self.interval:g} s"
        title = f"hawizard dashboard · cluster {self.plan.cluster.name} · {state}"
        self.query_one("#dash-title", Static).update(Content(title))

    def show_banner(self, mark: Mark, cls: str, head: str, info: str) -> None:
        banner = self.query_one("#quorum-banner", Static)
        banner.set_classes(f"banner {cls}")
        banner.update(Content(head))
        self.query_one("#dash-info", Static).update(Content(info))

    def show(self, health: ClusterHealth, apiservers: list[ApiserverHealth]) -> None:
        mark, cls, label = STATE_VIEW[health.state.value]
        details = [*health.details, f"at {health.checked_at:%H:%M:%S} UTC"]
        self.show_banner(mark, cls, f"{label}   {health.summary}", " · ".join(details))
        members = {m.name: member_cells(m) for m in health.members}
        certs = {
            c.name: cert_cells(c)
            for c in sorted(health.certificates, key=lambda c: (c.source != "served", c.name))
        }
        with self.app.batch_update():
            self.cells_written = self.members.update(members, self.render_cell)
            self.cells_written += self.apis.update(
                {a.node: apiserver_cells(a) for a in apiservers}, self.render_cell
            )
            self.cells_written += self.certs.update(certs, self.render_cell)
        findings = Text(end="")
        lb = self.balancer
        for mark, lines in (
            (Mark.BAD, [*health.problems, *(lb.problems if lb is not None else ())]),
            (Mark.WARN, [*health.warnings, *(lb.warnings if lb is not None else ())]),
        ):
            for line in lines:
                findings.append(f"\n{SYMBOL[mark]} {line}", style=mark_color(self.app, mark))
        box = self.query_one("#findings", Static)
        box.update(findings[1:])
        box.display = bool(findings)
        self.show_backup_age()

    def show_backup_age(self) -> None:
        """ "last verified backup: 12 min ago", yellow past 2x the schedule, red past 4x or
        when there is none (`hawizard etcd backup schedule` makes them)."""
        age = self.backup_age
        line = self.query_one("#backup-age", Static)
        line.display = age is not None
        if age is None:
            return
        from hawizard.etcd.backup import human_age

        mark = {"ok": Mark.OK, "yellow": Mark.WARN}.get(age.state, Mark.BAD)
        when = "none" if age.age_s is None else f"{human_age(age.age_s)} ago"
        text = Text(f"{SYMBOL[mark]} last verified backup: {when}", end="")
        text.stylize(mark_color(self.app, mark))
        line.update(text)

    def show_balancer_section(self, shown: bool) -> None:
        self.query_one("#lb-title").display = shown
        self.query_one("#balancer").display = shown

    def show_balancer(self, lb: Any) -> None:
        """The load-balancer table, its title saying whether the endpoint answers and who holds
        the VIP; its problems and warnings join the findings."""
        self.show_balancer_section(lb is not None)
        if lb is None:
            return
        answer = (
            f"✔ {lb.endpoint} answers TCP" if lb.endpoint_ok else f"✖ {lb.endpoint}: no TCP answer"
        )
        holders = f" · VIP held by {', '.join(lb.holders) or 'nobody'}" if lb.vip else ""
        self.query_one("#lb-title", Label).update(
            Content(f"load balancer ({lb.mode}) · {answer}{holders}")
        )
        rows = {n.node: balancer_cells(n, bool(lb.vip)) for n in lb.nodes}
        with self.app.batch_update():
            self.cells_written += self.lbs.update(rows, self.render_cell)

    def repaint(self) -> None:
        """The theme changed: cell colours are baked into the cells, so redraw them all."""
        if self.is_mounted:
            with self.app.batch_update():
                self.members.rebuild(dict(self.members.cells), self.render_cell)
                self.apis.rebuild(dict(self.apis.cells), self.render_cell)
                self.lbs.rebuild(dict(self.lbs.cells), self.render_cell)
                self.certs.rebuild(dict(self.certs.cells), self.render_cell)
