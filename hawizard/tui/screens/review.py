"""Review & export: the plan as TOML, what is still wrong with it, and where it is saved."""

from __future__ import annotations

from pathlib import Path

from rich.syntax import Syntax
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Input, Label, Static

from hawizard.balancer.summary import endpoint_survival_line
from hawizard.plan import dumps, validate
from hawizard.tui.screens.base import WizardScreen


class ReviewScreen(WizardScreen):
    STEP = "review"

    def compose_body(self) -> ComposeResult:
        yield Label("The plan", classes="section-title")
        with VerticalScroll(id="toml-box"):
            yield Static("", id="plan-toml")
        yield Static("", id="review-endpoint")
        yield Static("", id="review-problems")
        with Horizontal(classes="row save-row"):
            yield Label("Save as", classes="inline-label")
            yield Input(id="review-path")
            yield Button("Save (ctrl+s)", id="review-save", variant="primary")

    def show_plan(self) -> None:
        text = dumps(self.plan)
        syntax = Syntax(
            text,
            "toml",
            theme=self.syntax_theme(),
            line_numbers=True,
            background_color=self.app.theme_variables.get("background"),
        )
        self.query_one("#plan-toml", Static).update(syntax)
        self.query_one("#review-endpoint", Static).update(
            Content(endpoint_survival_line(self.plan))
        )
        problems = validate(self.plan)
        lines = [
            f"{'✖' if p.severity == 'error' else '▲'} {p.field}: {p.message}" for p in problems
        ]
        if not self.plan.nodes:
            lines.insert(0, "✖ nodes: the plan has no nodes yet (add them on the Nodes step)")
        box = self.query_one("#review-problems", Static)
        box.update(Content("\n".join(lines) if lines else "✔ the plan is valid"))
        box.set_class(bool(lines), "-error")
        box.set_class(not lines, "-ok")
        path = self.wizard.plan_path or Path.cwd() / "plan.toml"
        field = self.query_one("#review-path", Input)
        field.value = str(path)

    def syntax_theme(self) -> str:
        return "ansi_dark" if self.app.current_theme.dark else "ansi_light"

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.show_plan())

    @on(Input.Submitted, "#review-path")
    @on(Button.Pressed, "#review-save")
    def save(self) -> None:
        text = self.query_one("#review-path", Input).value.strip()
        if not text:
            self.notify("type where to save the plan", severity="error")
            return
        blockers = self.wizard.save_blockers()
        if blockers:
            self.wizard.action_save()  # reports why
            return
        self.wizard.save_to(Path(text).expanduser())
