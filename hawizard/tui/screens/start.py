"""Start: a new plan, a plan file, or the plan of a running lab."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from hawizard.plan import Plan, PlanError, load
from hawizard.tui.messages import LabPlan, LabPlansFound, PlanOpened
from hawizard.tui.widgets.footer import Footer

if TYPE_CHECKING:
    from hawizard.tui.app import WizardApp

INTRO = (
    "From a few Linux machines to a highly-available Kubernetes control plane on a "
    "TLS-secured etcd cluster. Every step reads and writes one plan, which you can save "
    "at any time with ctrl+s and apply later with `hawizard apply`."
)


def find_lab_plans(root: Path) -> list[LabPlan]:
    """Plans of labs on this machine (`<root>/<name>/plan.toml`), by lab name."""
    if not root.is_dir():
        return []
    return [LabPlan(p.parent.name, p) for p in sorted(root.glob("*/plan.toml")) if p.is_file()]


class StartScreen(Screen):
    @property
    def wizard(self) -> WizardApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="start"):
            yield Label("hawizard", id="start-title")
            yield Static(INTRO, id="start-intro")
            with Vertical(classes="start-choice"):
                yield Label("1  Start a new plan", classes="choice-title")
                yield Button("New plan", id="new-plan", variant="primary")
            with Vertical(classes="start-choice"):
                yield Label("2  Open a plan file", classes="choice-title")
                with Horizontal(classes="row"):
                    yield Input(placeholder="path/to/plan.toml", id="open-path")
                    yield Button("Open", id="open")
                yield Static("", id="open-problems", classes="field-error")
            with Vertical(classes="start-choice"):
                yield Label("3  Use a running lab's plan", classes="choice-title")
                yield OptionList(id="lab-plans")
                yield Static("", id="lab-hint", classes="hint")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#lab-hint", Static).update(f"looking for labs in {self.wizard.labs_root}…")
        self.scan_labs(self.wizard.labs_root)
        self.query_one("#new-plan", Button).focus()

    @work(thread=True, exclusive=True, group="labs")
    def scan_labs(self, root: Path) -> None:
        self.post_message(LabPlansFound(find_lab_plans(root)))

    def on_lab_plans_found(self, message: LabPlansFound) -> None:
        options = self.query_one("#lab-plans", OptionList)
        options.clear_options()
        for lab in message.plans:
            options.add_option(Option(f"{lab.name}  ({lab.path})", id=str(lab.path)))
        hint = self.query_one("#lab-hint", Static)
        if message.plans:
            hint.update("enter opens the highlighted lab's plan")
        else:
            hint.update(
                f"no lab found in {self.wizard.labs_root}; `hawizard lab up` (as root) makes one"
            )
        options.display = bool(message.plans)

    @on(Button.Pressed, "#new-plan")
    def new_plan(self) -> None:
        self.wizard.set_plan(Plan(nodes=()))
        self.wizard.plan_path = None
        self.wizard.goto("nodes")

    @on(Input.Submitted, "#open-path")
    @on(Button.Pressed, "#open")
    def open_typed(self) -> None:
        text = self.query_one("#open-path", Input).value.strip()
        if not text:
            self.query_one("#open-problems", Static).update("✖ type the path of a plan file")
            return
        self.open_plan(Path(text).expanduser())

    @on(OptionList.OptionSelected, "#lab-plans")
    def open_lab(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.open_plan(Path(event.option.id))

    @work(thread=True, exclusive=True, group="open")
    def open_plan(self, path: Path) -> None:
        try:
            plan = load(path)
        except PlanError as exc:
            self.post_message(PlanOpened(path, None, [str(p) for p in exc.problems]))
            return
        self.post_message(PlanOpened(path, plan, []))

    def on_plan_opened(self, message: PlanOpened) -> None:
        problems = self.query_one("#open-problems", Static)
        if message.plan is None:
            shown = message.problems[:6]
            more = len(message.problems) - len(shown)
            lines = [f"✖ {p}" for p in shown] + ([f"… and {more} more"] if more > 0 else [])
            problems.update(Content("\n".join(lines)))
            return
        problems.update("")
        self.wizard.set_plan(message.plan, message.path.resolve())
        self.wizard.goto("nodes")
