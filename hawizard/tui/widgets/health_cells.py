"""The dashboard's cells: what each table shows for a member, an apiserver, a balancer node
and a certificate, as (text, mark) pairs. Pure: a health model in, cells out; the screen only
colours them. The words come from the health model (`MemberState`, `ApiserverState`), so the
CLI's `hawizard status` and the dashboard say the same thing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hawizard import formatting as fmt
from hawizard.health import QUOTA_WARN_PCT, MemberState
from hawizard.health_history import History, sparkline
from hawizard.tui.widgets.keyed_table import Cell
from hawizard.tui.widgets.status import SYMBOL, Mark

if TYPE_CHECKING:
    from hawizard.control_plane.probe import ApiserverHealth
    from hawizard.health import CertExpiry, MemberHealth

MEMBER_COLUMNS = (  # what matters first, so an 80-column terminal shows it with the trends
    ("member", "member"),
    ("health", "health"),
    ("leader", "leader"),
    ("latency", "latency"),
    ("lat_trend", "5 min"),
    ("rate", "proposals/s"),
    ("quota", "quota"),
    ("db", "DB size"),
    ("term", "term"),
    ("index", "index"),
    ("version", "version"),
    ("endpoint", "endpoint"),
)  # why a member is down is listed in full under the tables (`health.problems`)
SPARK = 8  # sparkline width in cells
API_COLUMNS = (
    ("master", "master"),
    ("url", "apiserver"),
    ("state", "state"),
    ("livez", "/livez"),
    ("readyz", "/readyz"),
    ("latency", "latency"),
    ("note", "note"),
)
API_STATE = {  # ApiserverState value -> mark; a staged (not started) control plane is no alarm
    "ready": (Mark.OK, "✔ ready"),
    "not ready": (Mark.WARN, "▲ not ready"),
    "not live": (Mark.BAD, "✖ not live"),
    "not running": (Mark.IDLE, "· not running"),
    "unreachable": (Mark.BAD, "✖ unreachable"),
    "error": (Mark.BAD, "✖ error"),
}
LB_COLUMNS = (
    ("node", "balancer node"),
    ("vip", "VIP"),
    ("keepalived", "keepalived"),
    ("haproxy", "haproxy"),
    ("backends", "backends (haproxy's view)"),
)
KEEPALIVED_MARK = {"MASTER": Mark.OK, "BACKUP": Mark.OK}
CERT_COLUMNS = (
    ("name", "certificate"),
    ("source", "source"),
    ("cn", "CN"),
    ("expires", "expires"),
    ("days", "days left"),
)
STATE_VIEW = {
    "healthy": (Mark.OK, "-ok", "✔ HEALTHY"),
    "degraded": (Mark.WARN, "-warn", "▲ DEGRADED"),
    "quorum_lost": (Mark.BAD, "-bad", "✖ QUORUM LOST"),
}

MEMBER_MARK = {  # every MemberState (hawizard.health) has its mark here; the words are its own
    MemberState.NOT_IN_PLAN: Mark.WARN,
    MemberState.NOT_A_MEMBER: Mark.IDLE,  # a planned node `a` can add
    MemberState.UNREACHABLE: Mark.BAD,
    MemberState.UNHEALTHY: Mark.BAD,
    MemberState.LEARNER: Mark.RUN,
    MemberState.HEALTHY: Mark.OK,
}


def member_cells(m: MemberHealth, history: History | None = None) -> dict[str, Cell]:
    """A member's row; an unreachable or unhealthy member's whole row is red. With `history`,
    sparklines of its latency and raft index rate over the last rounds."""
    mark = MEMBER_MARK[m.state]
    health = f"{SYMBOL[mark]} {m.state.value}"
    row = mark if mark is Mark.BAD else None
    return {
        "member": (m.name, row),
        "endpoint": (m.endpoint.removeprefix("https://") or "—", row),  # always TLS
        "health": (health, mark),
        "leader": ("★ leader" if m.is_leader else "", row),
        "term": (fmt.number(m.raft_term), row),
        "index": (fmt.number(m.raft_index), row),
        "db": (fmt.size(m.db_size), row),
        "version": (m.version or "—", row),
        "latency": (fmt.millis(m.rtt_ms), row),
        **trend_cells(m, history, row),
    }


def trend_cells(m: MemberHealth, history: History | None, row: Mark | None) -> dict[str, Cell]:
    rates = history.index_rate(m.name) if history is not None else []
    latency = history.latency(m.name) if history is not None else []
    rate = rates[-1] if rates else None
    pct = m.db_quota_pct
    if pct is None:
        quota: Cell = ("—", row)
    else:
        warn = pct >= QUOTA_WARN_PCT
        # near the quota the cell names the key that defragments (the dashboard's `m`)
        quota = (f"▲ {pct:.0f}% m" if warn else f"{pct:.0f}%", Mark.WARN if warn else row)
    return {
        "lat_trend": (sparkline(latency, SPARK) or "—", row),
        "rate": (
            f"{'—' if rate is None else f'{rate:,.0f}'} {sparkline(rates, SPARK)}".rstrip(),
            row,
        ),
        "quota": quota,
    }


def apiserver_cells(a: ApiserverHealth) -> dict[str, Cell]:
    mark, state = API_STATE.get(a.state.value, (Mark.BAD, f"✖ {a.state.value}"))
    row = mark if mark is Mark.BAD else None

    def flag(value: bool | None) -> Cell:
        return ("—", row) if value is None else ("✔", Mark.OK) if value else ("✖", Mark.BAD)

    note = a.error or "; ".join(a.failed_checks)
    return {
        "master": (a.node, row),
        "url": (a.url.removeprefix("https://"), row),
        "state": (state, mark),
        "livez": flag(a.livez),
        "readyz": flag(a.readyz),
        "latency": (fmt.millis(a.latency_ms), row),
        "note": (fmt.clip(note, 40), Mark.BAD if row else None),
    }


def cert_cells(c: CertExpiry) -> dict[str, Cell]:
    if c.expired:
        days: Cell = (f"✖ {fmt.expired_ago(c.days_left)}", Mark.BAD)
    elif c.expiring:
        days = (f"▲ {c.days_left}", Mark.WARN)
    else:
        days = (f"✔ {c.days_left}", Mark.OK)
    return {
        "name": (c.name, None),
        "source": (c.source, None),
        "cn": (c.common_name, None),
        "expires": (f"{c.not_after:%Y-%m-%d}", None),
        "days": days,
    }


def balancer_cells(n: Any, vip_mode: bool) -> dict[str, Cell]:
    """One balancer node's row (a `hawizard.balancer.probe.BalancerNodeState`)."""
    if not n.reachable:
        return {
            "node": (n.node, Mark.BAD),
            "vip": ("?", Mark.BAD),
            "keepalived": ("?", Mark.BAD),
            "haproxy": ("?", Mark.BAD),
            "backends": (f"✖ unreachable: {n.error}", Mark.BAD),
        }
    backends = " ".join(f"{name}:{status}" for name, status in n.backends) or "-"
    return {
        "node": (n.node, None),
        "vip": ("● holder", Mark.OK) if n.holds_vip else ("-", None),
        "keepalived": (n.keepalived, KEEPALIVED_MARK.get(n.keepalived, Mark.WARN))
        if vip_mode
        else ("-", None),
        "haproxy": (n.haproxy, Mark.OK if n.haproxy == "active" else Mark.BAD),
        "backends": (backends, None),
    }
