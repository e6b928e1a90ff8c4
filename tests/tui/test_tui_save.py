"""Saving from the wizard (issue 12): under the plan lock, and user text in notifications is
shown as typed (a `[/` used to crash Textual's markup parser)."""

from __future__ import annotations

from dataclasses import replace

from tui_support import SIZE, fixed_plan, make_app, settle

from hawizard import plan as plan_mod
from hawizard.planlock import PlanLock


def _messages(app) -> list[str]:
    return [n.message for n in app._notifications]


async def test_save_waits_for_the_plan_lock_and_refuses_while_held(tmp_path):
    path = tmp_path / "plan.toml"
    plan = fixed_plan(str(tmp_path / "pki"))
    plan_mod.dump(plan, path)
    changed = replace(plan, cluster=replace(plan.cluster, name="renamed"))
    app = make_app(changed, path)
    async with app.run_test(size=SIZE) as pilot:
        with PlanLock(path, "hawizard etcd remove plan.toml infra2"):
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert plan_mod.load(path).cluster.name == "prod"  # not written under the lock
            assert any("being changed by" in m for m in _messages(app))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert plan_mod.load(path).cluster.name == "renamed"


async def test_notifications_show_markup_as_typed(tmp_path):
    plan = fixed_plan(str(tmp_path / "pki"))
    bad = plan.with_nodes((replace(plan.nodes[0], name="[/]x"), *plan.nodes[1:]))
    app = make_app(bad, tmp_path / "plan.toml")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+s")  # refused: the name is invalid, and quoted in the message
        await settle(pilot)
        assert any("[/]x" in m for m in _messages(app))
        app.notify("[/] a raw [bold]name[/bold]")
        await settle(pilot)
