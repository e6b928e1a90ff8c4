"""The phases of a patch run, one node per phase: gate (the cluster can lose it now), move
the VIP away, upgrade, reboot if needed, back in service (etcd caught up, apiserver ready).
Every step asks the node whether it still has work, so a resumed run finishes what an
interrupted one left. `ops.patch.assess` builds a `Patching`; `ops.patch` runs it.
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from dataclasses import dataclass, field

from hawizard import os_packages as pkg
from hawizard.balancer.handoff import (
    keepalived_stopped_here,
    start_keepalived_again,
    stop_keepalived,
    wait_vip_elsewhere,
)
from hawizard.control_plane.probe import probe_apiserver
from hawizard.etcd.probe import ClientTLS, cluster_health
from hawizard.health import ClusterHealth
from hawizard.ops.patch_facts import NodeSurvey, holds_address, security_pinned, vip_node
from hawizard.ops.patch_record import NodeEntry, PatchRecord, now, record_path
from hawizard.os_packages import Update
from hawizard.plan import Node, Plan
from hawizard.steps import Phase, Step

__all__ = ["CATCH_UP_WINDOW", "HEALTH_TIMEOUT", "REBOOT_TIMEOUT", "Patching", "etcd_problems"]

log = logging.getLogger(__name__)

HEALTH_TIMEOUT = 180.0
REBOOT_TIMEOUT = 600.0  # a real server may take minutes to POST and boot
UPGRADE_TIMEOUT = 3600.0
CATCH_UP_WINDOW = 100  # raft entries behind the leader that still count as caught up


@dataclass
class Patching:
    """What `assess` decided: run `phases()` on the engine between `begin()` and `finish()`."""

    plan: Plan
    security_only: bool
    reboot: str
    surveys: list[NodeSurvey]  # every node, plan order
    order: list[str]  # nodes with work, in patch order (the etcd leader last)
    health: ClusterHealth | None
    notes: list[str] = field(default_factory=list)
    resume: bool = False
    record: PatchRecord | None = None
    health_timeout: float = HEALTH_TIMEOUT
    reboot_timeout: float = REBOOT_TIMEOUT
    _entries: dict[str, NodeEntry] = field(default_factory=dict)
    _clock: dict[str, float] = field(default_factory=dict)

    def survey(self, name: str) -> NodeSurvey:
        return next(s for s in self.surveys if s.node == name)

    @property
    def title(self) -> str:
        what = "security updates" if self.security_only else "updates"
        return f"{what} on {len(self.order)} of {len(self.surveys)} nodes, one at a time"

    # --- record -----------------------------------------------------------------------------

    def begin(self, *, dry_run: bool = False) -> None:
        if dry_run or not self.order:
            return
        assert self.plan.source is not None
        if self.record is None or self.record.finished:
            self.record = PatchRecord(uuid.uuid4().hex[:12], now(), self.security_only, self.reboot)
        self._save()

    def finish(self, ok: bool) -> None:
        if self.record is None:
            return
        self.record.ok = ok
        if ok:
            self.record.finished = now()
        self._save()

    def _save(self) -> None:
        assert self.plan.source is not None and self.record is not None
        self.record.write(record_path(self.plan.source))

    def _entry(self, name: str, host) -> NodeEntry | None:
        if host.dry_run or self.record is None:
            return None
        entry = self._entries.get(name)
        if entry is None:
            entry = NodeEntry(name, now())
            self.record.nodes.append(entry)
            self._entries[name] = entry
            self._clock[name] = time.monotonic()
            self._save()
        return entry

    def _close_entry(self, name: str) -> None:
        entry = self._entries.get(name)
        if entry is None or entry.finished:
            return
        entry.finished = now()
        entry.total_s = round(time.monotonic() - self._clock[name], 2)
        self._save()

    # --- phases -----------------------------------------------------------------------------

    def phases(self) -> list[Phase]:
        out = []
        for name in self.order:
            node = self.plan.node(name)
            steps = [self._gate_step(node)]
            if vip_node(self.plan, node):
                steps.append(self._vip_step(node))
            steps += [self._upgrade_step(node), self._reboot_step(node), self._back_step(node)]
            out.append(Phase(f"patch {name}", steps))
        return out

    def _gate_step(self, node: Node) -> Step:
        def check(host) -> bool:
            self._entry(node.name, host)
            problem = self._wait_can_lose(node.name, timeout=min(60.0, self.health_timeout))
            if problem:
                raise RuntimeError(f"not patching {node.name}: {problem}")
            if host.on_output is not None:
                host.on_output(f"the cluster can lose {node.name} now")
            return False

        title = "cluster can lose this node"
        return Step(node.name, title, check, lambda h: None, key=f"patch/{node.name}/gate")

    def _vip_step(self, node: Node) -> Step:
        vip = self.plan.endpoint_host_port[0]

        def check(host) -> bool:
            out = host.probe(["ip", "-br", "-4", "addr", "show"], sudo=False).stdout
            return holds_address(out, vip)

        def apply(host) -> None:
            stop_keepalived(host)
            if host.dry_run:
                return
            holder = wait_vip_elsewhere(self.plan, node.name)
            entry = self._entries.get(node.name)
            if entry is not None:
                entry.vip_moved_to = holder
                self._save()
            if host.on_output is not None:
                host.on_output(f"VIP {vip} now held by {holder}")

        return Step(node.name, "move the VIP away", check, apply, key=f"patch/{node.name}/vip")

    def _upgrade_step(self, node: Node) -> Step:
        survey = self.survey(node.name)
        found: list[Update] = []

        def check(host) -> bool:
            if host.dry_run:
                found[:] = survey.updates
            else:
                argv = pkg.list_argv(survey.system, security_only=self.security_only)
                if security_pinned(survey.system, self.security_only):
                    host.probe(pkg.security_pin_script(), timeout=60)
                listing = host.probe(argv, timeout=300).stdout
                found[:] = pkg.parse_updates(
                    survey.system, listing, security_only=self.security_only
                )
            return bool(found)

        def apply(host) -> None:
            start = time.monotonic()
            argv = pkg.upgrade_argv(survey.system, found, security_only=self.security_only)
            if security_pinned(survey.system, self.security_only):
                host.run(pkg.security_pin_script(), timeout=60)
            host.run(argv, timeout=UPGRADE_TIMEOUT)
            entry = self._entries.get(node.name)
            if entry is not None:
                entry.packages = [str(u) for u in found]
                entry.upgrade_s = round(time.monotonic() - start, 2)
                self._save()

        what = "security updates" if self.security_only else "updates"
        return Step(node.name, f"install {what}", check, apply, key=f"patch/{node.name}/upgrade")

    def _reboot_step(self, node: Node) -> Step:
        system = self.survey(node.name).system

        def check(host) -> bool:
            wanted = host.probe(pkg.reboot_required_script(system), sudo=False).stdout.strip()
            pending = host.dry_run and bool(self.survey(node.name).updates)
            if pending and wanted != "yes" and host.on_output is not None:
                # the upgrade has not run in a dry run: the node answers for now
                host.on_output("a reboot may be wanted once the updates are installed")
            if wanted == "yes" and self.reboot != "auto":
                entry = self._entries.get(node.name)
                if entry is not None:
                    entry.reboot_pending = True
                    self._save()
                if host.on_output is not None:
                    host.on_output(f"{node.name} wants a reboot: not now (--reboot=never)")
                return False
            return wanted == "yes"

        def apply(host) -> None:
            if host.dry_run:
                host.run(["systemctl", "--no-block", "reboot"])
                return
            seconds = self._reboot(host, node)
            entry = self._entries.get(node.name)
            if entry is not None:
                entry.rebooted, entry.reboot_s = True, round(seconds, 2)
                self._save()
            if host.on_output is not None:
                host.on_output(f"{node.name} rebooted; SSH answered after {seconds:.1f} s")

        return Step(node.name, "reboot if needed", check, apply, key=f"patch/{node.name}/reboot")

    def _back_step(self, node: Node) -> Step:
        survey = self.survey(node.name)

        def check(host) -> bool:
            if host.dry_run:
                return False
            restart = vip_node(self.plan, node) and keepalived_stopped_here(host)
            return restart or node.name in self._entries

        def apply(host) -> None:
            start = time.monotonic()
            if vip_node(self.plan, node) and keepalived_stopped_here(host):
                start_keepalived_again(host)
            if node.is_etcd:
                self._wait_member_caught_up(node.name)
            if survey.apiserver:
                self._wait_apiserver(node)
            entry = self._entries.get(node.name)
            if entry is not None:
                entry.recover_s = round(time.monotonic() - start, 2)
            self._close_entry(node.name)
            if host.on_output is not None:
                host.on_output(f"{node.name} is back: cluster healthy")

        return Step(node.name, "back in service", check, apply, key=f"patch/{node.name}/back")

    # --- waiting ----------------------------------------------------------------------------

    def _reboot(self, host, node: Node) -> float:
        """Ask for a reboot, then wait until SSH answers from a boot other than this one."""
        before = host.probe(pkg.BOOT_ID_SCRIPT, sudo=False).stdout
        start = time.monotonic()
        try:
            host.run(["systemctl", "--no-block", "reboot"], timeout=30)
        except Exception as exc:  # the node may drop the connection while going down: fine
            log.debug("reboot of %s: %s", node.name, exc)
        host.close()
        deadline = start + self.reboot_timeout
        while True:
            time.sleep(1.0)
            try:
                now = host.probe(pkg.BOOT_ID_SCRIPT, sudo=False, timeout=10).stdout
                if now.strip() and now != before:
                    return time.monotonic() - start
            except Exception:  # down or booting: connection refused, reset, timeouts
                host.close()
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{node.name} did not come back within {self.reboot_timeout:g} s of its "
                    "reboot (SSH from a new boot)"
                )

    def _health(self, timeout: float | None = None) -> ClusterHealth:
        return cluster_health(self.plan, timeout, tls=ClientTLS.for_plan(self.plan))

    def _why_cannot_lose(self, name: str) -> str:
        """ "" when the cluster can lose `name` now; else who is unhealthy."""
        problems = []
        if self.plan.etcd_nodes:
            health = self._health()
            problems += etcd_problems(health)
        for other in self.plan.control_plane_nodes:
            if other.name == name or not self.survey(other.name).apiserver:
                continue
            api = probe_apiserver(self.plan, other)
            if not api.ok:
                problems.append(f"kube-apiserver on {other.name} is {api.state.value}")
        return "; ".join(problems)

    def _wait_can_lose(self, name: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            problem = self._why_cannot_lose(name)
            if not problem or time.monotonic() >= deadline:
                return problem
            time.sleep(1.0)

    def _wait_member_caught_up(self, name: str) -> None:
        deadline = time.monotonic() + self.health_timeout
        for round_no in itertools.count():
            health = self._health(None if round_no % 4 == 3 else 0.5)
            behind = _behind(health, name)
            if not etcd_problems(health) and behind is not None and behind <= CATCH_UP_WINDOW:
                return
            if time.monotonic() >= deadline:
                why = "; ".join(etcd_problems(health)) or f"{behind} raft entries behind"
                raise RuntimeError(
                    f"etcd has not recovered {self.health_timeout:g} s after {name}: {why}"
                )
            time.sleep(0.25)

    def _wait_apiserver(self, node: Node) -> None:
        from hawizard.control_plane.rollout import wait_apiserver_ready

        wait_apiserver_ready(self.plan, node, self.health_timeout)


def etcd_problems(health: ClusterHealth) -> list[str]:
    out = []
    down = [m.name for m in health.members if m.in_plan and not (m.reachable and m.healthy)]
    if down:
        out.append(f"etcd member{'s' if len(down) > 1 else ''} {', '.join(down)} unhealthy")
    if not health.quorum_ok:
        out.append(f"etcd has no quorum ({health.summary})")
    elif health.tolerates < 1 and not down:
        out.append(
            f"etcd cannot lose a member ({health.summary}: {health.voter_count} voters, "
            f"quorum {health.quorum})"
        )
    if not down and (not health.leader_id or health.leader_disagreement):
        out.append("etcd has no single leader")
    return out


def _behind(health: ClusterHealth, name: str) -> int | None:
    me = next((m for m in health.members if m.name == name), None)
    leader = next((m for m in health.members if m.is_leader), None)
    if me is None or leader is None or me.raft_index is None or leader.raft_index is None:
        return None
    return max(0, leader.raft_index - me.raft_index)
