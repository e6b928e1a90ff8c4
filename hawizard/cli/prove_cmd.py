"""`hawizard lab prove`: the scorecard of "no acknowledged write lost under any operation"."""

from __future__ import annotations

import argparse

from hawizard.cli.output import console, err_console, esc, fail, print_json


def register(cmds: argparse._SubParsersAction) -> None:
    from hawizard.lab.prove.operations import ORDER

    prove = cmds.add_parser(
        "prove",
        help="prove no acknowledged write is lost under each day-2 operation (scorecard)",
        description="Brings up its own lab, builds a 3-member cluster and, for each operation, "
        "runs a recording workload (a new TLS connection per write, and one long-lived "
        "connection), the operation, then a checker: every acknowledged write present, "
        "nothing never written, no read going back. Operations: " + ", ".join(ORDER) + ".",
    )
    prove.add_argument("--name", default="prove", metavar="LAB", help="lab name (default: prove)")
    prove.add_argument(
        "--ops",
        default=None,
        metavar="OP,…",
        help="operations to prove, comma-separated, or 'all' (default: all available; "
        "none with --self-test alone); OP@kill kills hawizard at a random step and resumes, "
        "OP@poweroff powers a member off mid-operation (upgrade, defrag, rotate-ca, patch)",
    )
    prove.add_argument("--rounds", type=int, default=1, metavar="N", help="rounds (default 1)")
    prove.add_argument("--json", action="store_true", help="machine-readable scorecard")
    prove.add_argument(
        "--self-test",
        action="store_true",
        help="also delete one acknowledged key behind the workload's back: the checker must "
        "report it lost (and the command exit non-zero)",
    )
    prove.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    prove.set_defaults(func=cmd_prove)


def parse_ops(text: str | None, self_test: bool) -> list[str]:
    """The operations asked for, in the harness's order. Raises ValueError naming the bad one."""
    from hawizard.lab.prove.operations import ORDER, available

    if text is None:
        return [] if self_test else [op for op in ORDER if available(op)]
    from hawizard.lab.prove.faults import FAULTABLE, FAULTS

    asked = []
    for op in (op.strip() for op in text.split(",")):
        asked += [o for o in ORDER if available(o)] if op == "all" else [op] if op else []
    for op in asked:
        base, at, fault = op.partition("@")
        if base not in ORDER:
            raise ValueError(f"unknown operation {base!r}")
        fault, colon, seed = fault.partition(":")
        bad_seed = colon and not seed.isdigit()
        if at and (base not in FAULTABLE or fault not in FAULTS or bad_seed):
            raise ValueError(
                f"{op!r}: faults are {', '.join(FAULTS)} on {', '.join(FAULTABLE)}, "
                "optionally with a seed to replay (e.g. rotate-ca@kill, upgrade@kill:25698)"
            )
    if sum(op.partition("@")[0] == "upgrade" for op in asked) > 1:
        raise ValueError("one upgrade per round (3.5.0 → 3.5.1 happens once)")
    return sorted(dict.fromkeys(asked), key=lambda op: (ORDER.index(op.partition("@")[0]), op))


def cmd_prove(args: argparse.Namespace) -> int:
    from hawizard.lab import LabError
    from hawizard.lab.layout import check_name
    from hawizard.lab.prove.harness import prove
    from hawizard.lab.prove.operations import ORDER

    try:
        ops = parse_ops(args.ops, args.self_test)
    except ValueError as exc:
        return fail(f"--ops: {exc}", "choose from: all, " + ", ".join(ORDER))
    if args.rounds < 1:
        return fail(f"--rounds {args.rounds}: must be at least 1", "e.g. --rounds 3")
    try:
        check_name(args.name)
    except LabError as exc:
        return fail(f"--name: {exc.message}", exc.hint)
    if not ops and not args.self_test:
        return fail("nothing to prove", "give --ops or --self-test")
    try:
        reports = prove(
            args.name,
            ops,
            rounds=args.rounds,
            self_test=args.self_test,
            say=lambda line: err_console.print(f"[dim]{esc(line)}[/]"),
            keep=args.keep,
        )
    except LabError as exc:
        return fail(exc.message, exc.hint)
    if args.json:
        print_json({"ops": [r.to_json() for r in reports]})
    else:
        _table(reports)
    return 0 if reports and all(r.ok for r in reports) else 1


def _fmt(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:g} {unit}"


def _table(reports) -> None:
    from rich.table import Table

    table = Table(title="lab prove: no acknowledged write lost")
    for col in (
        "op",
        "duration",
        "acked",
        "failed",
        "lost",
        "max stall",
        "p99 before",
        "p99 during",
    ):
        table.add_column(col, justify="left" if col == "op" else "right")
    table.add_column("verdict")
    for r in reports:
        style = "green" if r.ok else "bold red"
        table.add_row(
            esc(r.op),
            f"{r.duration_s:g} s",
            str(r.acked),
            str(r.failed),
            str(r.lost),
            f"{r.stall_s:g} s",
            _fmt(r.p99_ms_before, "ms"),
            _fmt(r.p99_ms_during, "ms"),
            f"[{style}]{esc(r.verdict)}[/]",
        )
    console.print(table)
    for r in reports:
        if r.note:
            console.print(f"  [dim]{esc(r.op)}:[/] {esc(r.note)}", highlight=False)
        if r.lost_keys:
            console.print(f"  [bold red]{esc(r.op)} lost:[/] {esc(', '.join(r.lost_keys[:10]))}")
        if r.window:
            console.print(f"  [dim]{esc(r.op)}: {r.window} keys in the declared restore window[/]")
