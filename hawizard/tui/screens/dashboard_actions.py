"""The dashboard's day-2 actions: add, remove and replace a member, rotate certificates,
restore from a snapshot, defragment etcd (`m`: a dry run first), the production checklist.
Each opens a dialog that shows what the use case says (`hawizard.ops`), and a confirmed
action runs in the `ChangePanel` below the tables while the polling goes on; the plan it
leaves behind becomes the app's plan.

A mixin of `DashboardScreen`, kept apart so the screen file is the tables and the loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hawizard.etcd.quorum_rules import Op
from hawizard.tui.screens.confirm_dialog import ConfirmDialog
from hawizard.tui.screens.member_dialog import MemberChangeDialog, checker
from hawizard.tui.screens.password_dialog import password_asker
from hawizard.tui.screens.rotate_dialog import RotateDialog, rotation_text
from hawizard.tui.widgets.change_panel import ChangePanel
from hawizard.tui.widgets.defrag_run import DefragPreviewed, order_line

if TYPE_CHECKING:
    from hawizard.health import ClusterHealth


class Day2Actions:
    """Needs the screen's `plan`, `wizard`, `health`, `members`, `certs`, `poll`."""

    # --- day 2: add, remove, replace ------------------------------------------------------

    @property
    def change_panel(self) -> ChangePanel:
        return self.query_one("#change-panel", ChangePanel)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "close_change":  # or, with no log open, back to the fleet (if any)
            panel = self.change_panel
            if not panel.display:
                return hasattr(self.app, "back_to_fleet")
            return not panel.running
        if action == "cancel_change":  # shown in the footer only while it can still cancel
            return self.change_panel.cancellable
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

    def action_maintenance(self) -> None:
        """`hawizard etcd defrag` from the dashboard: a dry run in the change panel first (the
        order: followers first, the member that leads last), then a confirmation, then the
        run; the alarm banner and the quota column point at this key."""
        if self.change_health() is None:
            return
        plan = self.plan
        if plan.source is None:
            self.notify("save the plan first (ctrl+s): the run's record lives beside it")
            return
        self.show_change_panel(True)
        self.change_panel.start_defrag(plan, password_asker(self.app), dry_run=True)
        self.refresh_bindings()

    def on_defrag_previewed(self, message: DefragPreviewed) -> None:
        op, plan = message.op, message.plan

        def confirmed(go: bool | None) -> None:
            if go and not self.change_panel.running:
                self.change_panel.start_defrag(plan, password_asker(self.app), dry_run=False)
                self.refresh_bindings()

        text = (
            f"Compact the history (keeping {plan.etcd.defrag_keep_revisions} revisions), then "
            "defragment one member at a time: each is blocked (no read, no write) for seconds "
            "per GB while the others serve; leadership is handed away before the leader's "
            "turn. A guard stops between members when one does not answer or a test write "
            f"takes over {plan.etcd.defrag_max_write_ms} ms.\n\n{order_line(op)}\n\n"
            f"Same as: hawizard etcd defrag {plan.source}"
        )
        dialog = ConfirmDialog("▲ Defragment etcd", text, yes="Defragment", key="defrag")
        self.app.push_screen(dialog, confirmed)

    def action_readiness(self) -> None:
        """The production checklist (`hawizard check`) in a dialog over the dashboard."""
        from hawizard.tui.screens.readiness_dialog import ReadinessDialog

        self.app.push_screen(ReadinessDialog(self.plan))

    def action_cancel_change(self) -> None:
        """Stop a membership change before anything in the cluster changed (the panel says
        while that is still possible); past `member add`/`member remove` it runs to its end."""
        if not self.change_panel.cancel():
            self.notify(
                "the membership is changing already: it finishes, or stops resumably",
                severity="warning",
            )

    def action_close_change(self) -> None:
        """Escape: close the change's log; with no log open, back to the fleet when this
        dashboard was opened from one (`hawizard dashboard PLAN PLAN …`)."""
        if self.change_panel.display:
            if not self.change_panel.running:
                self.show_change_panel(False)
            return
        back = getattr(self.app, "back_to_fleet", None)
        if back is not None:
            back()

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
        backend = self.wizard.backend
        check = checker(backend.etcd_probe(), backend.target_probe)
        dialog = MemberChangeDialog(
            plan, op, node, old=old, choices=choices, health=self.health, check=check
        )

        def confirmed(assessment: Any) -> None:
            if assessment is not None:
                self.show_change_panel(True)
                self.change_panel.start(
                    plan, assessment, check, password_asker(self.app), dry_run=dialog.dry_run
                )
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
        certs = not shown and not self.query_one("#events").display
        self.query_one("#cert-title").display = certs
        self.query_one("#cert-expiry").display = certs
        self.refresh_bindings()
