"""`hawizard etcd backup schedule|unschedule|list|run`: the CLI face of `hawizard.ops.backup`.

Exit codes: 0 done, 1 the backup (or enabling the timer) failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys

from hawizard.cli.output import console, err_console, esc, load_plan, print_json


def register(actions: argparse._SubParsersAction) -> None:
    p = actions.add_parser(
        "backup",
        help="scheduled, verified snapshots on this machine (systemd timer), list, run once",
        description="Verified backups: each is a snapshot checked by sha256 and `etcdutl "
        "snapshot status`; only the newest --keep verified ones are kept.",
    )
    p.set_defaults(func=lambda args: _usage(p))
    sub = p.add_subparsers(dest="backup_action", metavar="ACTION")

    def common(q: argparse.ArgumentParser, *, every: bool = False, keep: bool = True) -> None:
        q.add_argument("plan", help="plan file")
        q.add_argument(
            "--dir", help="backup folder (default: [backup] dir, else <plan dir>/backups)"
        )
        if keep:
            q.add_argument("--keep", type=int, help="verified backups kept (default 24)")
        if every:
            q.add_argument("--every", help="interval: 30s, 15m, 1h (default), 1d")
        q.add_argument("--json", action="store_true", help="print the result as JSON")

    s = sub.add_parser("schedule", help="install and start a systemd timer + service here")
    common(s, every=True)
    s.add_argument(
        "--user", action="store_true", default=None, help="user units (default when not root)"
    )
    s.set_defaults(func=cmd_schedule)
    u = sub.add_parser("unschedule", help="stop and remove the timer and service")
    u.add_argument("plan", help="plan file")
    u.add_argument("--user", action="store_true", default=None, help="user units")
    u.add_argument("--json", action="store_true", help="print the result as JSON")
    u.set_defaults(func=cmd_unschedule)
    ls = sub.add_parser("list", help="backups with revision, size, age and verdict")
    common(ls, every=True, keep=False)
    ls.set_defaults(func=cmd_list)
    r = sub.add_parser("run", help="take, verify and prune one backup now (what the timer runs)")
    common(r)
    r.set_defaults(func=cmd_run)


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    return 2


def _settings(args, plan):
    from hawizard.ops.backup import backup_settings

    return backup_settings(
        plan, getattr(args, "every", None), getattr(args, "keep", None), args.dir
    )


def cmd_run(args: argparse.Namespace) -> int:
    from hawizard.cli.run_view import render_refusal
    from hawizard.ops import Refused
    from hawizard.ops.backup import BackupFailed, run_backup

    plan = load_plan(args.plan)
    if plan is None:
        return 2
    try:
        _every, keep, folder = _settings(args, plan)
        result = run_backup(plan, folder, keep, say=_say(args.json))
    except Refused as exc:
        return render_refusal(exc, as_json=args.json)
    except BackupFailed as exc:
        # one line on stderr: what journald keeps for a failed timer run
        err_console.print(
            f"[bold red]backup failed[/]: {esc(exc)}", highlight=False, soft_wrap=True
        )
        if args.json:
            print_json({"ok": False, "error": str(exc)})
        return 1
    if args.json:
        print_json(
            {
                "ok": True,
                "backup": result.info.to_json(),
                "removed": [str(p) for p in result.removed],
            }
        )
    else:
        i = result.info
        console.print(
            f"[green]verified backup[/] {esc(i.path)} (revision {i.revision}, {i.size:,} bytes, "
            f"from {esc(i.node)})",
            highlight=False,
        )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from hawizard.cli.run_view import render_refusal
    from hawizard.etcd.backup import backup_age, backups, human_age
    from hawizard.ops import Refused
    from hawizard.ops.backup import safe_folder
    from hawizard.pki.record_key import load_key

    plan = load_plan(args.plan)
    if plan is None:
        return 2
    try:
        every, _keep, folder = _settings(args, plan)
        folder = safe_folder(folder, create=False)
    except Refused as exc:
        return render_refusal(exc, as_json=args.json)
    key = load_key(plan)
    found = backups(folder, plan.cluster.name, key)
    age = backup_age(folder, plan.cluster.name, every, key=key)
    if args.json:
        print_json(
            {"dir": str(folder), "backups": [x.to_json() for x in found], "last": age.to_json()}
        )
        return 0
    table = Table(title=f"backups in {esc(folder)}", title_justify="left")
    for col in ("file", "revision", "size", "age", "verdict"):
        table.add_column(col, justify="right" if col in ("revision", "size", "age") else "left")
    for x in found:
        j = x.to_json()
        style = {"ok": "green", "failed": "bold red"}.get(j["verdict"], "yellow")
        style = "bold red" if x.refused else style
        verdict = esc(j["verdict"])
        table.add_row(
            esc(x.path.name),
            esc(j["revision"]),
            f"{x.size:,}",
            human_age(j["age_s"]),
            f"[{style}]{verdict}[/]",
        )
    console.print(table)
    last = "none" if age.age_s is None else f"{human_age(age.age_s)} ago"
    colour = {"ok": "green", "yellow": "yellow", "red": "bold red"}[age.state]
    console.print(f"last verified backup: [{colour}]{last}[/]", highlight=False)
    for x in found:
        if x.refused:
            err_console.print(
                f"[bold red]refused[/]: {esc(x.path)}.json fails its signature (changed since "
                "hawizard wrote it, or planted); the backup is never counted or restored",
                highlight=False,
                soft_wrap=True,
            )
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    from hawizard.cli.run_view import render_refusal
    from hawizard.ops import Refused
    from hawizard.ops.backup import schedule

    plan = load_plan(args.plan)
    if plan is None:
        return 2
    try:
        every, keep, folder = _settings(args, plan)
        result = schedule(plan, every, keep, folder, user=args.user)
    except Refused as exc:
        return render_refusal(exc, as_json=args.json)
    if args.json:
        print_json({"ok": True, "service": str(result.service), "timer": str(result.timer)})
    else:
        console.print(
            f"[green]scheduled[/] every {every}s, keeping {keep}, into {esc(folder)}\n"
            f"  {esc(result.timer)}\n  {esc(result.service)}",
            highlight=False,
        )
    return 0


def cmd_unschedule(args: argparse.Namespace) -> int:
    from hawizard.ops.backup import unschedule

    plan = load_plan(args.plan)
    if plan is None:
        return 2
    removed = unschedule(plan, user=args.user)
    if args.json:
        print_json({"ok": True, "removed": [str(p) for p in removed]})
    elif removed:
        console.print("removed " + ", ".join(str(p) for p in removed), highlight=False)
    else:
        console.print("no backup units were installed", highlight=False)
    return 0


def _say(quiet: bool):
    def say(line: str) -> None:
        if not quiet:
            err_console.print(f"[dim]{esc(line)}[/]", highlight=False)

    return say
