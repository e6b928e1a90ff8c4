"""On a quorum loss the dashboard names both ways back and what each loses (issue 27)."""

from __future__ import annotations

from test_tui_dashboard import CountingProbe, wait_for
from textual.widgets import Static
from tui_support import FIXED_PATH, SIZE, fixed_plan, make_app


async def test_quorum_lost_banner_offers_recover_and_restore():
    plan = fixed_plan()
    probe = CountingProbe(plan)
    probe.down = tuple(n.name for n in plan.etcd_nodes[1:])  # 2 of 3 down: quorum lost
    app = make_app(plan, FIXED_PATH, start="dashboard", interval=60, health_probe=probe)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.rounds >= 1)
        assert screen.query_one("#quorum-banner", Static).has_class("-bad")
        info = str(screen.query_one("#dash-info", Static).render())
        assert "hawizard etcd recover" in info and "keeps every write" in info
        assert "loses every write after it" in info
    # a healthy cluster is not offered either
    probe.down = ()
    app = make_app(plan, FIXED_PATH, start="dashboard", interval=60, health_probe=probe)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.rounds >= 1)
        assert "etcd recover" not in str(screen.query_one("#dash-info", Static).render())
