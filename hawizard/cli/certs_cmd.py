"""`hawizard certs create | check`: make the plan's PKI on disk, and audit it."""

from __future__ import annotations

import argparse
import datetime as dt

from hawizard.cli.output import console, err_console, fail, load_plan, print_json

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


def cmd_create(args: argparse.Namespace) -> int:
    from rich.table import Table

    from hawizard import pki

    plan = load_plan(args.plan)
    if plan is None:
        return 2
    try:
        outcomes = pki.create(plan, renew=args.renew)
    except OSError as exc:
        return fail(
            f"cannot write the PKI under {plan.pki_dir}: {exc.strerror or exc}",
            "check pki.dir in the plan and the folder's permissions",
        )
    table = Table(title=f"certificates in {plan.pki_dir}", title_justify="left")
    for col in ("item", "action", "status", "notes"):
        table.add_column(col, overflow="fold")
    for o in outcomes:
        table.add_row(
            o.name,
            _styled(o.action.value, _ACTION_STYLE),
            _styled(o.status.value, _STATUS_STYLE),
            "\n".join(o.problems),
        )
    console.print(table)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.action.value] = counts.get(o.action.value, 0) + 1
    console.print(", ".join(f"{n} {action}" for action, n in counts.items()))
    if any(o.is_failure for o in outcomes):
        needs_renew = any(o.action is pki.Action.REPORTED for o in outcomes)
        err_console.print("[bold red]some certificates or keys need attention[/] (see notes)")
        if needs_renew and not args.renew:
            err_console.print(
                f"  → re-issue the leaves with: hawizard certs create {args.plan} --renew"
            )
        return 1
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from hawizard import pki

    plan = load_plan(args.plan)
    if plan is None:
        return 2
    try:
        report = pki.check(plan)
    except OSError as exc:
        return fail(f"cannot read the PKI under {plan.pki_dir}: {exc.strerror or exc}")
    if args.json:
        print_json(pki.report_as_dict(report))
    else:
        _print_check(report)
    if not report.ok:
        if not args.json:
            missing = report.status is pki.Status.MISSING
            hint = "create" if missing else "create --renew"
            err_console.print(
                f"[bold red]{report.status.value}[/]: some certificates need attention; "
                f"fix with: hawizard certs {hint} {args.plan}"
            )
        return 1
    return 0


def _print_check(report) -> None:  # report: hawizard.pki.PKIReport
    from rich.table import Table

    table = Table(title=f"certificates in {report.layout.root}", title_justify="left")
    for col in ("certificate", "subject CN", "SANs", "expires", "residual", "CA", "key", "status"):
        table.add_column(col, overflow="fold")
    problems: list[tuple[str, str]] = []
    for r in report.certificates:
        info = r.info
        ca = "-" if r.spec.is_ca else r.spec.ca.value
        if info is None:
            table.add_row(r.spec.name, "", "", "", "", ca, "", _styled(r.status.value))
        else:
            table.add_row(
                r.spec.name,
                info.common_name,
                ", ".join(info.sans),
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
        files.add_row(f.name, str(f.path), f.detail, _styled(f.status.value))
        problems += [(f.name, p) for p in f.problems]
    console.print(files)
    for name, problem in problems:
        console.print(f"[yellow]{name}[/]: {problem}", soft_wrap=True)


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
