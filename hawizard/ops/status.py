"""One probe round: etcd's members, the apiservers and the load balancer, asked at the same
time, plus the last verified backup, as one report.

`hawizard status` (once or `--watch`) and the dashboard's poller both call `status_round`, so
the two faces judge the same answers the same way. The round lasts as long as its slowest
probe; each probe bounds itself (`etcd.probe_timeout`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hawizard.balancer.probe import BalancerHealth
    from hawizard.control_plane.probe import ApiserverHealth
    from hawizard.etcd.backup import BackupAge, OffsiteAge
    from hawizard.etcd.drill_record import LastDrill
    from hawizard.health import ClusterHealth
    from hawizard.plan import Plan

log = logging.getLogger(__name__)

# `on_etcd` is called only if the round's other probes are not done this long after etcd's:
# a frame that the whole round would follow within it is not worth drawing twice.
EARLY_AFTER_S = 0.05

EtcdProbe = Callable[["Plan"], "ClusterHealth"]
ApiserverProbe = Callable[["Plan"], "list[ApiserverHealth]"]
BalancerProbe = Callable[["Plan"], "BalancerHealth | None"]


@dataclass(frozen=True)
class StatusReport:
    """One round: etcd's health, the apiservers', the balancer's, and the last backup."""

    health: ClusterHealth
    apiservers: tuple[ApiserverHealth, ...]  # plan order
    expect_running: bool  # control_plane.start: a staged control plane is not "down"
    backup: BackupAge | None = None  # the last verified backup (never changes the exit code)
    balancer: BalancerHealth | None = None  # the endpoint (VIP holder, keepalived, haproxy)
    offsite: tuple[OffsiteAge, ...] = ()  # per [backup] target: the newest copy's age (RPO)
    drill: LastDrill | None = None  # the last `etcd backup drill`, from its signed record
    # the last `etcd defrag` run's record (`ops.maintenance.read_last`), and the quota forecast
    # from a history of rounds (`--watch`, the dashboard; None from a single round)
    maintenance: dict | None = None
    forecast: Any = None  # hawizard.forecast.QuotaForecast | None
    etcd_only: bool = False  # `status --etcd-only`: apiservers, balancer, backup not asked

    @property
    def exit_code(self) -> int:
        code = self.health.exit_code
        if self.expect_running and any(not a.ok for a in self.apiservers):
            code = max(code, 1)
        lb = self.balancer
        # A balancer counts once it serves or should serve: a staged control plane whose
        # balancer is not deployed yet (etcd-only apply) is shown, not an outage.
        if lb is not None and (self.expect_running or lb.deployed):
            code = max(code, lb.exit_code)
        return code

    def to_json(self) -> dict:
        """ClusterHealth.to_json() plus `apiservers`: a list of {node, url, state, livez,
        readyz, failed_checks, error, latency_ms}, `control_plane_started`,
        `last_verified_backup`: {state ("ok" | "yellow" older than 2x the schedule | "red" 4x
        or none), age_s, path, every_s, dir, refused (records that fail their signature)},
        `load_balancer` (BalancerHealth.to_json()), `last_maintenance`: {at, outcome
        ("defragmented" | "skipped" | "refused" | "stopped"), reason, if_needed,
        leader_at_start, members: [{name, db_before, db_after, in_use_before, blocked_s}]} or
        null, and with a history `quota_forecast`: {bytes_per_day, days_left, r2, points} or
        null (no trustworthy growth). An `etcd_only` round has none
        of those keys (it did not ask them) but `"scope": "etcd"` and `exit_code`."""
        data = self.health.to_json()
        if self.etcd_only:
            return {**data, "scope": "etcd", "exit_code": self.exit_code}
        data["apiservers"] = [apiserver_json(a) for a in self.apiservers]
        data["control_plane_started"] = self.expect_running
        data["exit_code"] = self.exit_code
        if self.backup is not None:
            data["last_verified_backup"] = self.backup.to_json()
        if self.balancer is not None:
            data["load_balancer"] = self.balancer.to_json()
        if self.offsite:
            data["last_offsite_backup"] = [o.to_json() for o in self.offsite]
        if self.drill is not None:
            data["last_drill"] = self.drill.to_json()
        last = self.maintenance
        data["last_maintenance"] = (
            {k: v for k, v in last.items() if k != "in_use_readings"} if last else None
        )
        if self.forecast is not None:
            data["quota_forecast"] = self.forecast.to_json()
        return data


