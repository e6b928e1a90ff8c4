"""How each item of the production checklist is judged, from what was gathered.

One function per item, each pure (gathered facts in, `Item` out) so every verdict can be tested
with recorded answers, and `hawizard.ops.check` only gathers. A verdict is ✔ ok, ▲ warn,
✖ fail or ? unknown (hawizard could not tell, or the item is outside what it deploys).
"""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from hawizard.plan import Plan, quorum, tolerance
from hawizard.readiness.facts import (
    NodeFacts,
    parse_clock,
    parse_etcd_config,
    parse_journal,
    parse_kept_aside,
    parse_updates,
    unit_flags,
)

RENEW_DAYS = 30
BACKUP_MAX_AGE = dt.timedelta(hours=24)
MAX_SKEW_S = 0.5  # etcd's peers warn from 1 s; stay well below


class Verdict(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"

    @property
    def symbol(self) -> str:
        return {"ok": "✔", "warn": "▲", "fail": "✖", "unknown": "?"}[self.value]

    @property
    def rank(self) -> int:
        return {"ok": 0, "unknown": 1, "warn": 2, "fail": 3}[self.value]


@dataclass(frozen=True)
class Item:
    number: int
    key: str
    title: str
    verdict: Verdict
    evidence: tuple[str, ...]
    fix: str = ""  # a command, a plan field or a pointer; empty when ✔

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "key": self.key,
            "title": self.title,
            "verdict": self.verdict.value,
            "symbol": self.verdict.symbol,
            "evidence": list(self.evidence),
            "fix": self.fix,
        }


def worst(verdicts: Sequence[Verdict]) -> Verdict:
    return max(verdicts, key=lambda v: v.rank, default=Verdict.OK)


def exit_code(items: Sequence[Item]) -> int:
    """0 all ✔ (unknowns included), 1 any ▲, 2 any ✖."""
    verdicts = {i.verdict for i in items}
    return 2 if Verdict.FAIL in verdicts else 1 if Verdict.WARN in verdicts else 0


class _Findings:
    """Evidence lines, each with the verdict it alone would give; the item takes the worst."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.verdicts: list[Verdict] = []
        self.fixes: list[str] = []

    def add(self, verdict: Verdict, line: str, fix: str = "") -> None:
        self.lines.append(f"{verdict.symbol} {line}")
        self.verdicts.append(verdict)
        if fix and verdict is not Verdict.OK and fix not in self.fixes:
            self.fixes.append(fix)

    def item(self, number: int, key: str, title: str) -> Item:
        # A line hawizard could not judge does not hide what it could: the item is unknown
        # only when nothing else was found (its "?" line stays in the evidence).
        known = [v for v in self.verdicts if v is not Verdict.UNKNOWN]
        verdict = worst(known) if known else Verdict.UNKNOWN
        return Item(number, key, title, verdict, tuple(self.lines), "; ".join(self.fixes))


def _unread(f: _Findings, facts: Mapping[str, NodeFacts], names: Sequence[str]) -> list[str]:
    """Nodes that could not be read; each gets an unknown line. Returns the readable ones."""
    readable = []
    for name in names:
        nf = facts.get(name)
        if nf is None or not nf.ok:
            f.add(Verdict.UNKNOWN, f"{name}: not read ({nf.error if nf else 'not asked'})")
        else:
            readable.append(name)
    return readable


# --- 1. etcd topology --------------------------------------------------------------------------


@dataclass(frozen=True)
class TLSProbe:
    """A connection to a member's port *without* a client certificate: refused means enforced."""

    client_refused: bool | None  # None: the port did not answer at all
    peer_refused: bool | None
    detail: str = ""


