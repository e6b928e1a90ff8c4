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
from concurrent.futures import CancelledError
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Label, Static

from hawizard.health_history import BAD_EVENTS, GOOD_EVENTS
from hawizard.plan import Plan
from hawizard.tui.backend import Backend
from hawizard.tui.messages import EtcdChecked, HealthChecked, HealthFailed
from hawizard.tui.poller import Poller
from hawizard.tui.screens.dashboard_actions import Day2Actions
from hawizard.tui.widgets.change_panel import ChangePanel
from hawizard.tui.widgets.footer import Footer
from hawizard.tui.widgets.health_cells import (
    API_COLUMNS,
    CERT_COLUMNS,
    LB_COLUMNS,
    MEMBER_COLUMNS,
    STATE_VIEW,
    apiserver_cells,
    balancer_cells,
    cert_cells,
    member_cells,
)
from hawizard.tui.widgets.keyed_table import Cell, KeyedTable
from hawizard.tui.widgets.status import SYMBOL, Mark, mark_color

if TYPE_CHECKING:
    from hawizard.control_plane.probe import ApiserverHealth
    from hawizard.health import ClusterHealth
    from hawizard.tui.app import WizardApp

log = logging.getLogger(__name__)

INTERVALS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
# `+` and `-` under one label, so every key fits a 120-column footer (compact below 160)
_INTERVAL = Binding.Group("interval", compact=True)
ROOMY_FOOTER = 160  # columns: below, the footer's keys sit closer together
EVENTS_SHOWN = 8