def apiserver_json(a: ApiserverHealth) -> dict:
    return {
        "node": a.node,
        "url": a.url,
        "state": a.state.value,
        "livez": a.livez,
        "readyz": a.readyz,
        "failed_checks": list(a.failed_checks),
        "error": a.error,
        "latency_ms": a.latency_ms,
    }


def status_round(
    plan: Plan,
    timeout: float | None = None,
    *,
    etcd_probe: EtcdProbe | None = None,
    apiserver_probe: ApiserverProbe | None = None,
    balancer_probe: BalancerProbe | None = None,
    etcd_only: bool = False,
    on_etcd: Callable[[ClusterHealth], None] | None = None,
    **probe_options: Any,
) -> StatusReport:
    """etcd members, apiservers and the balancer probed concurrently: the slowest bounds the
    round.

    `etcd_probe` / `apiserver_probe` / `balancer_probe` replace the real probes (the
    dashboard's injected backend); `probe_options` go to `etcd.probe.cluster_health` (tls,
    ssh). An etcd probe that cannot run (no client certificate: `OSError`/`ValueError`)
    raises; an apiserver or balancer probe that fails is logged and left out, so etcd is
    still shown.

    `etcd_only` asks etcd's members and nothing else: no apiserver, no balancer (no SSH, so
    paramiko is not even imported unless `ssh` asks for the fallback), no backup folder:
    `hawizard status --etcd-only`, for scripts that poll. `on_etcd` is called with etcd's
    health as soon as it is judged if the other probes still run `EARLY_AFTER_S` later (the
    dashboard's first frame: SSH to the balancer nodes takes longer than etcd's members).
    """
    if etcd_only:
        from hawizard.etcd.probe import cluster_health

        health = etcd_probe(plan) if etcd_probe else cluster_health(plan, timeout, **probe_options)
        return StatusReport(health, (), plan.control_plane.start, etcd_only=True)
    budget = plan.etcd.probe_timeout if timeout is None else timeout

    # imported where used: a probe that is replaced costs no import, and the round starts
    # at once (the dashboard's first round, a CLI command that never probes)
    def etcd(p: Plan) -> ClusterHealth:
        from hawizard.etcd.probe import cluster_health

        return cluster_health(p, timeout, **probe_options)

    def apiservers(p: Plan) -> list[ApiserverHealth]:
        from hawizard.control_plane.probe import probe_apiservers

        return probe_apiservers(p, timeout=budget)

    def balancer(p: Plan) -> BalancerHealth | None:
        from hawizard.balancer.probe import probe_balancer

        return probe_balancer(p, timeout=max(budget, 1.0))

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="status-probe") as pool:
        ask_apiservers = apiserver_probe or apiservers
        masters = pool.submit(ask_apiservers, plan) if plan.control_plane_nodes else None
        endpoint = pool.submit(balancer_probe or balancer, plan)
        health = (etcd_probe or etcd)(plan)
        pending = [f for f in (masters, endpoint) if f is not None]
        if on_etcd is not None and wait(pending, timeout=EARLY_AFTER_S).not_done:
            on_etcd(health)  # only worth an early frame while a slower probe still runs
        rows: tuple[ApiserverHealth, ...] = ()
        if masters is not None:
            try:
                rows = tuple(masters.result())
            except Exception:
                log.exception("apiserver probe failed")
        try:
            lb = endpoint.result()
        except Exception:
            log.exception("load-balancer probe failed")
            lb = None
    backup, offsite, drill, last = _beside_the_cluster(plan)
    return StatusReport(
        health, rows, plan.control_plane.start, backup, lb, offsite, drill, maintenance=last
    )


def _beside_the_cluster(plan: Plan) -> tuple[Any, tuple[OffsiteAge, ...], Any, dict | None]:
    """What the operator's machine knows without probing: the newest backup, its off-site
    copies, the last restore drill and the last maintenance run. An unreadable backup folder
    is logged and shown as no backup, so the probes' answers are still shown."""
    from hawizard.etcd.backup import offsite_ages, plan_backup_age
    from hawizard.etcd.drill_record import last_drill

    offsite: tuple[OffsiteAge, ...] = ()
    drill = None
    try:
        backup = plan_backup_age(plan)
        offsite = tuple(offsite_ages(plan))
        drill = last_drill(plan)
    except OSError:
        log.exception("reading the backup folder failed")
        backup = None
    from hawizard.ops.maintenance import read_last

    last = read_last(plan.source) if plan.source is not None else None
    return backup, offsite, drill, last