def etcd_topology(
    plan: Plan,
    health: Any,  # hawizard.health.ClusterHealth | None
    facts: Mapping[str, NodeFacts],
    tls: Mapping[str, TLSProbe],
    growth: Any = None,  # hawizard.forecast.QuotaForecast | None: the in-use size's trend
) -> Item:
    f = _Findings()
    members = plan.etcd_nodes
    n = len(members)
    apply_fix = f"hawizard apply {_plan_arg(plan)}"
    if n >= 3 and n % 2:
        f.add(
            Verdict.OK,
            f"{n} members: quorum {quorum(n)}, tolerates {tolerance(n)} failure"
            f"{'s' if tolerance(n) != 1 else ''}"
            + ("; 5 members are recommended for large clusters" if n == 3 else ""),
        )
    elif n == 0:
        f.add(Verdict.FAIL, "no etcd member in the plan", 'give 3 nodes the "etcd" role')
    elif n < 3:
        f.add(
            Verdict.FAIL,
            f"{n} member{'s' if n > 1 else ''}: no failure tolerated",
            "run 3 (or 5) members: add nodes with the etcd role, then hawizard etcd add",
        )
    else:
        f.add(
            Verdict.WARN,
            f"{n} members (even): tolerates {tolerance(n)}, as many as {n - 1} would",
            f"run an odd number of members: hawizard etcd remove PLAN NODE or add one to {n + 1}",
        )
    ids: dict[str, str] = {}
    for m in members:
        nf = facts.get(m.name)
        mid = nf.sections.get("machine_id", "") if nf and nf.ok else ""
        if mid and mid in ids:
            f.add(
                Verdict.FAIL,
                f"{m.name} and {ids[mid]} are the same machine (machine-id {mid[:8]}…)",
                "put every member on its own host",
            )
        elif mid:
            ids[mid] = m.name
    if len(ids) == n and n:
        f.add(Verdict.OK, f"members on {n} distinct hosts (machine-id)")
    if health is not None:
        down = [m for m in health.members if m.in_plan and not m.healthy]
        for m in down:
            verdict = Verdict.WARN if health.quorum_ok else Verdict.FAIL
            f.add(
                verdict,
                f"member {m.name} is down: {m.error or 'unhealthy'}",
                f"hawizard status {_plan_arg(plan)}; bring {m.name} back or "
                f"hawizard etcd replace {_plan_arg(plan)} {m.name} NEW",
            )
        if not health.quorum_ok:
            f.add(Verdict.FAIL, f"quorum lost: {health.summary}", "see hawizard status")
        elif not down:
            f.add(
                Verdict.OK,
                f"{health.healthy_count}/{health.member_count} members healthy, "
                f"leader {health.leader_name or '?'}",
            )
        _backend_space(f, plan, health, growth)
    for m in members:
        nf = facts.get(m.name)
        if nf is None or not nf.ok:
            continue
        conf = parse_etcd_config(nf.sections.get("etcd_config", ""))
        if conf is None:
            f.add(Verdict.FAIL, f"{m.name}: no etcd config file", apply_fix)
            continue
        bad = []
        if not (conf.client_tls and conf.client_cert_auth):
            bad.append("client TLS with client-cert-auth off")
        if not (conf.peer_tls and conf.peer_cert_auth):
            bad.append("peer TLS with client-cert-auth off")
        if not conf.urls_https:
            bad.append("a plain-HTTP client or peer URL")
        if bad:
            f.add(Verdict.FAIL, f"{m.name} config: {', '.join(bad)}", apply_fix)
    configs_ok = all(
        (c := parse_etcd_config(facts[m.name].sections.get("etcd_config", ""))) is not None
        and c.client_cert_auth
        and c.peer_cert_auth
        and c.urls_https
        for m in members
        if m.name in facts and facts[m.name].ok
    )
    read = [m.name for m in members if m.name in facts and facts[m.name].ok]
    if read and configs_ok:
        f.add(Verdict.OK, f"live config on {', '.join(read)}: client and peer mTLS")
    unread = [m.name for m in members if m.name not in read]
    for name in unread:
        nf = facts.get(name)
        f.add(Verdict.UNKNOWN, f"{name}: config not read ({nf.error if nf else 'not asked'})")
    for m in members:
        probe = tls.get(m.name)
        if probe is None:
            continue
        for port, refused in (("client", probe.client_refused), ("peer", probe.peer_refused)):
            if refused is False:
                f.add(
                    Verdict.FAIL,
                    f"{m.name} {port} port accepted a client without a certificate",
                    apply_fix,
                )
    enforced = [m.name for m in members if (p := tls.get(m.name)) and p.client_refused]
    if enforced:
        f.add(Verdict.OK, f"no certificate → refused by {', '.join(enforced)}")
    return f.item(1, "etcd", "etcd topology")


