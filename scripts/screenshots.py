#!/usr/bin/env python3
"""Render the README's pictures from the real app on a real lab cluster (run as root).

    .venv/bin/python scripts/screenshots.py [--lab shots] [--out screenshots] [--keep]

Brings up a 4-node lab (unless it is running), then drives the wizard exactly as an operator
would on the demo's default plan for three of its nodes (`vip` mode, as `lab up` writes it) —
open the plan, preflight, create the certificates, dry-run and roll out etcd, dry-run and roll
out the control plane with its load balancer, review — saving an SVG of every screen. Then it
watches the cluster on the dashboard (one node holding the VIP), blackholes one member
(`lab fault NODE partition`) and saves the dashboard with that member down. The member is
healed; then day 2: a fourth lab node is put into the plan, `a` opens the confirmation dialog
(saved), `y` adds it and the dashboard is saved with the change's run and four healthy
members. Unless --keep, the lab is removed at the end.

    .venv/bin/python scripts/screenshots.py --offline

renders the same screens without a lab (no root): wizard screens from a fixed plan, the
dashboard from the health model fed fixed answers. Those pictures say so in their file name.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textual.widgets import DataTable, Input  # noqa: E402

from hawizard.plan import Node, Plan, Role, dump, load  # noqa: E402
from hawizard.tui.app import WizardApp  # noqa: E402

SIZE = (120, 40)


async def wait_for(pilot, condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"screenshots: {what} did not happen within {timeout:g} s")
        await pilot.pause(0.1)


class Shooter:
    def __init__(self, app: WizardApp, out: Path, suffix: str = "") -> None:
        self.app = app
        self.out = out
        self.suffix = suffix

    async def shot(self, pilot, name: str) -> None:
        await pilot.pause(0.3)
        path = self.app.save_screenshot(f"{name}{self.suffix}.svg", str(self.out))
        print(f"  {Path(path).relative_to(ROOT) if ROOT in Path(path).parents else path}")


async def step(pilot, screen_name: str) -> None:
    await pilot.press("ctrl+n")
    await wait_for(
        pilot, lambda: pilot.app.screen is pilot.app.get_screen(screen_name), 10, screen_name
    )


async def walk_lab(lab, plan_path: Path, out: Path, labs_root: Path, spare: Node | None) -> None:
    plan_names = None
    app = WizardApp(labs_root=labs_root, interval=1.0)
    shoot = Shooter(app, out)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.5)
        await shoot.shot(pilot, "01-start")
        app.screen.query_one("#open-path", Input).value = str(plan_path)
        await pilot.click("#open")
        await wait_for(pilot, lambda: app.screen is app.get_screen("nodes"), 10, "Nodes")
        plan_names = [n.name for n in app.plan.etcd_nodes]
        await shoot.shot(pilot, "02-nodes")

        await step(pilot, "preflight")
        screen = app.screen
        await pilot.press("ctrl+r")
        table = screen.query_one("#preflight-table", DataTable)
        await wait_for(
            pilot,
            lambda: all(
                str(table.get_cell(n, "result")).split()[0] in ("✔", "✖")
                or str(table.get_cell(n, "result")) == "▲ ready"
                for n in plan_names
            ),
            120,
            "preflight",
        )
        await shoot.shot(pilot, "03-preflight")

        await step(pilot, "certificates")
        screen = app.screen
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: not screen.busy and screen.report is not None, 60, "pki")
        await shoot.shot(pilot, "04-certificates")

        await step(pilot, "etcd")
        screen = app.screen
        await pilot.press("ctrl+d")
        await pilot.pause(0.2)
        await wait_for(pilot, lambda: screen.result is not None, 300, "etcd dry run")
        await shoot.shot(pilot, "05-etcd-dry-run")
        await pilot.press("ctrl+r")
        await pilot.pause(0.2)
        await wait_for(pilot, lambda: not screen.running and screen.result is not None, 900, "etcd")
        await shoot.shot(pilot, "06-etcd-rollout")

        await step(pilot, "control-plane")
        screen = app.screen
        await pilot.press("ctrl+d")
        await pilot.pause(0.2)
        await wait_for(pilot, lambda: screen.result is not None, 300, "control-plane dry run")
        await shoot.shot(pilot, "07-control-plane-dry-run")
        await pilot.press("ctrl+r")  # vip mode: haproxy + keepalived on every master, for real
        await pilot.pause(0.2)
        await wait_for(
            pilot, lambda: not screen.running and screen.result is not None, 900, "control plane"
        )
        if screen.result.failures:
            raise SystemExit("screenshots: the control-plane rollout failed")
        await shoot.shot(pilot, "07-control-plane-rollout")

        await step(pilot, "review")
        await shoot.shot(pilot, "08-review")

        await step(pilot, "readiness")
        readiness = app.screen
        await pilot.press("c")  # the real `hawizard check` against the lab, in a worker
        await wait_for(pilot, lambda: readiness.checklist is not None, 180, "readiness check")
        await shoot.shot(pilot, "13-readiness")

        await step(pilot, "dashboard")
        dash = app.screen
        await wait_for(
            pilot,
            lambda: (
                dash.health is not None
                and dash.health.converged
                and dash.balancer is not None
                and len(dash.balancer.holders) == 1
            ),
            60,
            "healthy, one node holding the VIP",
        )
        await shoot.shot(pilot, "09-dashboard")

        # a follower that does not hold the VIP: the picture shows one red row, nothing else
        holder = dash.balancer.holders[0]
        victim = next(n for n in plan_names if n not in (dash.health.leader_name, holder))
        print(f"  {lab.fault(victim, 'partition')}")
        try:
            cells = dash.query_one("#members", DataTable)
            await wait_for(
                pilot,
                lambda: str(cells.get_cell(victim, "health")) == "✖ unreachable",
                30,
                "red row",
            )
            await shoot.shot(pilot, "10-dashboard-member-down")
        finally:
            print(f"  {lab.fault(victim, 'heal')}")
        await wait_for(pilot, lambda: dash.health.converged, 60, "healed member healthy")
        if spare is None:
            print("  day 2 skipped: the running lab has no fourth node")
        else:
            await day2(pilot, shoot, dash, plan_path, spare)
        await pilot.press("ctrl+q")


async def day2(pilot, shoot: Shooter, dash, plan_path: Path, spare: Node) -> None:
    """The operator puts a fourth node into the plan and adds it from the dashboard."""
    app = pilot.app
    dump(app.plan.with_nodes((*app.plan.nodes, spare)), plan_path)
    app.set_plan(load(plan_path), plan_path)
    await pilot.press("r")
    await wait_for(
        pilot,
        lambda: dash.health is not None and spare.name in dash.health.not_in_cluster,
        30,
        f"{spare.name} listed as not a member",
    )
    await pilot.press("a")
    await wait_for(pilot, lambda: app.screen is not dash, 10, "the dialog")
    dialog = app.screen
    await wait_for(pilot, lambda: dialog.checked >= 1, 60, "the dialog's full check")
    await shoot.shot(pilot, "11-day2-add-dialog")
    if dialog.assessment is None or not dialog.assessment.allowed:
        raise SystemExit(f"screenshots: adding {spare.name} was refused")
    await pilot.press("y")
    panel = dash.query_one("#change-panel")
    await wait_for(pilot, lambda: app.screen is dash and not panel.running, 300, "the add")
    await wait_for(
        pilot,
        lambda: dash.health.converged and dash.health.healthy_voters == 4,
        60,
        "four healthy members",
    )
    await shoot.shot(pilot, "12-day2-member-added")


async def walk_offline(out: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "tui"))
    from tui_support import FIXED_PATH, NO_LABS, fixed_apiservers, fixed_health, fixed_plan

    plan: Plan = fixed_plan()
    screens = ("start", "nodes", "preflight", "certificates", "etcd", "control-plane", "review")
    for i, start in enumerate((*screens, "dashboard"), 1):
        name = f"{i:02d}-{start}"
        app = WizardApp(
            plan if start != "start" else None,
            FIXED_PATH,
            start=start,
            labs_root=NO_LABS,
            interval=60,
            health_probe=fixed_health,
            apiserver_probe=fixed_apiservers,  # the made-up masters are never dialled
        )
        async with app.run_test(size=SIZE) as pilot:
            await app.workers.wait_for_complete()
            await Shooter(app, out, "-offline").shot(pilot, name)
    await day2_offline(out)


async def day2_offline(out: Path) -> None:
    """The add dialog for a fourth node, judged by the engine on fixed answers."""
    import functools

    from tui_support import fixed_apiservers, fixed_health, fixed_plan

    from hawizard.etcd.quorum_rules import TargetState

    with tempfile.TemporaryDirectory(prefix="hawizard-shots-") as tmp:
        path = Path(tmp) / "plan.toml"  # a change works from a saved plan
        dump(fixed_plan(str(Path(tmp) / "pki"), spare=True), path)
        app = WizardApp(
            load(path),
            path,
            start="dashboard",
            labs_root=Path("/nonexistent/hawizard-labs"),
            interval=60,
            health_probe=functools.partial(
                fixed_health, down=(), members=("infra0", "infra1", "infra2")
            ),
            apiserver_probe=fixed_apiservers,
            target_probe=lambda _plan, _node: TargetState(reachable=True),
        )
        async with app.run_test(size=SIZE) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            await pilot.press("a")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            await Shooter(app, out, "-offline").shot(pilot, "11-day2-add-dialog")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab", default="shots", help="lab name (default: shots)")
    parser.add_argument("--out", default=str(ROOT / "screenshots"), help="output folder")
    parser.add_argument("--subnet", help="lab subnet inside 198.18.0.0/15 (default: derived)")
    parser.add_argument("--keep", action="store_true", help="leave the lab running afterwards")
    parser.add_argument("--offline", action="store_true", help="no lab: fixed data, see above")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.offline:
        asyncio.run(walk_offline(out))
        return 0

    from hawizard.lab import Lab, LabError

    lab = Lab(args.lab)
    was_running = lab.exists
    try:
        print(f"lab {args.lab}: {'using the running lab' if was_running else 'bringing it up'}")
        lab.up(nodes=4, subnet=args.subnet, progress=lambda msg: print(f"  {msg}"))
    except LabError as exc:
        print(f"screenshots: {exc}", file=sys.stderr)
        return 2
    names = [n.name for n in lab.nodes[:4]]  # the fourth joins on day 2
    try:
        with tempfile.TemporaryDirectory(prefix="hawizard-shots-") as tmp:
            pki_dir = Path(tmp) / "pki"
            pki_dir.mkdir(mode=0o700)
            plan_path = Path(tmp) / "plan.toml"
            # the demo's plan (`lab up` writes vip mode) for three nodes; the fourth is day 2's
            dump(lab.plan(nodes=3, pki_dir=pki_dir, balancer="vip"), plan_path)
            nodes = lab.plan(pki_dir=pki_dir, balancer="vip").nodes
            spare = replace(nodes[3], roles=(Role.ETCD,)) if len(nodes) > 3 else None
            asyncio.run(walk_lab(lab, plan_path, out, lab.root, spare))
    finally:
        if args.keep:
            print(f"lab {args.lab} kept running")
        elif was_running:
            lab.reset(*names)  # undo the rollout, keep the lab someone else started
        else:
            lab.down(purge=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
