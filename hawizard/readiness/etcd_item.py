"""Item 1 of the checklist, etcd topology: member count, distinct hosts, health, backend space,
and client/peer mTLS as configured on the nodes and as enforced on the wire.

Pure, like every item: the facts, the health round and the TLS probes come in from
`hawizard.ops.check`; one `Item` goes out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hawizard.plan import Node, Plan, quorum, tolerance
from hawizard.readiness.facts import NodeFacts, parse_etcd_config
from hawizard.readiness.verdict import Findings, Item, Verdict, plan_arg

# Fragmentation worth a defragmentation: a DB of at least this size, less than half in use.
FRAGMENTED_MIN_BYTES = 100 * 1024**2
FRAGMENTED_IN_USE = 0.5
QUOTA_WARN = 0.75  # the DB's share of the quota that earns a warning (as the dashboard's ▲)


QUOTA_FORECAST_WARN_DAYS = 7.0  # a forecast nearer than this earns a warning


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
    f = Findings()
    members = plan.etcd_nodes
    apply_fix = f"hawizard apply {plan_arg(plan)}"
    _member_count(f, len(members))
    _distinct_hosts(f, members, facts)
    if health is not None:
        _health_lines(f, plan, health)
        _backend_space(f, plan, health, growth)
    _config_lines(f, members, facts, apply_fix)
    _tls_lines(f, members, tls, apply_fix)
    return f.item(1, "etcd", "etcd topology")


def _member_count(f: Findings, n: int) -> None:
    """Odd and at least 3: what quorum needs to survive a failure."""
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


def _distinct_hosts(f: Findings, members: Sequence[Node], facts: Mapping[str, NodeFacts]) -> None:
    """Two members on one machine (same machine-id) fail together: quorum in name only."""
    n = len(members)
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


def _health_lines(f: Findings, plan: Plan, health: Any) -> None:
    """Members down (▲ while quorum holds, ✖ without it) and quorum itself."""
    down = [m for m in health.members if m.in_plan and not m.healthy]
    for m in down:
        verdict = Verdict.WARN if health.quorum_ok else Verdict.FAIL
        f.add(
            verdict,
            f"member {m.name} is down: {m.error or 'unhealthy'}",
            f"hawizard status {plan_arg(plan)}; bring {m.name} back or "
            f"hawizard etcd replace {plan_arg(plan)} {m.name} NEW",
        )
    if not health.quorum_ok:
        f.add(Verdict.FAIL, f"quorum lost: {health.summary}", "see hawizard status")
    elif not down:
        f.add(
            Verdict.OK,
            f"{health.healthy_count}/{health.member_count} members healthy, "
            f"leader {health.leader_name or '?'}",
        )


def _config_lines(
    f: Findings, members: Sequence[Node], facts: Mapping[str, NodeFacts], apply_fix: str
) -> None:
    """The live etcd config on each node: client and peer TLS with client-cert-auth, https."""
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


def _tls_lines(
    f: Findings, members: Sequence[Node], tls: Mapping[str, TLSProbe], apply_fix: str
) -> None:
    """What the wire said: a port that took a client without a certificate is a ✖."""
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


def _backend_space(f: Findings, plan: Plan, health: Any, growth: Any = None) -> None:
    """NOSPACE, the quota, its forecast and fragmentation, each with the command that fixes
    it."""
    defrag = f"hawizard etcd defrag {plan_arg(plan)}"
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
