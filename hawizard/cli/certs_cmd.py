"""`hawizard certs create | check | rotate`: make the plan's PKI on disk, audit it, and roll
new certificates (or a new etcd CA) onto the running cluster."""

from __future__ import annotations

import argparse
import datetime as dt

from hawizard.cli.output import (
    add_run_flags,
    console,
    err_console,
    esc,
    fail,
    load_plan,
    print_failures,
    print_json,
)

_STATUS_STYLE = {
    "ok": "green",
    "expiring": "yellow",
    "insecure": "red",
    "mismatch": "red",
    "expired": "bold red",
    "untrusted": "bold red",
    "broken": "bold red",
    "missing": "bold red",
}
_ACTION_STYLE = {
    "created": "green",
    "renewed": "cyan",
    "kept": "dim",
    "reported": "yellow",
    "failed": "bold red",
}


def register(sub: argparse._SubParsersAction) -> None:
    certs = sub.add_parser("certs", help="create and check the etcd and Kubernetes certificates")
    cmds = certs.add_subparsers(dest="certs_command", metavar="ACTION", required=True)

    create = cmds.add_parser(
        "create",
        help="create the CAs, certificates and keys the plan needs",
        description="Create what is missing under the plan's pki.dir. Valid files are kept as "
        "they are; a CA already in place (also an imported one) is never replaced. "
        "Certificates that are expired, expiring, not signed by their CA or no longer match "
        "the plan are reported, and re-issued only with --renew.",
    )
    create.add_argument("plan", help="plan file")
    create.add_argument(
        "--renew",
        action="store_true",
        help="re-issue leaf certificates that are not ok (never CAs, sa.key or encryption key)",
    )
    create.set_defaults(func=cmd_create)

    check = cmds.add_parser(
        "check",
        help="expiry, SANs, chain and file modes of every certificate (changes nothing)",
        description="Audit every certificate and key under the plan's pki.dir. Exit 1 if "
        "anything is missing, broken, expired, not signed by its CA or does not match the plan.",
    )
    check.add_argument("plan", help="plan file")
    check.add_argument("--json", action="store_true", help="machine-readable report")
    check.set_defaults(func=cmd_check)

    rotate = cmds.add_parser(
        "rotate",
        help="re-issue certificates and roll them onto the running etcd cluster, one member "
        "at a time (or rotate the etcd CA with --ca etcd)",
        description="Leaf rotation (default): the etcd certificates that are expiring, "
        "expired or no longer match the plan (all of them with --all) are re-issued with new "
        "keys and rolled out one member at a time; each member must be healthy again and serve "
        "its new certificate before the next one restarts. --ca etcd replaces the etcd CA in "
        "three rolling phases (trust old+new, new certificates, trust new only); the old CA "
        "key is kept, renamed. An interrupted rotation resumes when run again.",
    )
    rotate.add_argument("plan", help="plan file")
    rotate.add_argument(
        "--ca", metavar="etcd|kubernetes", help="rotate this CA instead of leaf certificates"
    )
    rotate.add_argument(
        "--all", action="store_true", dest="all_leaves", help="every etcd leaf, not only due ones"
    )
    add_run_flags(rotate, dry_run_help="show what would be re-issued and restarted, change nothing")
    rotate.set_defaults(func=cmd_rotate)


