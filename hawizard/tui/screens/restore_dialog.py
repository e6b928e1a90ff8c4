"""The dashboard's disaster recovery: choose a snapshot, see what a restore means, confirm.

The dialog judges only what it can judge locally and quickly, in a thread worker: the file
(`etcdutl snapshot status`, the sha256 recorded beside it, another cluster's snapshot warned)
and the dashboard's latest probe round (a cluster with quorum is refused here: `replace` is the
right tool, and a forced restore is left to the CLI's `--force-while-healthy`). It shows the
snapshot's revision, time, size, the data lost and where the old data dirs will be kept. The
restore itself starts in the change panel, which judges everything again under the plan lock
(every member reachable, the cluster still without quorum) before anything changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from hawizard.plan import Plan


def newest_snapshot(plan: Plan) -> Path | None:
    """The newest verified backup, else the newest `hawizard etcd snapshot` file."""
    from hawizard.etcd.backup import backups, plan_folder
    from hawizard.pki.record_key import load_key

    verified = [
        b for b in backups(plan_folder(plan), plan.cluster.name, load_key(plan)) if b.verified
    ]
    if verified:
        return verified[0].path
    base = plan.source.parent if plan.source is not None else Path.cwd()
    files = sorted((base / "snapshots").glob("*.db"), key=lambda p: p.stat().st_mtime)
    return files[-1] if files else None


class RestoreDialog(ModalScreen[Path | None]):
    """Dismisses with the snapshot to restore from, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, plan: Plan, health: Any) -> None:
        super().__init__()
        self.plan = plan
        self.health = health
        self.checked: Path | None = None
        self.checks = 0  # for tests: finished checks

    def compose(self) -> ComposeResult:
        default = newest_snapshot(self.plan)
        with Vertical(classes="dialog", id="restore"):
            yield Label("✖ Restore the cluster from a snapshot", classes="dialog-title")
            yield Static(
                Content(
                    "Every member is rebuilt from the same snapshot as a new cluster (new "
                    "cluster ID). Writes after the snapshot are lost. Old data dirs are moved "
                    "aside, never deleted. Only for a cluster that lost quorum."
                ),
                id="restore-intro",
            )
            yield Input(
                value=str(default) if default else "",
                placeholder="snapshot file (.db)",
                id="restore-path",
            )
            yield Static("", id="restore-facts")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Check", id="restore-check", variant="primary")
                yield Button("Restore", id="restore-go", variant="error", disabled=True)
                yield Button("Cancel", id="restore-cancel")

    def on_mount(self) -> None:
        self.query_one("#restore-path", Input).focus()
        if self.query_one("#restore-path", Input).value:
            self.check()

    @on(Input.Changed, "#restore-path")
    def changed(self) -> None:
        self.checked = None
        self.query_one("#restore-go", Button).disabled = True

    @on(Input.Submitted, "#restore-path")
    @on(Button.Pressed, "#restore-check")
    def check(self) -> None:
        path = self.query_one("#restore-path", Input).value.strip()
        self.query_one("#restore-facts", Static).update(Content("checking the snapshot…"))
        self.judge(path)

    @work(thread=True, exclusive=True, group="restore-check", exit_on_error=False)
    def judge(self, path: str) -> None:
        from hawizard.etcd.restore import BadSnapshot, inspect_snapshot
        from hawizard.ops.restore import describe

        lines: list[tuple[str, str]] = []
        ok = False
        if not path:
            lines.append(("bad", "give the snapshot file to restore from"))
        else:
            try:
                snap = inspect_snapshot(Path(path), self.plan)
            except BadSnapshot as exc:
                lines.append(("bad", f"✖ {exc}"))
            else:
                lines += [("", line) for line in describe(self.plan, snap, None, self.health)]
                lines += [("warn", f"▲ {w}") for w in snap.warnings]
                if self.health is not None and self.health.quorum_ok:
                    label = self.plan.source or "PLAN"
                    lines.append(
                        (
                            "bad",
                            f"✖ refused: the cluster has quorum ({self.health.summary}); replace "
                            f"failed members instead (R), or restore from a shell with "
                            f"`hawizard etcd restore {label} {snap.path} --force-while-healthy`",
                        )
                    )
                else:
                    ok = True
        self.app.call_from_thread(self.show_check, Path(path) if ok else None, lines)

    def show_check(self, ok_path: Path | None, lines: list[tuple[str, str]]) -> None:
        from hawizard.tui.widgets.status import Mark, mark_color

        text = Text(end="")
        for i, (kind, line) in enumerate(lines):
            mark = {"bad": Mark.BAD, "warn": Mark.WARN}.get(kind)
            text.append(
                ("\n" if i else "") + line, style=mark_color(self.app, mark) if mark else ""
            )
        self.query_one("#restore-facts", Static).update(text)
        self.checked = ok_path
        self.query_one("#restore-go", Button).disabled = ok_path is None
        self.checks += 1

    @on(Button.Pressed, "#restore-go")
    def go(self) -> None:
        if self.checked is not None:
            self.dismiss(self.checked)

    @on(Button.Pressed, "#restore-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