class DashboardScreen(Day2Actions, Screen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh_now", "Refresh"),
        Binding("p", "pause", "Pause"),
        Binding("plus,equals_sign", "slower", "slower", group=_INTERVAL),
        Binding("minus", "faster", "faster", group=_INTERVAL),
        Binding("ctrl+b", "back", "Wizard"),
        Binding("a", "add_member", "Add"),
        Binding("x", "remove_member", "Remove"),
        Binding("R", "replace_member", "Replace"),
        Binding("c", "rotate_cert", "Rotate"),
        Binding("D", "restore", "Restore"),
        Binding("k", "readiness", "Checks"),
        Binding("m", "maintenance", "Defrag"),
        Binding("e", "events", "Events"),
        Binding("C", "cancel_change", "Cancel change"),
        Binding("escape", "close_change", "Close log", show=False),  # the panel says so
        # the app's keys, working as everywhere but left out of this footer, so the
        # dashboard's own keys and Quit fit 120 columns (the wizard's footers show them)
        Binding("t", "app.cycle_theme", "Theme", show=False),
        Binding("ctrl+s", "app.save", "Save", show=False, priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self.health: ClusterHealth | None = None
        self.balancer: Any = None  # the last round's BalancerHealth (None: no endpoint to check)
        self.rounds = 0
        self.cells_written = 0  # for tests: how many cells the last round touched
        self._shown_plan: Plan | None = None
        self.poller = Poller(self.probe_now, self.set_timer, lambda: self.interval)
        self.backup_age: Any = None  # BackupAge, read by the probe worker (files, not network)
        self.offsite_ages: Any = ()  # OffsiteAge per [backup] target, from the local records
        self.last_drill: Any = None  # LastDrill: the last `etcd backup drill`
        self.last_maintenance: dict | None = None  # the last etcd defrag run's record
        self.forecast: Any = None  # QuotaForecast from the history, when it means something

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
            yield Static("", id="maintenance")
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
            yield Static("", id="events")
            yield ChangePanel(id="change-panel")
        yield Footer(roomy=ROOMY_FOOTER)

    def on_mount(self) -> None:
        self.members = KeyedTable(self.query_one("#members", DataTable), MEMBER_COLUMNS)
        self.apis = KeyedTable(self.query_one("#apiservers", DataTable), API_COLUMNS)
        self.lbs = KeyedTable(self.query_one("#balancer", DataTable), LB_COLUMNS)
        self.show_balancer_section(False)
        self.certs = KeyedTable(self.query_one("#cert-expiry", DataTable), CERT_COLUMNS)
        self.app.theme_changed_signal.subscribe(self, lambda _t: self.repaint())
        self.show_change_panel(False)
        self.query_one("#events").display = False
        self.query_one("#maintenance").display = False  # until there is a run or a forecast

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
        self.poller.poll()

    def probe_now(self) -> None:
        self.probe_round(self.plan, self.wizard.backend)

    @work(thread=True, group="probe", exit_on_error=False)
    def probe_round(self, plan: Plan, backend: Backend) -> None:
        if not plan.etcd_nodes:
            self.post_message(HealthFailed("the plan has no etcd node", "add some on Nodes"))
            return
        first = self.health is None  # show its members before SSH has answered (issue 30)
        try:
            report = self._first_or_new_round(plan, backend, first)
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
        self.offsite_ages = getattr(report, "offsite", ())
        self.last_drill = getattr(report, "drill", None)
        self.last_maintenance = report.maintenance
        self.wizard.recorder.record(plan, report)  # this worker's thread, not the UI's
        self.post_message(HealthChecked(report.health, list(report.apiservers), report.balancer))

    def _first_or_new_round(self, plan: Plan, backend: Backend, first: bool) -> Any:
        """The round the app started with the process (`tui.prefetch`) when it is this
        plan's first, else a new one; either way the etcd part is posted early on a first
        round. Raises what the round raised."""
        early = (lambda h: self.post_message(EtcdChecked(h))) if first else None
        started = getattr(self.wizard, "first_round", None)
        taken = started.take(plan) if started is not None and first else None
        if taken is None:
            return backend.status_round(plan, early)
        try:
            health = taken.etcd.result()
        except CancelledError:  # no early part: the whole report came at once
            health = None
        if health is not None and early is not None:
            early(health)
        return taken.report.result()

    def on_health_checked(self, message: HealthChecked) -> None:
        self.rounds += 1
        self.health = message.health
        self.balancer = message.balancer
        self.poller.record(message.health)
        self.show(message.health, message.apiservers)
        self.show_events()
        self.show_balancer(message.balancer)
        self.poller.ended(True, rearm=self.rearm_wanted)

    def on_etcd_checked(self, message: EtcdChecked) -> None:
        if self.health is None:  # the first round's members, until the whole round is in
            self.show(message.health, [])

    def on_health_failed(self, message: HealthFailed) -> None:
        self.rounds += 1
        self.wizard.backend.forget_tls()  # e.g. the client cert may exist by the next round
        self.show_banner(Mark.BAD, "-bad", f"✖ {message.error}", message.hint)
        self.poller.ended(False, rearm=self.rearm_wanted)

    @property
    def rearm_wanted(self) -> bool:
        return not self.paused and self.is_current

    def disarm(self) -> None:
        self.poller.disarm()

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
        self.poller.rearm()
        self.show_title()

    def action_events(self) -> None:
        """Show or hide the events; they take the certificate table's place while shown (as
        a change's run does), so they fit an 80×24 terminal too."""
        pane = self.query_one("#events", Static)
        pane.display = not pane.display
        if not self.change_panel.display:
            self.query_one("#cert-title").display = not pane.display
            self.query_one("#cert-expiry").display = not pane.display
        self.show_events()

    def action_back(self) -> None:
        self.wizard.goto("review")

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
        if health.state.value == "quorum_lost":
            from hawizard.ops.recover import both_paths

            details.append(both_paths(self.plan))
        if "NOSPACE" in health.alarms:  # the alarm banner offers the fix
            details.insert(0, "NOSPACE: m defragments and disarms")
        self.show_banner(mark, cls, f"{label}   {health.summary}", " · ".join(details))
        history = self.poller.history
        members = {m.name: member_cells(m, history) for m in health.members}
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
        self.show_maintenance(health)

    def show_maintenance(self, health: ClusterHealth) -> None:
        """The last `etcd defrag` run (its record beside the plan) and, once the history
        supports one, "quota reached in ~N days" (`forecast`); `m` is the action."""
        from hawizard.tui.widgets.maintenance_line import maintenance_text

        quota = max((m.quota_bytes for m in health.members), default=0)
        forecast = self.poller.history.quota_forecast(quota) if quota else None
        self.forecast = forecast
        text = maintenance_text(self.last_maintenance, forecast, self.app)
        line = self.query_one("#maintenance", Static)
        line.display = bool(text)
        line.update(text)

    def show_events(self) -> None:
        """The newest events (leader changes, members down and back, term jumps, alarms,
        certificates crossing 30 days), one line each, newest last; `e` shows or hides them."""
        pane = self.query_one("#events", Static)
        if not pane.display:
            return
        events = list(self.poller.history.events)[-EVENTS_SHOWN:]
        text = Text("events (e hides)", style="bold", end="")
        if not events:
            text.append("\n· none yet: changes between probe rounds show here", style="dim")
        for e in events:
            mark = Mark.BAD if e.kind in BAD_EVENTS else Mark.OK if e.kind in GOOD_EVENTS else None
            style = mark_color(self.app, mark) if mark else ""
            text.append(f"\n{e.line()}", style=style)
        pane.update(text)

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
        refused = getattr(age, "refused", ())
        if refused:  # a planted or altered record: named, never counted
            bad = Text(
                f"\n{SYMBOL[Mark.BAD]} refused (record fails its signature): "
                + ", ".join(refused[:3])
                + (f" and {len(refused) - 3} more" if len(refused) > 3 else ""),
                end="",
            )
            bad.stylize(mark_color(self.app, Mark.BAD))
            text.append_text(bad)
        for o in self.offsite_ages:  # the RPO of each off-site target
            mark = {"ok": Mark.OK, "yellow": Mark.WARN}.get(o.state, Mark.BAD)
            when = "none" if o.age_s is None else f"{human_age(o.age_s)} ago"
            off = Text(f"\n{SYMBOL[mark]} off-site {o.target}: {when}", end="")
            off.stylize(mark_color(self.app, mark))
            text.append_text(off)
        if self.last_drill is not None:
            j = self.last_drill.to_json()
            mark = Mark.OK if j["ok"] else Mark.BAD
            when = "" if j["age_s"] is None else f" {human_age(j['age_s'])} ago"
            rto = f", RTO {j['rto_s']:.1f} s" if j["ok"] and j["rto_s"] is not None else ""
            what = "passed" if j["ok"] else f"failed: {j['error'][:120]}"
            drill = Text(f"\n{SYMBOL[mark]} last restore drill {what}{when}{rto}", end="")
            drill.stylize(mark_color(self.app, mark))
            text.append_text(drill)
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
