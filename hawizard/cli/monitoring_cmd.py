"""`hawizard monitoring export PLAN DIR`: Prometheus config, etcd alerts, Grafana dashboard."""

from __future__ import annotations

import argparse

from hawizard.cli.output import console, fail, load_plan


def register(sub: argparse._SubParsersAction) -> None:
    mon = sub.add_parser("monitoring", help="Prometheus, alert rules and Grafana for the cluster")
    cmds = mon.add_subparsers(dest="monitoring_command", metavar="ACTION", required=True)
    export = cmds.add_parser(
        "export",
        help="write the Prometheus scrape config, etcd alert rules and a Grafana dashboard",
        description="Write prometheus.yml (etcd metrics listeners, apiservers with the "
        "monitoring client certificate, haproxy, node exporters), etcd-alerts.yml with its "
        "promtool unit tests, grafana-dashboard.json, monitoring-rbac.yaml (apply it with "
        "kubectl so the monitoring user may read /metrics) and tls/ into DIR. Check them "
        "with `promtool check config DIR/prometheus.yml` and `promtool test rules "
        "DIR/etcd-alerts.test.yml`.",
    )
    export.add_argument("plan", help="plan file")
    export.add_argument(
        "dir",
        nargs="?",
        help="folder to write into (created if missing; default: monitoring/ next to the plan, "
        "where `hawizard check` looks for it)",
    )
    export.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hawizard.ops import Refused
    from hawizard.ops.check import export_dir
    from hawizard.ops.monitoring import export

    plan = load_plan(args.plan)
    if plan is None:
        return 2
    folder = Path(args.dir) if args.dir else export_dir(plan)
    try:
        done = export(plan, folder)
    except Refused as exc:
        return fail(exc.reason.replace("PLAN", args.plan), exc.hint.replace("PLAN", args.plan))
    except OSError as exc:
        return fail(f"cannot write {folder}: {exc.strerror or exc}")
    for path in done.files:
        console.print(f"wrote {path}", soft_wrap=True, markup=False)
    console.print(
        f"check: promtool check config {done.folder}/prometheus.yml", soft_wrap=True, markup=False
    )
    return 0
