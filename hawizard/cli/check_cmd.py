"""`hawizard check PLAN [--json]`: the production checklist for the live cluster (read-only)."""

from __future__ import annotations

import argparse

from hawizard.cli.output import console, err_console, load_plan, print_json

VERDICT_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "unknown": "dim"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="production checklist: etcd, control plane, auth, certificates, backups, "
        "monitoring, logs, patching, clock (read-only)",
        description="Judge the live cluster against a production checklist. One row per "
        "item: ✔ ok, ▲ warning, ✖ failing, ? unknown, with the evidence and the fix. Reads "
        "only (SSH and HTTPS, in parallel, each with a timeout); changes nothing. Exit 0 all "
        "✔, 1 any ▲, 2 any ✖ (unknowns do not fail).",
    )
    p.add_argument("plan", help="plan file")
    p.add_argument("--json", action="store_true", help="one JSON document")
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    from hawizard.ops.check import run_check

    plan = load_plan(args.plan)
    if plan is None:
        return 2
    status = None if args.json else err_console.status("checking the cluster…")
    if status is not None:
        status.start()
    try:
        checklist = run_check(plan)
    finally:
        if status is not None:
            status.stop()
    if args.json:
        print_json(checklist.to_json())
    else:
        print_checklist(checklist)
    return checklist.exit_code


def print_checklist(checklist) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="production checklist", title_justify="left", show_lines=True)
    for col in ("#", "item", "", "evidence", "fix"):
        table.add_column(col, overflow="fold")
    for item in checklist.items:
        style = VERDICT_STYLE[item.verdict.value]
        table.add_row(
            str(item.number),
            item.title,
            f"[{style}]{item.verdict.symbol}[/]",
            escape("\n".join(item.evidence)),
            escape(item.fix),
        )
    console.print(table)
    counts = checklist.to_json()["counts"]
    console.print(
        f"✔ {counts['ok']}  ▲ {counts['warn']}  ✖ {counts['fail']}  ? {counts['unknown']}"
        f"  ({checklist.duration_s:.1f} s)"
    )
