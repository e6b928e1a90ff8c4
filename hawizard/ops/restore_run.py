"""The phases of one restore, for the engine: stop etcd everywhere, move each data dir aside
(never deleted), upload the snapshot, `etcdutl snapshot restore` per member, configuration
`existing`, start all together, wait healthy, restart the apiservers, a fresh snapshot,
clean up. Every step asks the node whether it still has work (and the stop, move and restore
are journaled `once`), so a resumed restore never repeats what it did.

Judging comes first (`restore_assess`); `hawizard.ops.restore` runs these phases.
"""

from __future__ import annotations

import shlex
import threading
import time
from dataclasses import dataclass
from typing import Any

from hawizard.etcd import member as etcd_member
from hawizard.etcd import render
from hawizard.etcd.restore import (
    aside_path,
    remote_snapshot_path,
    restore_script,
    restoring_path,
)
from hawizard.etcd.rollout import wait_converged
from hawizard.etcd.scratch import removed, sweep_script
from hawizard.etcd.snapshot import SnapshotInfo, take_snapshot
from hawizard.etcd.start_watch import watch_started
from hawizard.ops.apiservers import apiserver_restart_phases
from hawizard.ops.restore_assess import Assessment, clear_record, write_record
from hawizard.plan import Node
from hawizard.remote import RemoteError
from hawizard.steps import Phase, Step, say

__all__ = ["HEALTH_TIMEOUT", "NodeReport", "RestoreRun"]

HEALTH_TIMEOUT = 180.0


@dataclass
class NodeReport:
    had_data: bool | None = None  # None: the move ran in an earlier run
    aside: str = ""
    restored: bool = False  # restored by this run (False: done earlier, journal)
    tool: str = ""
    bump: str = ""  # "yes" | "no" | "off"