# Fragmentation worth a defragmentation: a DB of at least this size, less than half in use.
FRAGMENTED_MIN_BYTES = 100 * 1024**2
FRAGMENTED_IN_USE = 0.5
QUOTA_WARN = 0.75  # the DB's share of the quota that earns a warning (as the dashboard's ▲)


QUOTA_FORECAST_WARN_DAYS = 7.0  # a forecast nearer than this earns a warning


def _backend_space(f: _Findings, plan: Plan, health: Any, growth: Any = None) -> None:
    """NOSPACE, the quota, its forecast and fragmentation, each with the command that fixes
    it."""
    defrag = f"hawizard etcd defrag {_plan_arg(plan)}"
    quota = plan.etcd.quota_backend_bytes
    if growth is not None and growth.days_left < QUOTA_FORECAST_WARN_DAYS:
        f.add(
            Verdict.WARN,
            f"{growth.text()} (the {quota / 1024**2:.0f} MiB quota; fit over "
            f"{growth.points} maintenance readings)",
            f"{defrag} frees only history: if the live data keeps growing, raise "
            "etcd.quota_backend_bytes and hawizard apply",
        )
    if "NOSPACE" in health.alarms:
        f.add(
            Verdict.FAIL,
            "NOSPACE alarm: etcd refuses every write (the backend reached its quota)",
            f"{defrag} (compacts, defragments, disarms); if the live data is that big, raise "
            "etcd.quota_backend_bytes and hawizard apply",
        )
    for m in health.members:
        if not m.in_plan or m.db_size is None:
            continue
        mib = m.db_size / 1024**2
        if m.db_size >= QUOTA_WARN * quota:
            f.add(
                Verdict.WARN,
                f"{m.name}: DB {mib:.0f} MiB is {100 * m.db_size / quota:.0f} % of the "
                f"{quota / 1024**2:.0f} MiB quota (NOSPACE at 100 %)",
                f"{defrag}; or raise etcd.quota_backend_bytes",
            )
        in_use = m.db_size_in_use
        if (
            in_use is not None
            and m.db_size >= FRAGMENTED_MIN_BYTES
            and in_use < FRAGMENTED_IN_USE * m.db_size
        ):
            f.add(
                Verdict.WARN,
                f"{m.name}: {100 * (1 - in_use / m.db_size):.0f} % of its {mib:.0f} MiB DB "
                "is free pages (fragmented)",
                defrag,
            )


# --- 2. control plane ------------------------------------------------------------------------


