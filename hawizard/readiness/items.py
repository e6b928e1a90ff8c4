"""How each item of the production checklist is judged, from what was gathered.

One function per item, each pure (gathered facts in, `Item` out) so every verdict can be tested
with recorded answers, and `hawizard.ops.check` only gathers. A verdict is ✔ ok, ▲ warn,
✖ fail or ? unknown (hawizard could not tell, or the item is outside what it deploys).

This module is the checklist's one entry point: items 1 (`etcd_item`), 2 and 3
(`control_plane_item`) live beside it and are re-exported here, with the verdict model
(`verdict`); items 4 to 11 are judged below.
"""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hawizard.plan import Plan
from hawizard.readiness.control_plane_item import authentication, control_plane
from hawizard.readiness.etcd_item import TLSProbe, etcd_topology
from hawizard.readiness.facts import (
    NodeFacts,
    parse_clock,
    parse_journal,
    parse_kept_aside,
    parse_updates,
)
from hawizard.readiness.verdict import (
    Findings,
    Item,
    Verdict,
    exit_code,
    plan_arg,
    unread,
    worst,
)

RENEW_DAYS = 30
BACKUP_MAX_AGE = dt.timedelta(hours=24)
MAX_SKEW_S = 0.5  # etcd's peers warn from 1 s; stay well below


# --- 4. certificates -------------------------------------------------------------------------


def certificates(health: Any, served: Sequence[Any] = ()) -> Item:
    """`health.certificates` (local PKI + what etcd members serve) and `served`: more
    certificates seen in handshakes (each apiserver's), as `health.CertExpiry` rows."""
    f = Findings()
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
    f = Findings()
    fix = f"hawizard etcd snapshot {plan_arg(plan)} (and schedule it)"
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
    run = f"hawizard etcd backup run {plan_arg(plan)} (and schedule it)"
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


def _kept_aside(f: Findings, facts: Mapping[str, NodeFacts]) -> None:
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
    f = Findings()
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
                f"bring {m.name}'s etcd back (hawizard status {plan_arg(plan)})",
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
            f"hawizard monitoring export {plan_arg(plan)} (or [monitoring] install = true)",
        )
    return f.item(6, "monitoring", "Monitoring")


def _exposure_lines(f: Findings, plan: Plan, exposure: Any) -> None:
    if exposure is None:
        return
    fix = (
        f"hawizard apply {plan_arg(plan)}: the nodes' firewall lets only "
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
    f = Findings()
    readable = unread(f, facts, [n.name for n in plan.nodes])
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
    f = Findings()
    for name in unread(f, facts, [n.name for n in plan.nodes]):
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
    f = Findings()
    offsets: dict[str, float] = {}
    for name in unread(f, facts, [n.name for n in plan.nodes]):
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
    f = Findings()
    f.add(
        Verdict.UNKNOWN,
        "outside what hawizard deploys: images run by the cluster are not seen from here",
        "scan images in CI and in the registry (Trivy, Grype) and admit only scanned ones "
        "(Kyverno or Gatekeeper policy)",
    )
    return f.item(10, "image_scanning", "Image scanning")


def network_policy(plan: Plan) -> Item:
    f = Findings()
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
