"""The Certificates step offers to re-issue what no longer matches the plan, names each
certificate in a confirmation, and re-issues only after "Re-issue" (ops.certs.reissue)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from textual.widgets import Button, Static
from tui_support import SIZE, fixed_plan, make_app, settle

from hawizard.ops import certs
from hawizard.tui.screens.reissue_dialog import ReissueDialog

MEMBER_CERTS = {"etcd/server-infra0", "etcd/peer-infra0", "kubernetes/apiserver"}


def moved_member(tmp_path: Path):
    """A PKI made for the plan, then infra0 given a new address: its certs no longer match."""
    plan = fixed_plan(str(tmp_path / "pki"))
    certs.create_missing(plan)
    nodes = (replace(plan.nodes[0], address="10.1.2.21"), *plan.nodes[1:])
    return replace(plan, nodes=nodes)


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


async def open_dialog(pilot) -> ReissueDialog:
    await pilot.press("ctrl+e")
    await pilot.pause()
    dialog = pilot.app.screen
    assert isinstance(dialog, ReissueDialog)
    return dialog


async def test_reissue_is_offered_named_and_no_changes_nothing(tmp_path):
    plan = moved_member(tmp_path)
    before = files(plan.pki_dir)
    app = make_app(plan, start="certificates")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        button = screen.query_one("#reissue-certs", Button)
        assert button.display and str(button.label) == "Re-issue 3…"
        summary = str(screen.query_one("#pki-summary", Static).render())
        assert "3 do not match the plan" in summary and "ctrl+e" in summary

        dialog = await open_dialog(pilot)
        text = str(dialog.query_one("#reissue-text", Static).render())
        for name in MEMBER_CERTS:
            assert f"• {name}  (mismatch:" in text
        assert "/ca " not in text and "ca  (" not in text  # no CA is ever offered
        assert app.focused is dialog.query_one("#reissue-no", Button)  # the safe default

        await pilot.click("#reissue-no")
        await settle(pilot)
        assert app.screen is screen
        assert files(plan.pki_dir) == before
        assert "nothing re-issued" in str(screen.query_one("#pki-summary", Static).render())

        await open_dialog(pilot)
        await pilot.press("escape")  # escape is "no" as well
        await settle(pilot)
        assert app.screen is screen and files(plan.pki_dir) == before


async def test_reissue_after_yes_replaces_the_named_certificates_only(tmp_path):
    plan = moved_member(tmp_path)
    before = files(plan.pki_dir)
    app = make_app(plan, start="certificates")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        await open_dialog(pilot)
        await pilot.click("#reissue-yes")
        await settle(pilot)

        after = files(plan.pki_dir)
        changed = {k for k in before if before[k] != after[k]}
        assert changed == {f"{n}{s}.pem" for n in MEMBER_CERTS for s in ("", "-key")}
        assert certs.check(plan).ok
        summary = str(screen.query_one("#pki-summary", Static).render())
        assert "3 renewed" in summary and "✔" in summary
        assert not screen.query_one("#reissue-certs", Button).display
        await pilot.press("ctrl+e")  # nothing left to re-issue: no dialog
        await pilot.pause()
        assert app.screen is screen


async def test_a_plan_with_nothing_to_reissue_shows_no_offer(tmp_path):
    plan = fixed_plan(str(tmp_path / "pki"))
    certs.create_missing(plan)
    app = make_app(plan, start="certificates")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not app.screen.query_one("#reissue-certs", Button).display
        assert "all certificates in place" in str(
            app.screen.query_one("#pki-summary", Static).render()
        )


async def test_a_pki_changed_behind_the_dialog_is_not_reissued(tmp_path):
    plan = moved_member(tmp_path)
    app = make_app(plan, start="certificates")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        await open_dialog(pilot)
        etcd = plan.pki_dir / "etcd"
        for suffix in (".pem", "-key.pem"):  # infra1's peer pair now holds infra2's
            (etcd / f"peer-infra1{suffix}").write_bytes(
                (etcd / f"peer-infra2{suffix}").read_bytes()
            )
        before = files(plan.pki_dir)
        await pilot.click("#reissue-yes")
        await settle(pilot)

        assert files(plan.pki_dir) == before
        summary = str(screen.query_one("#pki-summary", Static).render())
        assert "not re-issued" in summary and "changed since they were confirmed" in summary
        assert str(screen.query_one("#reissue-certs", Button).label) == "Re-issue 4…"