def control_plane(
    plan: Plan,
    facts: Mapping[str, NodeFacts],
    balancer: Any = None,  # hawizard.balancer.probe.BalancerHealth | None: the live endpoint
) -> Item:
    f = _Findings()
    masters = plan.control_plane_nodes
    if not masters:
        f.add(Verdict.UNKNOWN, "no control-plane node in the plan")
        return f.item(2, "control_plane", "Control plane")
    if len(masters) >= 2:
        f.add(Verdict.OK, f"{len(masters)} masters: {', '.join(m.name for m in masters)}")
    else:
        f.add(
            Verdict.WARN,
            f"one master ({masters[0].name}): no apiserver survives its loss",
            'give a second node the "control-plane" role, then hawizard apply',
        )
    lb = plan.control_plane.load_balancer if plan.balancer_mode == "single" else ""
    if plan.balancer_mode == "single" and not lb and plan.balancer_nodes:
        lb = plan.balancer_nodes[0].name
    ep = plan.cluster.control_plane_endpoint or "(none: the first master)"
    if not plan.cluster.control_plane_endpoint:
        f.add(
            Verdict.WARN,
            "no load-balanced endpoint",
            "set cluster.control_plane_endpoint to a load balancer",
        )
    elif lb:
        f.add(
            Verdict.WARN,
            f"endpoint {ep}: haproxy on one node ({lb}) is a single point of failure",
            "run the balancer on several nodes behind a virtual IP",
        )
    elif plan.balancer_mode == "vip":
        names = [b.name for b in plan.balancer_nodes]
        f.add(
            Verdict.OK if len(names) >= 2 else Verdict.WARN,
            f"endpoint {ep}: a virtual IP over haproxy on {', '.join(names) or 'no node'} "
            f"(survives the loss of {max(len(names) - 1, 0)})",
            "" if len(names) >= 2 else "list two or more nodes in load_balancer.nodes",
        )
    else:
        f.add(Verdict.OK, f"endpoint {ep}: external load balancer (not checked by hawizard)")
    if balancer is not None:
        _balancer_lines(f, plan, balancer)
    fix = f"hawizard apply {_plan_arg(plan)} --only control-plane"
    for name in _unread(f, facts, [m.name for m in masters]):
        sec = facts[name].sections
        unit = sec.get("apiserver_unit", "")
        if not unit:
            f.add(Verdict.FAIL, f"{name}: no kube-apiserver unit", fix)
            continue
        flags = unit_flags(unit)
        problems = []
        modes = set(flags.get("authorization-mode", "").split(","))
        if not {"Node", "RBAC"} <= modes:
            problems.append(f"--authorization-mode={flags.get('authorization-mode', '(unset)')}")
        if not flags.get("audit-log-path") or not flags.get("audit-policy-file"):
            problems.append("no audit log")
        if not flags.get("encryption-provider-config"):
            problems.append("no encryption at rest")
        servers = flags.get("etcd-servers", "")
        if not servers or "http://" in servers or not flags.get("etcd-certfile"):
            problems.append("etcd not over mTLS")
        if problems:
            f.add(Verdict.FAIL, f"{name}: {', '.join(problems)}", fix)
        else:
            f.add(
                Verdict.OK,
                f"{name}: Node,RBAC, audit log, encryption at rest, etcd over mTLS "
                f"(kube-apiserver {sec.get('apiserver_active', '?')})",
            )
        if flags.get("anonymous-auth") != "false":
            f.add(
                Verdict.WARN,
                f"{name}: anonymous requests allowed (RBAC limits them to health/version; "
                "the balancer's /healthz check uses them)",
                "Kubernetes ≥ 1.32: limit anonymous access to /healthz, /livez, /readyz with "
                "an AuthenticationConfiguration (anonymous.conditions)",
            )
    return f.item(2, "control_plane", "Control plane")


def _balancer_lines(f: _Findings, plan: Plan, b: Any) -> None:
    """What the balancer probe saw live: who holds the VIP, whether the endpoint answers."""
    fix = f"hawizard status {_plan_arg(plan)} (the load-balancer table)"
    for problem in b.problems:
        f.add(Verdict.FAIL, f"balancer: {problem}", fix)
    for warning in b.warnings:
        f.add(Verdict.WARN, f"balancer: {warning}", fix)
    if not b.problems:
        seen = f"endpoint {b.endpoint} answers" if b.endpoint_ok else ""
        if b.vip:
            holders = ", ".join(b.holders) or "nobody"
            seen += f"{'; ' if seen else ''}VIP {b.vip} held by {holders}"
        if seen:
            f.add(Verdict.OK, seen)


# --- 3. authentication -----------------------------------------------------------------------


def authentication(plan: Plan, facts: Mapping[str, NodeFacts]) -> Item:
    f = _Findings()
    o = plan.control_plane.oidc
    masters = plan.control_plane_nodes
    if not masters:
        f.add(Verdict.UNKNOWN, "no control-plane node in the plan")
        return f.item(3, "auth", "Authentication")
    if o is None:
        f.add(
            Verdict.WARN,
            "client certificates only: no external identity provider",
            "add [control_plane.oidc] (issuer_url, client_id, username_claim, groups_claim) "
            "to the plan and run hawizard apply --only control-plane",
        )
        return f.item(3, "auth", "Authentication")
    f.add(Verdict.OK, f"plan: OIDC issuer {o.issuer_url}, client {o.client_id}")
    for name in _unread(f, facts, [m.name for m in masters]):
        flags = unit_flags(facts[name].sections.get("apiserver_unit", ""))
        if flags.get("oidc-issuer-url") == o.issuer_url:
            f.add(Verdict.OK, f"{name}: --oidc-issuer-url set")
        else:
            f.add(
                Verdict.WARN,
                f"{name}: the running unit has no --oidc-issuer-url={o.issuer_url}",
                f"hawizard apply {_plan_arg(plan)} --only control-plane",
            )
    return f.item(3, "auth", "Authentication")