class RestoreRun:
    """The phases of one restore; steps write what they learn into `reports`."""

    def __init__(self, assessment: Assessment, *, health_timeout: float = HEALTH_TIMEOUT):
        self.a = assessment
        self.plan = assessment.plan
        self.health_timeout = health_timeout
        self.reports: dict[str, NodeReport] = {n.name: NodeReport() for n in self.plan.etcd_nodes}
        self.health_after: Any = None
        self.healthy_at: float | None = None  # time.monotonic() when every member was healthy
        self.fresh: SnapshotInfo | None = None
        self.apiservers: list[str] = []  # masters whose kube-apiserver was restarted
        self._lock = threading.Lock()

    @property
    def id(self) -> str:
        return self.a.record.id

    def begin(self, *, dry_run: bool) -> None:
        if not dry_run:
            write_record(self.plan.source, self.a.record)

    def finish(self, ok: bool) -> None:
        if ok:
            clear_record(self.plan.source)

    def phases(self) -> list[Phase]:
        ms = self.plan.etcd_nodes
        return [
            *self._install_phases(),
            Phase("restore: stop etcd", [self._stop(m) for m in ms]),
            Phase("restore: move data dirs aside", [self._move_aside(m) for m in ms]),
            Phase("restore: upload snapshot", [self._upload(m) for m in ms]),
            Phase("restore: etcdutl snapshot restore", [self._restore(m) for m in ms]),
            Phase("restore: configuration", [self._config(m) for m in ms]),
            Phase("restore: start all members", [self._start(m) for m in ms]),
            Phase("restore: wait healthy", [self._wait()]),
            Phase("restore: mark existing", [self._flip(m) for m in ms]),
            *apiserver_restart_phases(self.plan, f"restore/{self.id}", self.apiservers),
            Phase("restore: fresh snapshot", [self._snapshot(ms[0])]),
            Phase("restore: clean up", [self._cleanup(m) for m in ms]),
        ]

    def _key(self, m: Node, what: str) -> str:
        return f"restore/{self.id}/{m.name}/{what}"

    def _install_phases(self) -> list[Phase]:
        """New machines (no etcd yet): preflight, install, certificates, configuration, as
        `apply` does for a member joining (never started here: the restore starts them)."""
        if not self.a.new_machines:
            return []
        from hawizard.etcd.rollout import EtcdRollout
        from hawizard.ops.recover_run import rekeyed

        fresh = tuple(n for n in self.plan.etcd_nodes if n.name in self.a.new_machines)
        rollout = EtcdRollout(self.plan, members=fresh, joining=frozenset(self.a.new_machines))
        return rekeyed(rollout.prepare_phases(), f"restore/{self.id}/install")

    def _stop(self, m: Node) -> Step:
        def check(host) -> bool:
            state = host.probe(["systemctl", "is-active", "etcd"]).stdout.strip()
            return state not in ("inactive", "failed", "unknown")

        def apply(host) -> None:
            etcd_member.stop(host, timeout=120)

        return Step(m.name, "stop etcd", check, apply, key=self._key(m, "stop"), once=True)

    def _move_aside(self, m: Node) -> Step:
        data = self.plan.etcd.data_dir.rstrip("/")
        aside = aside_path(self.plan, self.a.record.stamp)
        q = shlex.quote

        def check(host) -> bool:
            r = host.probe(f"test -e {q(data)}; echo $?; test -e {q(aside)}; echo $?")
            has_data, has_aside = (line == "0" for line in r.stdout.split()[:2])
            report = self.reports[m.name]
            report.had_data = has_data or has_aside
            report.aside = aside if report.had_data else ""
            if not has_data:
                say(host, f"no data dir at {data}: nothing to keep")
            elif has_aside:
                say(host, f"{data} was moved to {aside} already")
            return has_data and not has_aside

        def apply(host) -> None:
            host.run(["mv", "-T", "--", data, aside])
            say(host, f"kept the old data dir as {aside}")

        return Step(
            m.name, "move data dir aside", check, apply, key=self._key(m, "move"), once=True
        )

    def _data_missing(self, host) -> bool:
        return not host.exists(self.plan.etcd.data_dir.rstrip("/"))

    def _upload(self, m: Node) -> Step:
        remote = remote_snapshot_path(self.id)
        sha = self.a.snapshot.sha256

        def check(host) -> bool:
            if not self._data_missing(host):
                return False  # restored already
            r = host.probe(f"sha256sum < {shlex.quote(remote)} 2>/dev/null | cut -c1-64")
            return r.stdout.strip() != sha

        def apply(host) -> None:
            # the private scratch folder, swept of what killed runs left (named)
            swept = host.run(sweep_script(keep=remote), check=False, stream=False)
            for stale in removed(getattr(swept, "stdout", "") or ""):
                say(host, f"removed {stale} (left by a killed or disconnected run)")
            if host.compress:
                host.put(self.a.snapshot.gzipped, remote, mode=0o600, gzipped=True)
            else:  # the plan's ssh.compress = false: a link faster than gunzip
                host.put(self.a.snapshot.path.read_bytes(), remote, mode=0o600)
            if host.dry_run:
                return
            got = host.probe(f"sha256sum < {shlex.quote(remote)} | cut -c1-64").stdout.strip()
            if got != sha:
                raise RemoteError(
                    m.name,
                    f"upload {remote}",
                    f"the uploaded snapshot's sha256 {got[:16]}… is not {sha[:16]}…",
                )
            say(host, f"uploaded {self.a.snapshot.size} bytes, sha256 checked")

        return Step(m.name, "upload snapshot", check, apply, key=self._key(m, "upload"))

    def _restore(self, m: Node) -> Step:
        script = restore_script(self.plan, m, self.id)

        def apply(host) -> None:
            r = host.run(script, timeout=600)
            facts = dict(line.partition("=")[::2] for line in r.stdout.splitlines() if "=" in line)
            report = self.reports[m.name]
            report.restored = not host.dry_run
            report.tool = facts.get("tool", "")
            report.bump = facts.get("bump", "")

        return Step(
            m.name,
            "etcdutl snapshot restore",
            self._data_missing,
            apply,
            key=self._key(m, "restore"),
            once=True,
        )

    def _config(self, m: Node) -> Step:
        text = render.render_config(self.plan, m, render.ClusterState.EXISTING)

        def check(host) -> bool:
            return host.read_text_or_none(render.CONFIG_PATH) != text

        def apply(host) -> None:
            host.put(text, render.CONFIG_PATH, mode=0o640, owner="root", group="etcd")

        return Step(m.name, "configuration (existing)", check, apply, key=self._key(m, "config"))

    def _start(self, m: Node) -> Step:
        def check(host) -> bool:
            return host.probe(["systemctl", "is-active", "etcd"]).stdout.strip() != "active"

        def apply(host) -> None:
            host.run(["systemctl", "reset-failed", "etcd"], check=False)
            host.run(["systemctl", "enable", "etcd"])
            etcd_member.start(host, no_block=True)  # together: each waits for a quorum
            if not host.dry_run:
                watch_started(host)  # exits at once: fail here, quoting its journal

        return Step(m.name, "start etcd", check, apply, key=self._key(m, "start"))

    def _wait(self) -> Step:
        def apply(local) -> None:
            self.health_after = wait_converged(self.plan, self.health_timeout)
            self.healthy_at = time.monotonic()
            local.output(str(getattr(self.health_after, "summary", "")))

        return Step(
            None, "wait until every member is healthy", None, apply, key=f"restore/{self.id}/wait"
        )

    def _flip(self, m: Node) -> Step:
        def check(host) -> bool:
            text = host.read_text_or_none(render.CONFIG_PATH)
            return text is None or render.config_state(text) is not render.ClusterState.EXISTING

        def apply(host) -> None:
            text = render.render_config(self.plan, m, render.ClusterState.EXISTING)
            host.put(text, render.CONFIG_PATH, mode=0o640, owner="root", group="etcd")

        return Step(
            m.name, "initial-cluster-state: existing", check, apply, key=self._key(m, "flip")
        )

    def _snapshot(self, m: Node) -> Step:
        def apply(host) -> None:
            self.fresh = take_snapshot(host, self.plan, m, say=lambda line: say(host, line))

        return Step(
            m.name, "snapshot of the restored cluster", None, apply, key=self._key(m, "snapshot")
        )

    def _cleanup(self, m: Node) -> Step:
        remote = remote_snapshot_path(self.id)
        work = restoring_path(self.plan, self.id)

        def check(host) -> bool:
            return host.exists(remote) or host.exists(work)

        def apply(host) -> None:
            # the uploaded copy and an (impossible by now) leftover work dir: never a data dir
            host.run(["rm", "-rf", "--", remote, work])

        return Step(m.name, "remove the uploaded snapshot", check, apply, key=self._key(m, "rm"))
