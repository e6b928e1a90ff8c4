"""Certificates: choose key type and validity, create the PKI, review every certificate.

`hawizard.ops.certs` runs in a thread worker; the table shows the check's report (subject,
SANs, expiry, fingerprint) before anything is copied to a node. Create makes only what is
missing; certificates that exist but no longer match the plan (or are due) are re-issued only
after a confirmation that names each of them (`ops.certs.reissue`, the CLI's `--renew`).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from typing import Any, ClassVar

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from hawizard.ops import Refused
from hawizard.plan import KeyType, Plan
from hawizard.tui import forms
from hawizard.tui.messages import CertificatesChecked, CertificatesFailed
from hawizard.tui.screens.base import WizardScreen
from hawizard.tui.screens.reissue_dialog import ReissueDialog, reissue_text
from hawizard.tui.widgets.node_form import message_text
from hawizard.tui.widgets.status import Mark, mark_text

log = logging.getLogger(__name__)

KEY_LABELS = {
    KeyType.ECDSA_P256: "ECDSA P-256 (default)",
    KeyType.ECDSA_P384: "ECDSA P-384",
    KeyType.RSA_2048: "RSA 2048",
    KeyType.RSA_4096: "RSA 4096",
}
_SETTING_FIELDS = {
    "cert-days": "pki.cert_days",
    "ca-days": "pki.ca_days",
    "pki-dir": "pki.dir",
    "key-type": "pki.key",
}
COLUMNS = (
    ("status", "status"),
    ("name", "certificate"),
    ("subject", "subject"),
    ("sans", "SANs"),
    ("expires", "expires"),
    ("fingerprint", "sha256"),
)


def status_mark(status: str) -> Mark:
    if status == "ok":
        return Mark.OK
    if status == "missing":
        return Mark.IDLE
    if status in ("expiring", "insecure"):
        return Mark.WARN
    return Mark.BAD


def expiry_text(not_after: dt.datetime | None, now: dt.datetime) -> str:
    if not_after is None:
        return "—"
    days = (not_after - now).days
    return f"{not_after:%Y-%m-%d} {days}d"


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def compact(items: tuple[str, ...], width: int = 22) -> str:
    """As many items as fit, then `+N`: the full list is in the detail pane."""
    shown: list[str] = []
    for i, item in enumerate(items):
        rest = len(items) - i - 1
        candidate = ", ".join([*shown, item])
        if len(candidate) + (len(f" +{rest}") if rest else 0) > width and shown:
            return f"{', '.join(shown)} +{len(items) - len(shown)}"
        shown.append(item)
    return ", ".join(shown)


def short_fingerprint(fp: str | None) -> str:
    return f"{fp[:8]}…" if fp else "—"


class CertificatesScreen(WizardScreen):
    STEP = "certificates"
    BINDINGS: ClassVar[list[BindingType]] = [
        *WizardScreen.BINDINGS,
        Binding("ctrl+r", "create", "Create certificates"),
        Binding("ctrl+e", "reissue", "Re-issue"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.report: Any = None
        self.busy = False
        # What "Re-issue" would re-issue, judged from the last report (never a CA).
        self.renewable: tuple[str, ...] = ()
        self.asking = False  # the re-issue confirmation is open

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="pki-settings", classes="row"):
            with Vertical(classes="setting key-type"):
                yield Label("Key type", classes="field-label")
                yield Select(
                    [(label, kt.value) for kt, label in KEY_LABELS.items()],
                    allow_blank=False,
                    id="key-type",
                )
            with Vertical(classes="setting days"):
                yield Label("Certificate days", classes="field-label")
                yield Input(id="cert-days", restrict=r"[0-9]*", max_length=5)
            with Vertical(classes="setting days"):
                yield Label("CA days", classes="field-label")
                yield Input(id="ca-days", restrict=r"[0-9]*", max_length=5)
            with Vertical(classes="setting pki-dir"):
                yield Label("PKI folder (private keys stay here)", classes="field-label")
                yield Input(id="pki-dir")
        yield Static("", id="m-pki", classes="field-error")
        with Horizontal(classes="row action-row"):
            yield Button("Create certificates", id="create-certs", variant="primary")
            yield Button("Re-issue…", id="reissue-certs", variant="warning")
            yield Static("", id="pki-summary")
        yield DataTable(id="certs-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="cert-detail")

    def on_mount(self) -> None:
        table = self.query_one("#certs-table", DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.render_report())
        self.query_one("#reissue-certs", Button).display = False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Re-issue is offered (button and key) only while there is something to re-issue."""
        if action == "reissue":
            return bool(self.renewable)
        return True

    def show_plan(self) -> None:
        pki = self.plan.pki
        self.query_one("#key-type", Select).value = pki.key.value
        for widget_id, value in (
            ("cert-days", str(pki.cert_days)),
            ("ca-days", str(pki.ca_days)),
            ("pki-dir", pki.dir),
        ):
            field = self.query_one(f"#{widget_id}", Input)
            if field.value != value:
                field.value = value
        self.query_one("#pki-dir", Input).placeholder = self.dir_placeholder()
        self.show_setting_problems()
        if self.asking:  # back from our own dialog: its answer decides what runs next
            self.asking = False
            return
        self.check_pki(self.plan, self.wizard.save_blockers())

    # --- settings -------------------------------------------------------------------------

    @on(Select.Changed, "#key-type")
    def key_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.plan.pki.key.value:
            self._set_pki(key=KeyType(event.value))

    @on(Input.Changed, "#cert-days")
    def cert_days_changed(self, event: Input.Changed) -> None:
        if event.value.isdigit() and int(event.value) != self.plan.pki.cert_days:
            self._set_pki(cert_days=int(event.value))

    @on(Input.Changed, "#ca-days")
    def ca_days_changed(self, event: Input.Changed) -> None:
        if event.value.isdigit() and int(event.value) != self.plan.pki.ca_days:
            self._set_pki(ca_days=int(event.value))

    @on(Input.Changed, "#pki-dir")
    def dir_changed(self, event: Input.Changed) -> None:
        """An empty field is the default folder beside the plan (its path is the placeholder)."""
        value = event.value.strip()
        if value != self.plan.pki.dir:
            self._set_pki(dir=value)
            event.input.placeholder = self.dir_placeholder()

    def dir_placeholder(self) -> str:
        """What an empty PKI folder field means: the folder beside the plan file."""
        if self.plan.source is None:
            return "empty: <plan name>.pki beside the plan file, once saved (ctrl+s)"
        return f"empty: {self.plan.pki_dir} (beside the plan)"

    def _set_pki(self, **changes: Any) -> None:
        self.set_plan(replace(self.plan, pki=replace(self.plan.pki, **changes)))
        self.show_setting_problems()

    def show_setting_problems(self) -> None:
        by_field = forms.plan_messages(self.plan)
        messages = [m for path in _SETTING_FIELDS.values() for m in by_field.get(path, [])]
        line = self.query_one("#m-pki", Static)
        line.update(Content(message_text(messages)))
        line.set_class(any(m.is_error for m in messages), "-error")
        line.display = bool(messages)

    # --- create / check (thread workers) --------------------------------------------------

    @on(Button.Pressed, "#create-certs")
    def action_create(self) -> None:
        if self.busy:
            return
        blockers = self.wizard.save_blockers()
        if blockers:
            self.summary(Mark.BAD, f"fix the plan first: {blockers[0]}")
            return
        self.busy = True
        self.query_one("#create-certs", Button).disabled = True
        self.summary(Mark.RUN, f"creating certificates in {self.plan.pki_dir} …")
        self.create_pki(self.plan)

    @work(thread=True, exclusive=True, group="pki")
    def create_pki(self, plan: Plan) -> None:
        from hawizard.ops import certs

        try:
            outcomes = certs.create_missing(plan)
            report = certs.check(plan)
        except Refused as exc:
            self.post_message(CertificatesFailed(str(exc)))
            return
        except OSError as exc:
            self.post_message(
                CertificatesFailed(f"cannot write {plan.pki_dir}: {exc.strerror or exc}")
            )
            return
        except Exception as exc:  # a bug must not take the wizard down with it
            log.exception("certificate creation failed")
            self.post_message(CertificatesFailed(f"certificate creation failed: {exc}"))
            return
        self.post_message(CertificatesChecked(report, outcomes))

    @work(thread=True, exclusive=True, group="pki")
    def check_pki(self, plan: Plan, blockers: list[str]) -> None:
        from hawizard.ops import certs

        if blockers:  # certificates of an invalid plan would be wrong, or not computable
            self.post_message(CertificatesFailed(f"fix the plan first: {blockers[0]}"))
            return
        try:
            certs.require_pki_home(plan)  # else the table would show a folder not its own
            report = certs.check(plan)
        except Refused as exc:
            self.post_message(CertificatesFailed(str(exc)))
            return
        except OSError as exc:
            self.post_message(CertificatesFailed(f"cannot read {plan.pki_dir}: {exc}"))
            return
        self.post_message(CertificatesChecked(report))

    # --- re-issue what no longer matches (after a confirmation naming each) ------------------

    @on(Button.Pressed, "#reissue-certs")
    def action_reissue(self) -> None:
        if self.busy or not self.renewable:
            return
        names = self.renewable
        self.asking = True
        reports = {r.spec.name: r for r in self.report.certificates} if self.report else {}
        label = str(self.wizard.plan_path or "PLAN")
        text = reissue_text(names, reports, self.plan.pki_dir, label)
        self.app.push_screen(
            ReissueDialog(names, text), lambda yes: self._reissue_confirmed(names, bool(yes))
        )

    def _reissue_confirmed(self, names: tuple[str, ...], yes: bool) -> None:
        if not yes:
            self.summary(Mark.WARN, "nothing re-issued")
            return
        self.busy = True
        self.query_one("#create-certs", Button).disabled = True
        self.query_one("#reissue-certs", Button).disabled = True
        self.summary(Mark.RUN, f"re-issuing {len(names)} in {self.plan.pki_dir} …")
        self.reissue_pki(self.plan, names)

    @work(thread=True, exclusive=True, group="pki")
    def reissue_pki(self, plan: Plan, names: tuple[str, ...]) -> None:
        from hawizard.ops import certs

        try:
            outcomes = certs.reissue(plan, names)
            report = certs.check(plan)
        except Refused as exc:  # the PKI changed since the dialog: show it as it is now
            try:
                report = certs.check(plan)
            except OSError:
                report = None
            if report is not None:
                self.post_message(CertificatesChecked(report))
            self.post_message(CertificatesFailed(f"not re-issued: {exc}", keep_table=True))
            return
        except OSError as exc:
            self.post_message(
                CertificatesFailed(f"cannot write {plan.pki_dir}: {exc.strerror or exc}")
            )
            return
        except Exception as exc:  # a bug must not take the wizard down with it
            log.exception("re-issuing certificates failed")
            self.post_message(CertificatesFailed(f"re-issuing certificates failed: {exc}"))
            return
        self.post_message(CertificatesChecked(report, outcomes))

    def on_certificates_checked(self, message: CertificatesChecked) -> None:
        from hawizard.ops import certs

        self.report = message.report
        self.renewable = certs.reissue_candidates(self.plan, message.report)
        button = self.query_one("#reissue-certs", Button)
        button.display = bool(self.renewable)
        button.label = f"Re-issue {len(self.renewable)}…"
        self.refresh_bindings()
        self.render_report()
        if message.outcomes is not None:
            self.busy = False
            self.query_one("#create-certs", Button).disabled = False
            button.disabled = False
            counts: dict[str, int] = {}
            for o in message.outcomes:
                counts[o.action.value] = counts.get(o.action.value, 0) + 1
            failed = any(o.is_failure for o in message.outcomes)
            text = ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
            if self.renewable and not failed:
                text += f"; {len(self.renewable)} to re-issue (ctrl+e)"
            mark = Mark.BAD if failed else Mark.WARN if self.renewable else Mark.OK
            self.summary(mark, f"{text} in {self.plan.pki_dir}")
        elif self.renewable:
            self.summary(
                Mark.WARN,
                f"{len(self.renewable)} do not match the plan or are due: "
                "re-issue them (ctrl+e), see the table",
            )
        elif message.report.ok:
            self.summary(Mark.OK, f"all certificates in place in {self.plan.pki_dir}")
        else:
            missing = sum(1 for r in message.report.certificates if r.status.value == "missing")
            if missing == len(message.report.certificates):
                self.summary(Mark.IDLE, "no certificates yet: press Create (ctrl+r)")
            else:
                self.summary(Mark.WARN, f"problems found in {self.plan.pki_dir}: see the table")

    def on_certificates_failed(self, message: CertificatesFailed) -> None:
        self.busy = False
        self.query_one("#create-certs", Button).disabled = False
        self.query_one("#reissue-certs", Button).disabled = False
        if not message.keep_table:
            self.report = None
            self.renewable = ()
            self.query_one("#reissue-certs", Button).display = False
            self.refresh_bindings()
            self.query_one("#certs-table", DataTable).clear()
            self.query_one("#cert-detail", Static).update("")
        self.summary(Mark.BAD, message.error)

    def summary(self, mark: Mark, text: str) -> None:
        self.query_one("#pki-summary", Static).update(mark_text(self.app, mark, text))

    # --- the table ------------------------------------------------------------------------

    def render_report(self) -> None:
        if self.report is None or not self.is_mounted:
            return
        table = self.query_one("#certs-table", DataTable)
        row = table.cursor_row
        now = self.report.checked_at
        with self.app.batch_update():
            table.clear()
            for r in self.report.certificates:
                info = r.info
                table.add_row(
                    mark_text(self.app, status_mark(r.status.value), r.status.value),
                    escape(clip(r.spec.name, 26)),  # escaped: str cells are parsed as markup
                    escape(clip(info.common_name if info else r.spec.common_name, 20)),
                    escape(compact(info.sans if info else r.spec.sans)),
                    expiry_text(info.not_after if info else None, now),
                    short_fingerprint(info.fingerprint_sha256 if info else None),
                    key=r.spec.name,
                )
            for f in self.report.files:
                table.add_row(
                    mark_text(self.app, status_mark(f.status.value), f.status.value),
                    escape(clip(f.name, 26)),
                    escape(clip(f.detail, 20)),
                    "",
                    "—",
                    "—",
                    key=f"file:{f.name}",
                )
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))
            self.show_detail(table.cursor_row)

    @on(DataTable.RowHighlighted, "#certs-table")
    def row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail(event.cursor_row)

    def show_detail(self, index: int) -> None:
        detail = self.query_one("#cert-detail", Static)
        certs = self.report.certificates if self.report else ()
        if not 0 <= index < len(certs):
            detail.update("")
            return
        r = certs[index]
        lines = [f"{r.spec.name}  ({r.spec.paths.cert})"]
        if r.info:
            lines += [
                f"subject      {r.info.subject}",
                f"issuer       {r.info.issuer}",
                f"SANs         {', '.join(r.info.sans) or '—'}",
                f"valid        {r.info.not_before:%Y-%m-%d %H:%M} → "
                f"{r.info.not_after:%Y-%m-%d %H:%M} UTC",
                f"sha256       {r.info.fingerprint_sha256}",
            ]
        else:
            lines.append(f"will have SANs {', '.join(r.spec.sans) or '—'}")
        lines += [f"✖ {p}" for p in r.problems]
        detail.update(Content("\n".join(lines)))
