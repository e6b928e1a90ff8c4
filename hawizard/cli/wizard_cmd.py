"""`hawizard wizard` and `hawizard dashboard`: the Textual faces of the same plan and engine."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from hawizard.cli.output import err_console, fail, load_plan


def register(sub: argparse._SubParsersAction) -> None:
    wizard = sub.add_parser(
        "wizard",
        help="guided setup in the terminal (the default command)",
        description="Walk through nodes, preflight, certificates, etcd, the control plane and "
        "review, then watch the cluster on the dashboard. Every step edits one plan; ctrl+s "
        "saves it, q quits.",
    )
    wizard.add_argument("--plan", help="open this plan straight on the Nodes step")
    _theme_option(wizard)
    wizard.set_defaults(func=cmd_wizard)

    dashboard = sub.add_parser(
        "dashboard",
        help="live health of the plan's etcd cluster and certificates",
        description="Live tables of every etcd member (health, leader, raft term/index, DB "
        "size, version, latency), the quorum and how many failures it still tolerates, and "
        "certificate expiry. r refreshes, p pauses, +/- change the interval, t the theme.",
    )
    dashboard.add_argument(
        "plan",
        help="plan file; several plans, or a folder of plans, open the fleet view (one row "
        "per cluster, enter opens its dashboard)",
    )
    dashboard.add_argument("more", nargs="*", metavar="PLAN", help="more plans: the fleet")
    dashboard.add_argument(
        "--interval",
        type=float,
        default=2.0,
        help="seconds between probe rounds (default 2)",
    )
    dashboard.add_argument(
        "--replay",
        action="store_true",
        help="show the flight recorder's rounds instead of probing (←/→ step, space plays, "
        "[ ] speed, n/N next/previous event)",
    )
    dashboard.add_argument("--since", metavar="T", help="with --replay: from (default 1h)")
    dashboard.add_argument("--until", metavar="T", help="with --replay: to (default now)")
    dashboard.add_argument(
        "--no-record",
        action="store_true",
        help="do not append the rounds to the plan's flight recorder (<plan>.record.sqlite)",
    )
    _theme_option(dashboard)
    dashboard.set_defaults(func=cmd_dashboard)


def _theme_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--theme", help="dark (default), light, high-contrast, or a theme file's name"
    )


def _make_app(args: argparse.Namespace, plan_file: str | None, start: str | None, **extra):
    from hawizard.tui.app import WizardApp

    plan = path = None
    if plan_file:
        plan = load_plan(plan_file)
        if plan is None:
            return None
        path = Path(plan_file).resolve()
    try:
        return WizardApp(plan, path, theme=args.theme, start=start, **extra)
    except ValueError as exc:
        fail(str(exc), "pick one with --theme, e.g. --theme light")
        return None


def cmd_wizard(args: argparse.Namespace) -> int:
    app = _make_app(args, args.plan, None)
    if app is None:
        return 2
    app.run()
    return app.return_code or 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    if not math.isfinite(args.interval) or not 0 < args.interval <= 86400:
        return fail("--interval must be a positive number of seconds (finite, at most 86400)")
    fleet = bool(args.more) or Path(args.plan).is_dir()
    if fleet and args.replay:
        return fail("--replay shows one cluster's recording", "give one plan with --replay")
    if fleet:
        return _fleet(args)
    if args.replay:
        return _replay(args)
    if args.since or args.until:
        return fail("--since and --until choose what --replay shows", "add --replay")
    app = _make_app(args, args.plan, "dashboard", interval=args.interval, record=not args.no_record)
    if app is None:
        return 2
    app.run()
    if app.return_code:
        err_console.print("dashboard stopped with an error")
    return app.return_code or 0


def _fleet(args: argparse.Namespace) -> int:
    """Several clusters, one row each (`hawizard.tui.screens.fleet`)."""
    from rich.markup import escape

    from hawizard.ops.fleet import FleetError, gather
    from hawizard.tui.fleet_app import FleetApp

    if args.since or args.until:
        return fail("--since and --until choose what --replay shows", "give one plan")
    try:
        members, skipped = gather([args.plan, *args.more])
    except FleetError as exc:
        return fail(str(exc))
    for path, why in skipped:
        err_console.print(f"[yellow]skipped[/] {escape(str(path))}: {escape(why)}", soft_wrap=True)
    try:
        app = FleetApp(members, theme=args.theme, interval=args.interval)
    except ValueError as exc:
        return fail(str(exc), "pick one with --theme, e.g. --theme light")
    app.run()
    return app.return_code or 0


def _replay(args: argparse.Namespace) -> int:
    """The dashboard over recorded rounds: nothing is probed."""
    import datetime as dt

    from hawizard.ops.recording import open_store
    from hawizard.recorder.timespec import TimeSpecError, parse_time
    from hawizard.tui.replay_app import ReplayApp

    now = dt.datetime.now(dt.UTC)
    try:
        since = parse_time(args.since or "1h", now, "--since")
        until = parse_time(args.until, now, "--until") if args.until else now
    except TimeSpecError as exc:
        return fail(str(exc))
    plan = load_plan(args.plan)
    if plan is None:
        return 2
    try:
        with open_store(plan, create=False) as store:
            rounds = list(store.rounds(since, until))
    except FileNotFoundError:
        return fail(
            "nothing recorded for this plan yet",
            f"record with: hawizard status {args.plan} --watch 2 --record (or the dashboard)",
        )
    except OSError as exc:
        return fail(f"cannot read the recording: {exc.strerror or exc}")
    if not rounds:
        return fail(
            f"no round recorded between {since:%Y-%m-%d %H:%M:%S} and "
            f"{until:%Y-%m-%d %H:%M:%S} UTC",
            "widen --since / --until (hawizard incident shows what the recording holds)",
        )
    try:
        app = ReplayApp(plan, Path(args.plan).resolve(), rounds, theme=args.theme)
    except ValueError as exc:
        return fail(str(exc), "pick one with --theme, e.g. --theme light")
    app.run()
    return app.return_code or 0