# --- 4. certificates -------------------------------------------------------------------------


def certificates(health: Any, served: Sequence[Any] = ()) -> Item:
    """`health.certificates` (local PKI + what etcd members serve) and `served`: more
    certificates seen in handshakes (each apiserver's), as `health.CertExpiry` rows."""
    f = _Findings()
    certs = (list(health.certificates) if health is not None else []) + list(served)
    if not certs:
        f.add(Verdict.UNKNOWN, "no certificate could be read")
        return f.item(4, "certificates", "Certificates")
    fix = "hawizard certs create PLAN --renew, then hawizard apply PLAN"
    for c in sorted(certs, key=lambda c: c.days_left):
        if c.days_left < 0:
            f.add(Verdict.FAIL, f"{c.name} ({c.source}) expired {-c.days_left} days ago", fix)
        elif c.days_left <= RENEW_DAYS:
            f.add(Verdict.WARN, f"{c.name} ({c.source}) expires in {c.days_left} days", fix)
    if not any(v is not Verdict.OK for v in f.verdicts):
        soonest = min(certs, key=lambda c: c.days_left)
        local = sum(c.source == "local" for c in certs)
        served = len(certs) - local
        f.add(
            Verdict.OK,
            f"{local} local and {served} served certificates; soonest {soonest.name} "
            f"in {soonest.days_left} days",
        )
    return f.item(4, "certificates", "Certificates")


# --- 5. backups ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backup:
    path: Path
    taken_at: dt.datetime
    verified: bool  # the file's sha256 matches its record, and etcdutl read its revision
    revision: int | None = None


def backups(
    plan: Plan,
    found: Sequence[Backup],
    now: dt.datetime,
    facts: Mapping[str, NodeFacts] | None = None,
    offsite: Sequence[Any] = (),
) -> Item:
    """`offsite`: `etcd.backup.OffsiteAge` per `[backup] targets` entry (the off-site RPO
    against the plan's `every`: ▲ past 2x, ✖ past 4x or when nothing was copied there)."""
    f = _Findings()
    fix = f"hawizard etcd snapshot {_plan_arg(plan)} (and schedule it)"
    good = sorted((b for b in found if b.verified), key=lambda b: b.taken_at)
    if not found:
        f.add(Verdict.FAIL, "no snapshot found", fix)
    elif not good:
        f.add(Verdict.FAIL, f"{len(found)} snapshot(s), none verified", fix)
    else:
        last = good[-1]
        age = now - last.taken_at
        hours = age.total_seconds() / 3600
        line = f"latest verified snapshot {last.path.name}, {hours:.1f} h old"
        if last.revision is not None:
            line += f", revision {last.revision}"
        if age <= BACKUP_MAX_AGE:
            f.add(Verdict.OK, line)
        else:
            f.add(
                Verdict.WARN,
                line + f" (older than {BACKUP_MAX_AGE.total_seconds() / 3600:.0f} h)",
                fix,
            )
    run = f"hawizard etcd backup run {_plan_arg(plan)} (and schedule it)"
    for o in offsite:
        if o.age_s is None:
            f.add(Verdict.FAIL, f"off-site {o.target}: no verified copy yet", run)
        else:
            line = f"off-site {o.target}: newest copy {o.file}, {o.age_s / 3600:.1f} h old"
            verdict = {"ok": Verdict.OK, "yellow": Verdict.WARN}.get(o.state, Verdict.FAIL)
            if verdict is Verdict.OK:
                f.add(verdict, line)
            else:
                f.add(verdict, line + " (older than the schedule allows)", run)
    _kept_aside(f, facts or {})
    return f.item(5, "backups", "Backups")


