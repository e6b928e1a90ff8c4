"""`hawizard status PLAN`: how the etcd cluster is doing right now, probed from here.

Exit codes follow `ClusterHealth.state`: 0 healthy, 1 degraded but with quorum, 2 quorum lost
or nothing reachable (and 2 for an unusable plan or missing client certificate, as everywhere).
`--json` prints `ClusterHealth.to_json()` (schema documented there); with `--watch` it prints
one compact JSON document per line, per round, with an `events` list (what changed since the
round before: `at`, `kind`, `subject`, `text`). `--watch` redraws in place on a terminal and
appends one report per round when the output is piped; events print as lines above the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from hawizard import formatting as fmt
from hawizard.cli.output import console, fail, finite_seconds, load_plan, print_json

if TYPE_CHECKING:
    from hawizard.ops.status import StatusReport

# Every MemberState (hawizard.health) has its colour here, keyed by its word: the health
# model is imported by the command, not by every `hawizard` start that registers it.
_MEMBER_STYLE = {
    "healthy": "green",
    "learner": "cyan",
    "unhealthy": "red",
    "unreachable": "red",
    "not a member": "dim",
    "not in plan": "yellow",
}
_STATE_STYLE = {"healthy": "bold green", "degraded": "bold yellow", "quorum_lost": "bold red"}

# (header, header on a narrow terminal or "" to leave the column out there, justify, may wrap)
_COLUMNS = (
    ("endpoint", "", "left", False),
    ("name", "name", "left", False),
    ("id", "id", "left", False),
    ("version", "ver", "left", False),
    ("db size", "db", "right", False),
    ("leader", "lead", "center", False),
    ("learner", "", "center", False),
    ("raft term", "term", "right", False),
    ("raft index", "index", "right", False),
    ("health", "health", "left", False),
    ("latency", "rtt", "right", False),
    ("errors", "", "left", True),
)
WIDE = 150  # below this many columns, endpoint/learner/errors move out of the table


def register(sub: argparse._SubParsersAction) -> None:
    status = sub.add_parser(
        "status",
        help="health of every etcd member: leader, raft, DB size, quorum, certificates",
        description="Probe every etcd member of the plan directly over HTTPS with the "
        "operator's client certificate (etcd-admin). Exit 0 when healthy, 1 when degraded but "
        "with quorum, 2 when quorum is lost or nothing answers.",
    )
    status.add_argument("plan", help="plan file")
    status.add_argument("--json", action="store_true", help="machine-readable (stable schema)")
    status.add_argument(
        "--watch",
        type=_positive,
        metavar="SECONDS",
        help="probe again every SECONDS and redraw, until Ctrl-C",
    )
    status.add_argument(
        "--timeout",
        type=_positive,
        metavar="S",
        help="seconds each member may take in total (default: etcd.probe_timeout, 2)",
    )
    status.add_argument(
        "--ssh-fallback",
        action="store_true",
        help="reach members that do not answer directly through an SSH tunnel to their host "
        "(the table says which path answered)",
    )
    status.add_argument(
        "--record",
        action="store_true",
        help="with --watch: append every round to the plan's flight recorder "
        "(<plan>.record.sqlite; read it with `hawizard incident`)",
    )
    status.add_argument(
        "--etcd-only",
        action="store_true",
        help="ask etcd's members only (no apiservers, load balancer or backup record): "
        "the fast check for scripts that poll; same exit codes for etcd",
    )
    status.set_defaults(func=cmd_status)


def _positive(text: str) -> float:
    return finite_seconds(text)


def cmd_status(args: argparse.Namespace) -> int:
    from hawizard.etcd import probe

    plan = load_plan(args.plan)
    if plan is None:
        return 2
    if not plan.etcd_nodes:
        return fail("the plan has no etcd node", 'give 3 or 5 nodes the "etcd" role')
    tls = probe.ClientTLS.for_plan(plan)
    try:
        tls.context()
    except (OSError, ValueError) as exc:
        return fail(
            f"cannot use the operator's etcd client certificate ({tls.cert}): "
            f"{getattr(exc, 'strerror', None) or exc}",
            f"create it with: hawizard certs create {args.plan}",
        )

    def round_():
        from hawizard.ops.status import status_round

        ssh = probe.SshMode.FALLBACK if args.ssh_fallback else probe.SshMode.OFF
        return status_round(plan, args.timeout, tls=tls, ssh=ssh, etcd_only=args.etcd_only)

    if args.record and args.watch is None:
        return fail(
            "--record needs --watch SECONDS", f"e.g. hawizard status {args.plan} --watch 2 --record"
        )
    if args.record:
        from hawizard.ops.recording import open_store, record_report

        try:
            store = open_store(plan)
        except OSError as exc:
            return fail(f"cannot record: {exc.strerror or exc}")
        probe_only = round_

        def round_():
            report = probe_only()
            record_report(store, report)
            return report

    if args.watch is None:
        report = round_()
        if args.json:
            print_json(report.to_json())
        else:
            console.print(render(report, console.width))
        return report.exit_code
    return _watch(round_, args.watch, args.json)


def _watch(round_, every: float, as_json: bool) -> int:
    """Round after round until Ctrl-C; what changed between rounds (a new leader, a member
    going down, an alarm) is printed as event lines, the same events as the dashboard's pane."""
    from rich.live import Live

    from hawizard.health_history import History

    history = History()
    report = None

    def next_round() -> tuple[StatusReport, list]:
        current = round_()
        events = history.record(current.health)
        quota = max((m.quota_bytes for m in current.health.members), default=0)
        return replace(current, forecast=history.quota_forecast(quota)), events

    try:
        if as_json:
            while True:
                report, events = next_round()
                doc = {**report.to_json(), "events": [_event_json(e) for e in events]}
                sys.stdout.write(json.dumps(doc, sort_keys=True) + "\n")
                sys.stdout.flush()
                time.sleep(every)
        report, _ = next_round()
        if not console.is_terminal:  # piped or logged: Live would print only at the end
            while True:
                console.print(render(report, console.width))
                console.rule(style="dim")
                console.file.flush()
                time.sleep(every)
                report, events = next_round()
                _print_events(console, events)
        with Live(render(report, console.width), console=console, auto_refresh=False) as live:
            while True:
                time.sleep(every)
                report, events = next_round()
                _print_events(live.console, events)  # above the table, kept in scrollback
                live.update(render(report, console.width), refresh=True)
    except KeyboardInterrupt:
        pass
    return report.exit_code if report is not None else 130


