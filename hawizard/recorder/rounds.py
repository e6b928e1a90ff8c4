"""One probe round as one compact JSON object, and back into a `ClusterHealth`.

A week of 2-second rounds is ~300,000 rows, so a row keeps what the dashboard, the events and
an incident need and nothing else: per member its health, reachability, leader and learner
flags, raft term and index, DB size and quota, latency, alarms and error; the certificates'
days left; the apiservers' state words and the VIP holders (plain data, so this module needs
no domain). Keys are short and values the member did not report are left out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hawizard.health import BACKEND_QUOTA_BYTES, CertExpiry, ClusterHealth, MemberHealth, State

FORMAT = 1


@dataclass(frozen=True)
class Round:
    """A recorded round: the health model again, plus what other probes said."""

    health: ClusterHealth
    apiservers: tuple[tuple[str, str], ...] = ()  # (node, state word)
    vip_holders: tuple[str, ...] | None = None  # None: no VIP in this plan (or not probed)

    @property
    def at(self) -> dt.datetime:
        return self.health.checked_at


def _member(m: MemberHealth) -> dict[str, Any]:
    row: dict[str, Any] = {"n": m.name, "h": int(m.healthy), "r": int(m.reachable)}
    optional = {
        "L": int(m.is_leader) or None,
        "lrn": int(m.is_learner) or None,
        "p": None if m.in_plan else 0,
        "c": None if m.in_cluster is None else int(m.in_cluster),
        "id": m.id or None,
        "v": m.version or None,
        "t": m.raft_term,
        "i": m.raft_index,
        "db": m.db_size,
        "du": m.db_size_in_use,
        "q": None if m.quota_bytes == BACKEND_QUOTA_BYTES else m.quota_bytes,
        "ms": None if m.rtt_ms is None else round(m.rtt_ms, 2),
        "a": list(m.alarms) or None,
        "e": m.error or None,
        "ep": m.endpoint or None,
    }
    row.update({k: v for k, v in optional.items() if v is not None})
    return row


def encode(
    health: ClusterHealth,
    apiservers: Iterable[tuple[str, str]] = (),
    vip_holders: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The compact form of one round (see the module docstring)."""
    doc: dict[str, Any] = {
        "f": FORMAT,
        "at": health.checked_at.astimezone(dt.UTC).isoformat(),
        "s": health.state.value,
        "mc": health.member_count,
        "vc": health.voter_count,
        "hc": health.healthy_count,
        "hv": health.healthy_voters,
        "qn": health.quorum,
        "tol": health.tolerates,
        "dt": health.design_tolerance,
        "qok": int(health.quorum_ok),
        "d": round(health.duration_s, 3),
        "m": [_member(m) for m in health.members],
    }
    if health.leader_id:
        doc["lid"] = health.leader_id
        doc["ln"] = health.leader_name
    if health.cluster_id:
        doc["cid"] = health.cluster_id
    if health.problems:
        doc["pr"] = list(health.problems)
    if health.warnings:
        doc["w"] = list(health.warnings)
    if health.certificates:
        doc["cert"] = [
            [c.name, c.source, c.days_left, c.not_after.isoformat()] for c in health.certificates
        ]
    api = [[node, state] for node, state in apiservers]
    if api:
        doc["api"] = api
    if vip_holders is not None:
        doc["vip"] = list(vip_holders)
    return doc


class BadRound(ValueError):
    """A stored row that is not a round this version can read (a damaged or foreign file)."""


def decode(doc: Mapping[str, Any]) -> Round:
    """A `Round` from `encode`'s output. Raises `BadRound` for anything else."""
    try:
        return _decode(doc)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise BadRound(f"not a recorded round ({type(exc).__name__}: {exc})") from None


def _decode(doc: Mapping[str, Any]) -> Round:
    at = dt.datetime.fromisoformat(doc["at"])
    members = tuple(_decode_member(m) for m in doc["m"])
    certs = tuple(
        CertExpiry(
            name=str(name),
            source=str(source),
            common_name="",
            not_after=dt.datetime.fromisoformat(not_after),
            days_left=int(days),
            fingerprint_sha256="",
        )
        for name, source, days, not_after in doc.get("cert", ())
    )
    health = ClusterHealth(
        members=members,
        member_count=int(doc["mc"]),
        voter_count=int(doc["vc"]),
        healthy_count=int(doc["hc"]),
        healthy_voters=int(doc["hv"]),
        quorum=int(doc["qn"]),
        tolerates=int(doc["tol"]),
        design_tolerance=int(doc["dt"]),
        quorum_ok=bool(doc["qok"]),
        state=State(doc["s"]),
        leader_id=str(doc.get("lid", "")),
        leader_name=str(doc.get("ln", "")),
        leaders_seen=(str(doc["lid"]),) if doc.get("lid") else (),
        cluster_id=str(doc.get("cid", "")),
        cluster_ids_seen=(str(doc["cid"]),) if doc.get("cid") else (),
        certificates=certs,
        problems=tuple(str(p) for p in doc.get("pr", ())),
        warnings=tuple(str(w) for w in doc.get("w", ())),
        checked_at=at,
        duration_s=float(doc.get("d", 0.0)),
    )
    api = tuple((str(node), str(state)) for node, state in doc.get("api", ()))
    vip = doc.get("vip")
    return Round(health, api, None if vip is None else tuple(str(v) for v in vip))


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _decode_member(m: Mapping[str, Any]) -> MemberHealth:
    in_cluster = m.get("c")
    return MemberHealth(
        name=str(m["n"]),
        endpoint=str(m.get("ep", "")),
        in_plan=bool(m.get("p", 1)),
        in_cluster=None if in_cluster is None else bool(in_cluster),
        reachable=bool(m["r"]),
        healthy=bool(m["h"]),
        is_leader=bool(m.get("L", 0)),
        is_learner=bool(m.get("lrn", 0)),
        id=str(m.get("id", "")),
        version=str(m.get("v", "")),
        raft_term=_opt_int(m.get("t")),
        raft_index=_opt_int(m.get("i")),
        db_size=_opt_int(m.get("db")),
        db_size_in_use=_opt_int(m.get("du")),
        rtt_ms=None if m.get("ms") is None else float(m["ms"]),
        error=str(m.get("e", "")),
        alarms=tuple(str(a) for a in m.get("a", ())),
        quota_bytes=int(m.get("q", BACKEND_QUOTA_BYTES)),
    )
