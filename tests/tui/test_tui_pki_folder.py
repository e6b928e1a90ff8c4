"""Two plans made in the wizard with the defaults get their own PKI folder and CAs.

Certificates are kept beside the plan file (`<plan-stem>.pki/`); a plan with no file yet is
asked to be saved first rather than given a folder that may be another plan's.
"""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import Input, Static
from tui_support import SIZE, fixed_plan, make_app, settle

from hawizard.ops import certs
from hawizard.plan import PKISettings, load


def unsaved_plan():
    return replace(fixed_plan(), pki=PKISettings())  # every default, no file


async def make_certificates_in_the_wizard(tmp_path, name: str):
    app = make_app(unsaved_plan(), start="certificates")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        summary = app.screen.query_one("#pki-summary", Static)
        assert "save the plan first" in str(summary.render())
        assert "once saved" in app.screen.query_one("#pki-dir", Input).placeholder
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert "save the plan first" in str(summary.render())
        assert not (tmp_path / "plan.pki").exists()  # nothing made in a folder not its own

        app.save_to(tmp_path / f"{name}.toml")
        await settle(pilot)
        assert app.plan.source == tmp_path / f"{name}.toml"
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert "created" in str(summary.render())
        assert str(tmp_path / f"{name}.pki") in str(summary.render())
    return load(tmp_path / f"{name}.toml")


async def test_two_wizard_plans_with_defaults_get_different_pki_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = await make_certificates_in_the_wizard(tmp_path, "prod")
    second = await make_certificates_in_the_wizard(tmp_path, "staging")
    assert first.cluster.name == second.cluster.name and first.pki == second.pki
    assert first.pki_dir == tmp_path / "prod.pki" and second.pki_dir == tmp_path / "staging.pki"
    for ca in ("etcd/ca", "kubernetes/ca"):
        a = certs.check(first).certificate(ca).info.fingerprint_sha256
        b = certs.check(second).certificate(ca).info.fingerprint_sha256
        assert a != b
    assert certs.check(first).ok and certs.check(second).ok