def _event_json(event) -> dict:
    return {
        "at": event.at.isoformat(),
        "kind": event.kind.value,
        "subject": event.subject,
        "text": event.text,
    }


def _print_events(out, events) -> None:
    from rich.text import Text

    from hawizard.health_history import BAD_EVENTS, GOOD_EVENTS

    for e in events:
        style = "red" if e.kind in BAD_EVENTS else "green" if e.kind in GOOD_EVENTS else "cyan"
        out.print(Text(e.line(), style=style))


# --- rendering --------------------------------------------------------------------------------


def render(report: StatusReport, width: int = WIDE):
    """The banner, the member table (etcdctl's columns plus health and latency), the
    apiservers, the cert expiry table and the findings; one renderable so `--watch` can
    redraw it whole. On a narrow terminal the table keeps the essentials; every error is in
    the findings anyway."""
    from rich.console import Group
    from rich.text import Text

    health = report.health
    parts = [_banner(health), _members(health, width)]
    if report.apiservers:
        parts.append(_apiservers(report))
    if report.balancer is not None:
        parts.append(_balancer(report.balancer))
    parts.append(_certificates(health))
    if report.backup is not None:
        parts.append(_backup_line(report.backup))
    for o in getattr(report, "offsite", ()):
        parts.append(_offsite_line(o))
    if getattr(report, "drill", None) is not None:
        parts.append(_drill_line(report.drill))
    if report.maintenance:
        parts.append(_maintenance_line(report.maintenance))
    if report.forecast is not None:
        parts.append(Text(f"etcd {report.forecast.text()}", style="yellow"))
    lb = report.balancer
    for p in [*health.problems, *(lb.problems if lb is not None else ())]:
        parts.append(Text.from_markup(f"[red]•[/] {_esc(p)}"))
    for w in [*health.warnings, *(lb.warnings if lb is not None else ())]:
        parts.append(Text.from_markup(f"[yellow]•[/] {_esc(w)}"))
    return Group(*parts)