def cmd_create(args: argparse.Namespace) -> int:
    from rich.table import Table

    from hawizard.ops import certs

    plan = load_plan(args.plan)
    if plan is None:
        return 2
    try:
        outcomes = certs.renew_all(plan) if args.renew else certs.create_missing(plan)
    except OSError as exc:
        return fail(
            f"cannot write the PKI under {plan.pki_dir}: {exc.strerror or exc}"
            + (f" ({exc.filename})" if exc.filename else ""),
            "check pki.dir in the plan and the folder's permissions",
        )
    table = Table(title=f"certificates in {esc(plan.pki_dir)}", title_justify="left")
    for col in ("item", "action", "status", "notes"):
        table.add_column(col, overflow="fold")
    for o in outcomes:
        table.add_row(
            esc(o.name),
            _styled(o.action.value, _ACTION_STYLE),
            _styled(o.status.value, _STATUS_STYLE),
            esc("\n".join(o.problems)),
        )
    console.print(table)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.action.value] = counts.get(o.action.value, 0) + 1
    console.print(", ".join(f"{n} {action}" for action, n in counts.items()))
    if any(o.is_failure for o in outcomes):
        needs_renew = any(o.action is certs.Action.REPORTED for o in outcomes)
        err_console.print("[bold red]some certificates or keys need attention[/] (see notes)")
        if needs_renew and not args.renew:
            err_console.print(
                f"  → re-issue the leaves with: hawizard certs create {esc(args.plan)} --renew"
            )
        return 1
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from hawizard.ops import certs

    plan = load_plan(args.plan)
    if plan is None:
        return 2
    try:
        report = certs.check(plan)
    except OSError as exc:
        return fail(f"cannot read the PKI under {plan.pki_dir}: {exc.strerror or exc}")
    if args.json:
        print_json(certs.report_as_dict(report))
    else:
        _print_check(report)
    if not report.ok and not args.json:
        missing = report.status is certs.Status.MISSING
        hint = "create" if missing else "create --renew"
        err_console.print(
            f"[bold red]{report.status.value}[/]: some certificates need attention; "
            f"fix with: hawizard certs {hint} {esc(args.plan)}"
        )
    if not args.json:
        for line in _fix_hints(report, args.plan):
            err_console.print(f"[yellow]→[/] {esc(line)}", soft_wrap=True, highlight=False)
    if not report.ok:
        return 1
    return 0


def _fix_hints(report, plan_label: str) -> list[str]:
    """The command that fixes each expiring or mismatched certificate (`certs check`)."""
    from hawizard.ops import certs

    status = certs.Status
    due = (status.EXPIRING, status.EXPIRED, status.MISMATCH, status.UNTRUSTED)
    hints: list[str] = []
    for r in report.certificates:
        if r.status not in due:
            continue
        if r.spec.is_ca and r.spec.ca is certs.CA.ETCD:
            fix = f"hawizard certs rotate {plan_label} --ca etcd"
        elif r.spec.is_ca:
            fix = "a new Kubernetes CA is not rotated by hawizard yet (see the README)"
        elif r.spec.ca is certs.CA.ETCD:
            fix = f"hawizard certs rotate {plan_label}"
        else:
            fix = f"hawizard certs create {plan_label} --renew, then hawizard apply {plan_label}"
        hints.append(f"{r.spec.name} ({r.status.value}): fix with {fix}")
    return hints


def cmd_rotate(args: argparse.Namespace) -> int:
    from hawizard.cli.run_view import ask_yes_no, render_refusal
    from hawizard.ops import Refused
    from hawizard.ops.rotate import check_ca, command_for, rotate

    if not 1 <= args.parallel <= 64:
        return fail(f"--parallel {args.parallel} is out of range", "give a number from 1 to 64")
    try:
        check_ca(args.ca)
    except Refused as exc:
        if args.json:
            print_json({"ok": False, "refused": True, "reason": exc.reason, "hint": exc.hint})
            return 2
        return fail(exc.reason, exc.hint)
    plan = load_plan(args.plan)
    if plan is None:
        return 2
    command = command_for(args.plan, args.ca, args.all_leaves)
    if not args.json:
        err_console.print("[dim]checking the cluster and the certificates…[/]")

    def confirm(rot) -> bool:
        _print_rotation(rot, args)
        return ask_yes_no(
            f"{esc(rot.title[0].upper() + rot.title[1:])}?",
            yes=args.yes,
            no_terminal="this restarts etcd members; confirm with --yes",
        )

    try:
        rot, result = rotate(
            plan,
            lambda p, phases: _run(p, phases, args),
            ca=args.ca,
            all_leaves=args.all_leaves,
            dry_run=args.dry_run,
            confirm=confirm,
            command=command,
        )
    except Refused as exc:
        return render_refusal(exc, as_json=args.json)
    except KeyboardInterrupt:
        err_console.print(f"interrupted: run `{esc(command)}` again to resume this rotation")
        return 130
    if args.dry_run and not args.json:
        _print_rotation(rot, args)
    return _rotation_summary(rot, result, command, args)