def _kept_aside(f: _Findings, facts: Mapping[str, NodeFacts]) -> None:
    """Old data dirs kept aside on the nodes (full copies of the keyspace: listed with their
    size and the command that prunes them, never removed by hawizard), and scratch files a
    killed run left (swept by the next snapshot or restore; ▲ until then)."""
    for name, nf in sorted(facts.items()):
        for path, kib in parse_kept_aside(nf.sections.get("kept_aside", "")):
            size = f"{kib / 1024:.1f} MiB" if kib >= 1024 else f"{kib} KiB"
            prune = f"ssh {name} sudo rm -rf -- {shlex.quote(path)}"
            if path.startswith(("/var/lib/hawizard/tmp/", "/var/tmp/hawizard-")):
                f.add(
                    Verdict.WARN,
                    f"{name}: {path} ({size}) left by a killed or disconnected run",
                    f"the next `hawizard etcd snapshot` sweeps it, or: {prune}",
                )
            else:
                f.add(
                    Verdict.OK,
                    f"{name}: old data dir kept aside {path} ({size}); "
                    f"prune it once the cluster is sound: {prune}",
                )


# --- 6. monitoring ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricsProbe:
    ok: bool
    detail: str  # "etcd_server_has_leader 1" or the error
    skipped: bool = False  # not scraped (e.g. an apiserver that is not running)
    served_cert: Any = None  # pki.CertInfo the server presented (apiservers), if any


def monitoring(
    plan: Plan,
    etcd_metrics: Mapping[str, MetricsProbe],
    apiserver_metrics: Mapping[str, MetricsProbe],
    target_list: str | None,
    exposure: Any = None,
) -> Item:
    """`exposure`: `ops.metrics_exposure.MetricsExposure`, the metrics ports other nodes
    (not scrapers) reached; any is a ✖ (unauthenticated metrics, and etcd's /health)."""
    f = _Findings()
    _exposure_lines(f, plan, exposure)
    for m in plan.etcd_nodes:
        p = etcd_metrics.get(m.name)
        if p is None:
            f.add(Verdict.UNKNOWN, f"{m.name}: metrics not asked")
        elif p.ok:
            f.add(Verdict.OK, f"{m.name} :{plan.etcd.metrics_port}/metrics answers ({p.detail})")
        else:
            f.add(
                Verdict.FAIL,
                f"{m.name} :{plan.etcd.metrics_port}/metrics: {p.detail}",
                f"bring {m.name}'s etcd back (hawizard status {_plan_arg(plan)})",
            )
    for name, p in apiserver_metrics.items():
        if p.skipped:
            f.add(Verdict.UNKNOWN, f"{name} apiserver /metrics not scraped: {p.detail}")
        elif p.ok:
            f.add(Verdict.OK, f"{name} apiserver /metrics answers with the monitoring cert")
        else:
            f.add(
                Verdict.WARN,
                f"{name} apiserver /metrics: {p.detail}",
                "kubectl apply -f DIR/monitoring-rbac.yaml (from hawizard monitoring export)",
            )
    if target_list:
        f.add(Verdict.OK, f"Prometheus targets: {target_list}")
    else:
        f.add(
            Verdict.WARN,
            "no Prometheus target list",
            f"hawizard monitoring export {_plan_arg(plan)} (or [monitoring] install = true)",
        )
    return f.item(6, "monitoring", "Monitoring")


def _exposure_lines(f: _Findings, plan: Plan, exposure: Any) -> None:
    if exposure is None:
        return
    fix = (
        f"hawizard apply {_plan_arg(plan)}: the nodes' firewall lets only "
        "monitoring.prometheus_node, monitoring.scrape_from and the applying machine in"
    )
    for e in exposure.open:
        f.add(
            Verdict.FAIL,
            f"{e.node} :{e.port} (metrics, unauthenticated) answers {e.reached_from}, "
            "which is not a scraper",
            fix,
        )
    for error in exposure.errors:
        f.add(Verdict.UNKNOWN, f"metrics exposure not tried from {error}")
    if exposure.tried and not exposure.open:
        f.add(
            Verdict.OK,
            f"metrics ports refused to the other nodes ({exposure.tried} attempts, none answered)",
        )


