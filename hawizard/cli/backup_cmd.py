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
    r = sub.add_parser(
        "run",
        help="take, verify, copy off-site and prune one backup now (what the timer runs)",
    )
    common(r)
    r.set_defaults(func=cmd_run)
    d = sub.add_parser(
        "drill",
        help="restore the newest off-site backup into a throwaway local etcd; report RTO",
    )
    d.add_argument("plan", help="plan file")
    d.add_argument("--target", help="one of [backup] targets (default: the first)")
    d.add_argument("--identity", help="age identity file (needed for encrypted backups)")
    d.add_argument("--json", action="store_true", help="print the result as JSON")
    d.set_defaults(func=cmd_drill)


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
    from hawizard.ops.backup import BackupFailed, backup

    plan = load_plan(args.plan)
    if plan is None:
        return 2
    try:
        _every, keep, folder = _settings(args, plan)
        command = f"hawizard etcd backup run {args.plan}"
        result = backup(plan, folder, keep, command=command, say=_say(args.json))
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
    shipped = [
        {"target": s.target, "file": s.file, "ok": s.ok, "error": s.error, "removed": s.removed}
        for s in result.shipped
    ]
    if args.json:
        print_json(
            {
                "ok": result.ok,
                "backup": result.info.to_json(),
                "removed": [str(p) for p in result.removed],
                "targets": shipped,
            }
        )
    else:
        i = result.info
        console.print(
            f"[green]verified backup[/] {esc(i.path)} (revision {i.revision}, {i.size:,} bytes, "
            f"from {esc(i.node)})",
            highlight=False,
        )
        for s in result.shipped:
            if s.ok:
                line = f"  [green]copied[/] to {esc(s.target)}: {esc(s.file)}"
                console.print(line, highlight=False)
    for s in result.shipped:
        if not s.ok:
            err_console.print(
                f"[bold red]off-site copy failed[/]: {esc(s.target)}: {esc(s.error)}",
                highlight=False,
                soft_wrap=True,
            )
    return 0 if result.ok else 1


def cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from hawizard.cli.run_view import render_refusal
    from hawizard.etcd.backup import backup_age, backups, human_age
    from hawizard.ops import Refused
    from hawizard.ops.backup import safe_folder
    from hawizard.ops.drill import last_drill
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
    drill = last_drill(plan)
    age = backup_age(folder, plan.cluster.name, every, key=key)
    if args.json:
        print_json(
            {
                "dir": str(folder),
                "backups": [x.to_json() for x in found],
                "last": age.to_json(),
                "targets": _list_targets(plan, True),
                "last_drill": drill.to_json() if drill else None,
            }
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
    _list_targets(plan, False)
    if drill is not None:
        from hawizard.cli.status_cmd import _drill_line

        console.print(_drill_line(drill), highlight=False)
    for x in found:
        if x.refused:
            err_console.print(
                f"[bold red]refused[/]: {esc(x.path)}.json fails its signature (changed since "
                "hawizard wrote it, or planted); the backup is never counted or restored",
                highlight=False,
                soft_wrap=True,
            )
    return 0


def cmd_drill(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hawizard.cli.run_view import render_refusal
    from hawizard.ops import Refused
    from hawizard.ops.drill import DrillFailed, run_drill
    from hawizard.ops.operation import held

    plan = load_plan(args.plan)
    if plan is None:
        return 2
    identity = Path(args.identity) if args.identity else None
    try:
        with held(plan, f"hawizard etcd backup drill {args.plan}"):
            report = run_drill(plan, args.target, identity, say=_say(args.json))
    except Refused as exc:
        return render_refusal(exc, as_json=args.json)
    except ValueError as exc:  # the identity file
        err_console.print(f"[bold red]error[/]: {esc(exc)}", highlight=False, soft_wrap=True)
        return 2
    except DrillFailed as exc:
        err_console.print(f"[bold red]drill failed[/]: {esc(exc)}", highlight=False, soft_wrap=True)
        if args.json:
            print_json({"ok": False, "error": str(exc)})
        return 1
    for w in report.warnings:
        err_console.print(f"[yellow]warning[/]: {esc(w)}", highlight=False, soft_wrap=True)
    if args.json:
        print_json(report.to_json())
    else:
        console.print(
            f"[green]drill passed[/]: {esc(report.target)}/{esc(report.file)} restored at "
            f"revision {report.revision} with {report.keys} keys; "
            f"RTO {report.rto_s:.1f} s (restore + start {report.restore_s:.1f} s)",
            highlight=False,
            soft_wrap=True,
        )
    return 0


def _list_targets(plan, as_json: bool) -> list[dict]:
    """Every `[backup] targets` entry with its copies (age, size, verdict); a target that
    cannot be read is listed with its error."""
    from rich.table import Table

    from hawizard.etcd.backup import human_age
    from hawizard.ops.drill import target_listing

    out = target_listing(plan)
    if as_json:
        return out
    for entry in out:
        target = entry["target"]
        if entry["error"]:
            err_console.print(f"[bold red]{esc(target)}[/]: {esc(entry['error'])}", highlight=False)
            continue
        table = Table(title=f"off-site: {esc(target)}", title_justify="left")
        for col in ("file", "revision", "size", "age", "verdict"):
            table.add_column(col, justify="right" if col in ("revision", "size", "age") else "left")
        for j in entry["backups"]:
            style = (
                "green"
                if j["verdict"] == "ok"
                else "bold red"
                if "refused" in j["verdict"]
                else "yellow"
            )
            size = f"{j['size']:,}" if isinstance(j["size"], int) else "?"
            table.add_row(
                esc(j["file"]), esc(j["revision"]), size, human_age(j["age_s"]),
                f"[{style}]{esc(j['verdict'])}[/]",
            )  # fmt: skip
        console.print(table)
    return out


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