def _backup_line(age):
    from rich.text import Text

    from hawizard.etcd.backup import human_age

    style = {"ok": "green", "yellow": "yellow", "red": "bold red"}.get(age.state, "")
    when = "none" if age.age_s is None else f"{human_age(age.age_s)} ago"
    line = Text.from_markup(f"last verified backup: [{style}]{_esc(when)}[/]")
    for name in getattr(age, "refused", ()):
        line.append(f"\nrefused backup record (fails its signature): {name}", style="bold red")
    return line


def _offsite_line(o):
    """ "off-site ssh://…: 12 min ago": the RPO of one `[backup] targets` entry."""
    from rich.text import Text

    from hawizard.etcd.backup import human_age

    style = {"ok": "green", "yellow": "yellow", "red": "bold red"}.get(o.state, "")
    when = "none" if o.age_s is None else f"{human_age(o.age_s)} ago"
    return Text.from_markup(f"off-site {_esc(o.target)}: [{style}]{_esc(when)}[/]")


def _drill_line(d):
    """ "last restore drill: passed 2.0 h ago, RTO 3.1 s" (or failed, naming the file)."""
    from rich.text import Text

    from hawizard.etcd.backup import human_age

    j = d.to_json()
    when = "" if j["age_s"] is None else f" {human_age(j['age_s'])} ago"
    if j["ok"]:
        rto = f", RTO {j['rto_s']:.1f} s" if j["rto_s"] is not None else ""
        return Text.from_markup(f"last restore drill: [green]passed{_esc(when)}{rto}[/]")
    return Text.from_markup(
        f"last restore drill: [bold red]failed{_esc(when)}: {_esc(j['error'])}[/]"
    )


def _maintenance_line(last: dict):
    """ "last maintenance: defragmented 2026-12-04T03:04:11+00:00 (m1 412 → 98 MiB, ...)"."""
    from rich.text import Text

    outcome = str(last.get("outcome", "?"))
    style = {"defragmented": "green", "skipped": "dim", "refused": "yellow"}.get(outcome, "red")
    sizes = []
    for m in last.get("members") or ():
        if isinstance(m, dict) and isinstance(m.get("db_before"), int):
            after = m.get("db_after")
            tail = f" → {after / 1024**2:.0f}" if isinstance(after, int) else ""
            sizes.append(f"{m.get('name')} {m['db_before'] / 1024**2:.0f}{tail} MiB")
    text = Text("last maintenance: ")
    text.append(outcome, style=style)
    text.append(f" {last.get('at', '?')}" + (f" ({', '.join(sizes)})" if sizes else ""))
    if outcome != "defragmented" and last.get("reason"):
        text.append(f": {last['reason']}", style="dim")
    return text


def _banner(health):
    from rich.panel import Panel
    from rich.text import Text

    style = _STATE_STYLE[health.state.value]
    label = health.state.value.replace("_", " ").upper()
    text = Text.from_markup(f"[{style}]{label}[/]  {_esc(health.summary)}")
    text.append("\n" + " · ".join(health.details), style="dim")
    return Panel(text, border_style=style.split()[-1], expand=False)


