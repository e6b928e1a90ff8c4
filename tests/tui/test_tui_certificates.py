"""The Certificates step: settings into the plan, `pki.create` in a worker, the review table."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Select, Static
from tui_support import SIZE, fixed_plan, make_app, settle

from hawizard import pki
from hawizard.plan import KeyType
from hawizard.tui.messages import CertificatesChecked


async def test_create_fills_the_table_with_every_certificate(tmp_path):
    pki_dir = tmp_path / "pki"
    plan = fixed_plan(str(pki_dir))
    seen: list[CertificatesChecked] = []

    def hook(message) -> None:
        if isinstance(message, CertificatesChecked):
            seen.append(message)

    app = make_app(plan, start="certificates")
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#certs-table", DataTable)
        expected = pki.check(plan).certificates
        assert table.row_count == len(expected) + 2  # + sa key pair, encryption config
        assert "no certificates yet" in str(app.screen.query_one("#pki-summary", Static).render())

        await pilot.press("ctrl+r")
        await settle(pilot)

        created = [m for m in seen if m.outcomes is not None]
        assert len(created) == 1
        assert not any(o.is_failure for o in created[0].outcomes)
        for r in pki.check(plan).certificates:
            assert r.spec.paths.cert.is_file() and r.spec.paths.key.is_file()
        report = pki.check(plan)
        assert report.ok
        keys = [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)]
        assert keys[: len(report.certificates)] == [r.spec.name for r in report.certificates]
        first = report.certificates[0]
        row = table.get_row(first.spec.name)
        assert str(row[0]) == "✔ ok"
        assert row[4].startswith(f"{first.info.not_after:%Y-%m-%d}")
        assert row[5] == first.info.fingerprint_sha256[:8] + "…"
        server = report.certificate("etcd/server-infra0")
        sans = str(table.get_row(server.spec.name)[3])
        assert sans == "infra0, localhost +3"  # the rest is in the detail pane
        summary = str(app.screen.query_one("#pki-summary", Static).render())
        assert "✔" in summary and "created" in summary

        # the highlighted certificate's full fingerprint is shown below the table
        table.focus()
        table.move_cursor(row=0)
        await pilot.pause()
        detail = str(app.screen.query_one("#cert-detail", Static).render())
        assert first.info.fingerprint_sha256 in detail
        table.move_cursor(row=keys.index(server.spec.name))
        await pilot.pause()
        detail = str(app.screen.query_one("#cert-detail", Static).render())
        assert ", ".join(server.info.sans) in detail


async def test_settings_change_the_plan_and_bad_days_are_reported():
    app = make_app(fixed_plan(), start="certificates")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("#key-type", Select).value = KeyType.RSA_2048.value
        await pilot.pause()
        assert app.plan.pki.key is KeyType.RSA_2048

        days = app.screen.query_one("#cert-days", Input)
        days.focus()
        await pilot.press("ctrl+u", *"5000")
        await pilot.pause()
        assert app.plan.pki.cert_days == 5000
        error = app.screen.query_one("#m-pki", Static)
        assert error.display
        assert "outlives the CA" in str(error.render())


async def test_create_refuses_an_invalid_plan(tmp_path):
    plan = fixed_plan(str(tmp_path / "pki"))
    app = make_app(plan, start="certificates")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        days = app.screen.query_one("#ca-days", Input)
        days.focus()
        await pilot.press("ctrl+u", *"10")
        await pilot.pause()
        await pilot.press("ctrl+r")
        await settle(pilot)
        summary = str(app.screen.query_one("#pki-summary", Static).render())
        assert "fix the plan first" in summary
        assert not (tmp_path / "pki").exists()