def _run(plan, phases, args):
    from hawizard.cli.apply_cmd import run_phases

    return run_phases(plan, phases, args)


def _print_rotation(rot, args) -> None:
    if args.json:
        return
    err_console.print(f"[bold]{esc(rot.title)}[/]" + (" [cyan](resuming)[/]" if rot.resume else ""))
    if rot.names:
        err_console.print("  re-issue: " + esc(", ".join(rot.names)), highlight=False)
    order = ", ".join(m.name for m in rot.members)
    err_console.print("  restart order: " + esc(order), highlight=False)
    for note in rot.notes:
        err_console.print(f"[yellow]note[/]: {esc(note)}", soft_wrap=True, highlight=False)


def _rotation_summary(rot, result, command: str, args) -> int:
    from hawizard.cli.apply_cmd import _print_summary, _result_json

    ok = result is None or result.ok
    if result is not None and result.interrupted:
        err_console.print(f"interrupted: run `{esc(command)}` again to resume this rotation")
        return 130
    if args.json:
        print_json(
            {
                "ok": ok,
                "dry_run": args.dry_run,
                "kind": rot.kind,
                "ca": rot.ca.value if rot.ca else None,
                "rotated": rot.names,
                "members": [m.name for m in rot.members],
                "skipped": rot.skipped,
                "notes": rot.notes,
                "serials": dict(rot.state.serials) if rot.state else {},
                "result": _result_json(result) if result is not None else None,
            }
        )
    elif result is None:
        for note in rot.notes:
            console.print(f"[dim]note[/]: {esc(note)}", soft_wrap=True, highlight=False)
        if rot.kind == "leaf" and not rot.names:
            console.print("nothing to rotate")
        else:
            return fail("not confirmed", "pass --yes to rotate without asking")
    elif result.ok or result.dry_run:
        _print_summary(result, args)
    else:
        print_failures(
            result,
            f"Fix the cause, then `{command}` resumes this rotation: members that are done "
            "are checked again, not restarted.",
        )
    return 0 if ok else 1


def _print_check(report) -> None:  # report: hawizard.pki.PKIReport
    from rich.table import Table

    table = Table(title=f"certificates in {esc(report.layout.root)}", title_justify="left")
    for col in ("certificate", "subject CN", "SANs", "expires", "residual", "CA", "key", "status"):
        table.add_column(col, overflow="fold")
    problems: list[tuple[str, str]] = []
    for r in report.certificates:
        info = r.info
        ca = "-" if r.spec.is_ca else r.spec.ca.value
        if info is None:
            table.add_row(esc(r.spec.name), "", "", "", "", ca, "", _styled(r.status.value))
        else:
            table.add_row(
                esc(r.spec.name),
                esc(info.common_name),
                esc(", ".join(info.sans)),
                f"{info.not_after:%Y-%m-%d %H:%M}",
                residual(info.time_left(report.checked_at)),
                ca,
                info.key_type,
                _styled(r.status.value),
            )
        problems += [(r.spec.name, p) for p in r.problems]
    console.print(table)
    files = Table(title="keys and secrets", title_justify="left")
    for col in ("file", "path", "detail", "status"):
        files.add_column(col, overflow="fold")
    for f in report.files:
        files.add_row(esc(f.name), esc(f.path), esc(f.detail), _styled(f.status.value))
        problems += [(f.name, p) for p in f.problems]
    console.print(files)
    for name, problem in problems:
        console.print(f"[yellow]{esc(name)}[/]: {esc(problem)}", soft_wrap=True)


def residual(left: dt.timedelta) -> str:
    """Time left in kubeadm's short style: `9y`, `364d`, `23h`, `59m`, or `expired`."""
    seconds = int(left.total_seconds())
    if seconds <= 0:
        return "expired"
    days = left.days
    if days >= 2 * 365:
        return f"{days // 365}y"
    if days >= 2:
        return f"{days}d"
    if seconds >= 2 * 3600:
        return f"{seconds // 3600}h"
    return f"{max(seconds // 60, 1)}m"


def _styled(value: str, styles: dict[str, str] = _STATUS_STYLE) -> str:
    style = styles.get(value)
    return f"[{style}]{value}[/]" if style else value
