"""`hawizard incident PLAN --since T [--until T] [--json]`: a postmortem's timeline from the
flight recorder (`hawizard status --watch S --record`, the dashboard): members down and up,
leader changes, term jumps, alarms, VIP moves, certificate thresholds and hawizard's own
operations, in order, with times. Markdown by default, `--json` for tools (schema 1:
`since`, `until`, `rounds`, `start` {at, state, summary} or null, `timeline` [{at, kind,
subject, text}]). Exit 0 with a timeline, 2 for bad input or nothing recorded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from hawizard.cli.output import fail, load_plan, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "incident",
        help="timeline of what the flight recorder saw between two times (Markdown or JSON)",
        description="Read the plan's flight recorder and write what changed: members "
        "unhealthy and healthy again, leader changes, term jumps, alarms, VIP moves, "
        "certificate thresholds, operations run. Times: a duration back from now (90s, 2m, "
        "1h, 7d) or an ISO time (UTC unless it names a zone).",
    )
    p.add_argument("plan", help="plan file")
    p.add_argument("--since", required=True, metavar="T", help="start: 2m, 1h, or an ISO time")
    p.add_argument("--until", metavar="T", help="end (default: now)")
    p.add_argument("--json", action="store_true", help="machine-readable (schema 1)")
    p.set_defaults(func=cmd_incident)


def cmd_incident(args: argparse.Namespace) -> int:
    from hawizard.ops.recording import incident, open_store
    from hawizard.recorder.timeline import markdown
    from hawizard.recorder.timespec import TimeSpecError, parse_time

    now = dt.datetime.now(dt.UTC)
    try:
        since = parse_time(args.since, now, "--since")
        until = parse_time(args.until, now, "--until") if args.until else now
    except TimeSpecError as exc:
        return fail(str(exc))
    if until < since:
        return fail(
            f"--until ({until:%Y-%m-%d %H:%M:%S}) is before --since ({since:%Y-%m-%d %H:%M:%S})",
            "swap them, or leave --until out to mean now",
        )
    plan = load_plan(args.plan)
    if plan is None:
        return 2
    try:
        store = open_store(plan, create=False)
    except FileNotFoundError:
        return fail(
            "nothing recorded for this plan yet",
            f"record with: hawizard status {args.plan} --watch 2 --record (or the dashboard)",
        )
    except OSError as exc:
        return fail(f"cannot read the recording: {exc.strerror or exc}")
    with store:
        found = incident(store, since, until)
    if args.json:
        print_json(found.to_json())
    else:
        text = markdown(found.entries, since, until, plan.cluster.name, found.first)
        sys.stdout.write(text)
    return 0
