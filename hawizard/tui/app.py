"""The wizard app: holds the one plan, moves between steps, saves, switches themes.

Screens are installed by name and kept alive while the operator moves back and forth, so a
half-typed form or a finished rollout log is still there on return. Everything slow (files,
SSH, probes) runs in thread workers that post messages; nothing here blocks the UI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType

from hawizard.plan import Plan, Severity, dump, validate
from hawizard.tui.backend import Backend
from hawizard.tui.forms import describe
from hawizard.tui.messages import PlanSaved
from hawizard.tui.theme import DEFAULT_THEME, cycle_order, load_themes, status_defaults

if TYPE_CHECKING:
    from hawizard.control_plane.probe import ApiserverHealth
    from hawizard.etcd.quorum_rules import TargetState
    from hawizard.health import ClusterHealth
    from hawizard.ops.check import Checklist

LABS_ROOT = Path("/var/lib/hawizard/labs")


class WizardApp(App[int]):
    TITLE = "hawizard"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("q", "quit", "Quit", show=False),
        Binding("t", "cycle_theme", "Theme"),
    ]

    def __init__(
        self,
        plan: Plan | None = None,
        plan_path: Path | None = None,
        *,
        theme: str | None = None,
        start: str | None = None,
        labs_root: Path = LABS_ROOT,
        interval: float = 2.0,
        health_probe: Callable[[Plan], ClusterHealth] | None = None,
        apiserver_probe: Callable[[Plan], list[ApiserverHealth]] | None = None,
        balancer_probe: Callable[[Plan], Any] | None = None,
        target_probe: Callable[[Plan, str], TargetState] | None = None,
        readiness_check: Callable[[Plan], Checklist] | None = None,
        backend: Backend | None = None,
        theme_dirs: list[Path] | None = None,
        record: bool = False,
    ) -> None:
        super().__init__()
        from hawizard.tui.recording import RoundRecorder

        self.recorder = RoundRecorder(record)  # the dashboard's rounds into the plan's store
        self.plan = plan if plan is not None else Plan(nodes=())
        self.plan_path = plan_path
        self.labs_root = labs_root
        self.interval = interval  # seconds between dashboard probe rounds
        # Every probe the screens make; the keyword arguments above fill its fields (tests).
        self.backend = backend or Backend(
            health_probe=health_probe,
            apiserver_probe=apiserver_probe,
            balancer_probe=balancer_probe,
            target_probe=target_probe,
            readiness_check=readiness_check,
        )
        self.start_at = start or ("nodes" if plan is not None else "start")
        # opened straight on the dashboard: its first round runs while Textual starts
        self.first_round: Any = None
        if self.start_at == "dashboard" and self.plan.etcd_nodes:
            from hawizard.tui.prefetch import FirstRound

            self.first_round = FirstRound(self.plan, self.backend)
        self.themes = load_themes(theme_dirs)
        for t in self.themes.values():
            self.register_theme(t)
        wanted = theme or DEFAULT_THEME
        if wanted not in self.themes:
            raise ValueError(
                f"unknown theme {wanted!r}; available: {', '.join(cycle_order(list(self.themes)))}"
            )
        self._initial_theme = wanted

    # the backend's fields, as screens and widgets read them
    @property
    def health_probe(self) -> Callable[[Plan], ClusterHealth] | None:
        return self.backend.health_probe

    @property
    def target_probe(self) -> Callable[[Plan, str], TargetState] | None:
        return self.backend.target_probe

    @property
    def readiness_check(self) -> Callable[[Plan], Checklist] | None:
        return self.backend.readiness_check

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """Status colours for any theme, also built-in ones that do not define them."""
        colors = self.current_theme.to_color_system().generate()
        return {**super().get_theme_variable_defaults(), **status_defaults(colors)}

    def on_mount(self) -> None:
        from hawizard.tui.screens import registry

        self.theme = self._initial_theme
        for name, factory in registry.SCREENS.items():
            self.install_screen(factory, name)  # type: ignore[arg-type]  # made on first use
        self.push_screen(self.start_at)

    # --- the plan ---------------------------------------------------------------------------

    def set_plan(self, plan: Plan, path: Path | None = None) -> None:
        self.plan = plan
        if path is not None:
            self.plan_path = path
        self.sub_title = str(self.plan_path) if self.plan_path else "new plan"

    def goto(self, name: str) -> None:
        self.switch_screen(name)

    def notify(self, message: str, *, title: str = "", markup: bool = False, **kwargs) -> None:
        """Notifications carry user text (names, paths, validator messages quoting values):
        plain text by default, so a `[/` in a name shows as typed instead of crashing the
        app's markup parser. No notification of hawizard's uses markup on purpose."""
        super().notify(message, title=title, markup=markup, **kwargs)

    # --- saving -----------------------------------------------------------------------------

    def save_blockers(self) -> list[str]:
        if not self.plan.nodes:
            return ["the plan has no nodes yet: add them on the Nodes step"]
        return [describe(p) for p in validate(self.plan) if p.severity is Severity.ERROR]

    def action_save(self) -> None:
        blockers = self.save_blockers()
        if blockers:
            more = f" (and {len(blockers) - 1} more)" if len(blockers) > 1 else ""
            self.notify(f"{blockers[0]}{more}", title="✖ not saved", severity="error")
            return
        if self.plan_path is None:
            from hawizard.tui.screens.save_dialog import SaveDialog

            self.push_screen(SaveDialog(Path.cwd() / "plan.toml"), self._save_chosen)
            return
        self.save_to(self.plan_path)

    def _save_chosen(self, path: Path | None) -> None:
        if path is not None:
            self.save_to(path)

    def save_to(self, path: Path) -> None:
        self._write_plan(self.plan, path.expanduser())

    @work(thread=True, exclusive=True, group="save")
    def _write_plan(self, plan: Plan, path: Path) -> None:
        """Under the plan lock, like every command that rewrites the plan: a save can then
        never interleave with `etcd remove` writing the plan it just changed."""
        from hawizard.planlock import PlanLock, PlanLocked

        try:
            with PlanLock(path, "hawizard wizard: save", wait=2.0):
                dump(plan, path)
        except PlanLocked as exc:
            self.call_from_thread(
                self.notify, str(exc), title="✖ not saved", severity="error", timeout=10
            )
            return
        except OSError as exc:
            self.call_from_thread(
                self.notify,
                f"cannot write {path}: {exc.strerror or exc}",
                title="✖ not saved",
                severity="error",
            )
            return
        self.post_message(PlanSaved(path.resolve()))

    def on_plan_saved(self, message: PlanSaved) -> None:
        self.plan_path = message.path
        self.plan = replace(self.plan, source=message.path)
        self.sub_title = str(message.path)
        self.notify(f"saved to {message.path}", title="✔ plan saved")

    # --- themes -----------------------------------------------------------------------------

    def action_cycle_theme(self) -> None:
        order = cycle_order(list(self.themes))
        here = order.index(self.theme) if self.theme in order else -1
        self.theme = order[(here + 1) % len(order)]
        self.notify(f"theme: {self.theme}", timeout=1.5)