# --- 7. logs ---------------------------------------------------------------------------------


def logs(plan: Plan, facts: Mapping[str, NodeFacts]) -> Item:
    f = _Findings()
    readable = _unread(f, facts, [n.name for n in plan.nodes])
    volatile, uncapped, unforwarded = [], [], []
    for name in readable:
        j = parse_journal(facts[name].sections)
        if not j.persistent:
            volatile.append(f"{name} (Storage={j.storage})")
        if not j.max_use:
            uncapped.append(name)
        if not j.forwarders:
            unforwarded.append(name)
    if volatile:
        f.add(
            Verdict.WARN,
            f"journal lost at reboot on {', '.join(volatile)}",
            "set Storage=persistent in /etc/systemd/journald.conf (or mkdir /var/log/journal)",
        )
    if uncapped:
        f.add(
            Verdict.WARN,
            f"no SystemMaxUse= on {', '.join(uncapped)} (journald's default: 10 % of the "
            "filesystem, at most 4 GiB)",
            "set SystemMaxUse= (e.g. 1G) in /etc/systemd/journald.conf.d/",
        )
    if unforwarded:
        f.add(
            Verdict.WARN,
            f"no log forwarder active on {', '.join(unforwarded)}",
            "ship logs off the nodes (systemd-journal-upload, rsyslog, vector, fluent-bit…)",
        )
    done = [n for n in readable if not any(n in x for x in (*volatile, *uncapped, *unforwarded))]
    if done:
        f.add(Verdict.OK, f"persistent, capped and forwarded on {', '.join(done)}")
    return f.item(7, "logs", "Logs")


# --- 8. OS patching --------------------------------------------------------------------------


def patching(plan: Plan, facts: Mapping[str, NodeFacts]) -> Item:
    f = _Findings()
    for name in _unread(f, facts, [n.name for n in plan.nodes]):
        u = parse_updates(facts[name].sections)
        if u.error or u.pending is None:
            f.add(Verdict.UNKNOWN, f"{name}: {u.error or 'updates not read'}")
            continue
        sec = "?" if u.security is None else str(u.security)
        kernel = (
            f"kernel {u.kernel_running}"
            + (f", newest installed {u.kernel_newest}" if u.kernel_newest else "")
            + (" (no kernel image installed: a container?)" if not u.kernel_newest else "")
        )
        line = f"{name} ({u.family}): {u.pending} pending, {sec} security; {kernel}"
        if u.family == "apt" and u.index_age_s is None:
            f.add(
                Verdict.WARN,
                f"{name}: no apt package index, so {u.pending} pending means nothing",
                "apt-get update on the node (from its mirror or a local repository)",
            )
        elif u.family == "apt" and u.index_age_s > 7 * 86400:
            line += f"; package index {u.index_age_s // 86400} days old"
        upgrade = "apt-get upgrade" if u.family == "apt" else f"{u.family} upgrade --security"
        if u.security:
            f.add(Verdict.WARN, line, f"install the security updates ({upgrade})")
        else:
            f.add(Verdict.OK, line)
        if u.needs_reboot:
            f.add(
                Verdict.WARN,
                f"{name}: reboot needed (running {u.kernel_running})",
                "reboot the node, one member at a time (hawizard status between)",
            )
        if u.unattended is False:
            auto = (
                "apt-get install unattended-upgrades; dpkg-reconfigure -plow unattended-upgrades"
                if u.family == "apt"
                else "dnf install dnf-automatic; systemctl enable --now dnf-automatic-install.timer"
            )
            f.add(Verdict.WARN, f"{name}: automatic security updates off", auto)
    return f.item(8, "patching", "OS patching")


# --- 9. clock --------------------------------------------------------------------------------