def _members(health, width: int):
    from rich import box
    from rich.table import Table

    wide = width >= WIDE
    table = Table(
        title="etcd members",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    shown = [wide or bool(short) for _, short, *_ in _COLUMNS]
    for (header, short, justify, wrap), show in zip(_COLUMNS, shown, strict=True):
        if show:
            table.add_column(
                header if wide else short,
                justify=justify,  # type: ignore[arg-type]
                no_wrap=not wrap,
                overflow="fold",
            )
    for m in health.members:
        state, style = m.state.value, _MEMBER_STYLE[m.state]
        errors = "; ".join(e for e in (m.error, m.cert_problem) if e)
        via = f" via {m.path.value}" if m.path and m.path.value != "direct" else ""
        name = m.name + ("" if m.in_plan else " (not in plan)")
        if m.is_learner and not wide:
            name += " (learner)"
        cells = (
            m.endpoint.removeprefix("https://") or "-",
            name,
            m.id or "-",
            m.version or "-",
            fmt.size(m.db_size, "-"),
            "[bold]yes[/]" if m.is_leader else "no",
            "yes" if m.is_learner else "no",
            fmt.number(m.raft_term, "-"),
            fmt.number(m.raft_index, "-"),
            f"[{style}]{state}[/]",
            fmt.millis(m.rtt_ms, "-") + (via if m.rtt_ms is not None else ""),
            f"[red]{_esc(errors)}[/]" if errors else "",
        )
        table.add_row(*(c for c, show in zip(cells, shown, strict=True) if show))
    return table


_API_STYLE = {"ready": "green", "not ready": "yellow", "not live": "red"}


def _apiservers(report: StatusReport):
    from rich import box
    from rich.table import Table

    staged = "" if report.expect_running else " (staged: control_plane.start = false)"
    table = Table(
        title=f"kube-apiservers{staged}", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False
    )
    for col in ("node", "url", "state", "livez", "readyz", "latency"):
        table.add_column(col, no_wrap=True)
    table.add_column("failed checks / error", overflow="fold")
    for a in report.apiservers:
        style = _API_STYLE.get(a.state.value, "red" if report.expect_running else "dim")
        yes_no = {True: "ok", False: "failed", None: "-"}
        detail = "; ".join(a.failed_checks) or a.error
        table.add_row(
            a.node,
            a.url,
            f"[{style}]{a.state.value}[/]",
            yes_no[a.livez],
            yes_no[a.readyz],
            fmt.millis(a.latency_ms, "-"),
            _esc(detail),
        )
    return table


def _balancer(lb):
    """The load balancer table: one row per balancer node, the endpoint's answer in the title."""
    from rich import box
    from rich.table import Table

    answer = (
        f"[green]✔ answers TCP[/] ({lb.connect_ms:.1f} ms)"
        if lb.endpoint_ok
        else f"[red]✖ no TCP answer[/] ({_esc(lb.endpoint_error)})"
    )
    vip = f" · VIP held by {', '.join(lb.holders) or '[red]nobody[/]'}" if lb.vip else ""
    table = Table(
        title=f"load balancer ({lb.mode}) {_esc(lb.endpoint)}: {answer}{vip}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for col in ("node", "VIP", "keepalived", "haproxy"):
        table.add_column(col, no_wrap=True)
    table.add_column("backends / error", overflow="fold")
    styles = {"MASTER": "green", "BACKUP": "cyan", "active": "green"}
    for n in lb.nodes:
        if not n.reachable:
            table.add_row(n.node, "?", "?", "?", f"[red]✖ unreachable[/] {_esc(n.error)}")
            continue
        backends = " ".join(f"{_esc(name)}:{status}" for name, status in n.backends) or "-"
        ka, ha = n.keepalived, n.haproxy
        table.add_row(
            n.node,
            "[green]● holder[/]" if n.holds_vip else "-",
            f"[{styles.get(ka, 'yellow')}]{ka}[/]" if lb.vip else "-",
            f"[{styles.get(ha, 'red')}]{ha}[/]",
            backends,
        )
    return table


def _certificates(health):
    from rich import box
    from rich.table import Table

    table = Table(
        title="certificate expiry", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False
    )
    # One line per certificate at 80 columns too (a pipe's width): the name says whether it
    # is served ("lab-n1 (served)") or a local file, and a long CN is cut, not folded.
    for col in ("certificate", "CN", "expires", "days left"):
        table.add_column(col, no_wrap=True, overflow="ellipsis" if col == "CN" else "fold")
    for c in sorted(health.certificates, key=lambda c: (c.source != "served", c.name)):
        if c.expired:
            days = f"[bold red]{fmt.expired_ago(c.days_left)}[/]"
        elif c.expiring:
            days = f"[yellow]{c.days_left}[/]"
        else:
            days = f"[green]{c.days_left}[/]"
        table.add_row(_esc(c.name), _esc(c.common_name), f"{c.not_after:%Y-%m-%d}", days)
    return table


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)