def clock(plan: Plan, facts: Mapping[str, NodeFacts]) -> Item:
    f = _Findings()
    offsets: dict[str, float] = {}
    for name in _unread(f, facts, [n.name for n in plan.nodes]):
        nf = facts[name]
        c = parse_clock(nf.sections)
        container = nf.sections.get("container", "none") not in ("none", "")
        if container and not c.ntp_synchronized:
            f.add(
                Verdict.OK,
                f"{name} is a {nf.sections['container']} container: its clock is the host's "
                "kernel clock (time sync is the host's job; judged by skew below)",
            )
        elif c.ntp_synchronized is None:
            f.add(Verdict.UNKNOWN, f"{name}: timedatectl gave no NTPSynchronized")
        elif not c.ntp_synchronized:
            f.add(
                Verdict.FAIL,
                f"{name}: clock not NTP-synchronised (NTP={c.ntp_service or '?'})",
                "enable time sync: timedatectl set-ntp true (systemd-timesyncd or chrony)",
            )
        if nf.clock_offset_s is not None:
            offsets[name] = nf.clock_offset_s
    synced = [n for n in facts if facts[n].ok and parse_clock(facts[n].sections).ntp_synchronized]
    if synced:
        f.add(Verdict.OK, f"NTP synchronised on {', '.join(synced)}")
    if len(offsets) >= 1:
        spread = max(offsets.values()) - min(offsets.values()) if len(offsets) > 1 else 0.0
        far = max(offsets, key=lambda k: abs(offsets[k]))
        line = (
            f"skew between nodes {spread * 1000:.0f} ms; largest offset from this machine "
            f"{far} {offsets[far] * 1000:+.0f} ms"
        )
        if spread > MAX_SKEW_S:
            f.add(Verdict.FAIL, line, "fix time sync on the nodes that drift")
        else:
            f.add(Verdict.OK, line)
    return f.item(9, "clock", "Clock")


# --- 10, 11. outside what hawizard deploys ---------------------------------------------------

# CNIs whose own agent enforces Kubernetes NetworkPolicy, and ones that do not.
POLICY_CNIS = {"calico", "cilium", "antrea", "kube-router", "weave", "canal", "kube-ovn"}
NO_POLICY_CNIS = {"flannel", "bridge", "kindnet", "host-local", "ptp", "macvlan"}


def image_scanning(plan: Plan) -> Item:
    f = _Findings()
    f.add(
        Verdict.UNKNOWN,
        "outside what hawizard deploys: images run by the cluster are not seen from here",
        "scan images in CI and in the registry (Trivy, Grype) and admit only scanned ones "
        "(Kyverno or Gatekeeper policy)",
    )
    return f.item(10, "image_scanning", "Image scanning")


def network_policy(plan: Plan) -> Item:
    f = _Findings()
    cni = plan.cluster.cni
    if not cni:
        f.add(
            Verdict.UNKNOWN,
            "the plan does not say which CNI the cluster runs",
            "choose a CNI that enforces NetworkPolicy (calico, cilium) and set [cluster] "
            'cni = "…" in the plan',
        )
    elif cni in POLICY_CNIS:
        f.add(Verdict.OK, f"{cni} enforces NetworkPolicy (write default-deny policies)")
    elif cni in NO_POLICY_CNIS:
        f.add(
            Verdict.WARN,
            f"{cni} does not enforce NetworkPolicy: policies are accepted and ignored",
            "switch to a CNI that enforces NetworkPolicy (calico, cilium), or canal on flannel",
        )
    else:
        f.add(
            Verdict.UNKNOWN,
            f"hawizard does not know whether {cni} enforces NetworkPolicy",
            "check the CNI's documentation for NetworkPolicy support",
        )
    return f.item(11, "network_policy", "Network policy")


def _plan_arg(plan: Plan) -> str:
    return str(plan.source) if plan.source is not None else "PLAN"


__all__ = [
    "Backup",
    "Item",
    "MetricsProbe",
    "TLSProbe",
    "Verdict",
    "authentication",
    "backups",
    "certificates",
    "clock",
    "control_plane",
    "etcd_topology",
    "exit_code",
    "image_scanning",
    "logs",
    "monitoring",
    "network_policy",
    "patching",
    "worst",
]
