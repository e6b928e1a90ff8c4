"""The phases of `hawizard etcd recover` (`ops/recover.py` judges and drives them).

Stop etcd everywhere · copy the survivor's data dir aside (kept) · start it once with
`force-new-cluster: true` — a config copy and a unit drop-in under /run, so neither a crash nor
a reboot can leave the flag behind — and wait until it serves alone · remove both, restart it
normally · then each other member, one at a time: old data dir set aside (kept), prepared as
`etcd add` prepares a joiner (preflight, install, certificates, configuration), `member add` as
a learner, started `existing`, promoted once caught up · every configuration names the whole
plan · the masters' apiservers restarted one at a time · a fresh snapshot.

Journal keys carry the recovery's id; the destructive or membership-changing steps are `once`.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from hawizard.etcd import member as etcd_member
from hawizard.etcd import render
from hawizard.etcd.cluster_api import ClusterAPI, EtcdRefused, GatewayUnreachable, targets_for
from hawizard.etcd.rollout import EtcdRollout, wait_converged
from hawizard.etcd.snapshot import SnapshotInfo, take_snapshot
from hawizard.ops.apiservers import apiserver_restart_phases
from hawizard.plan import Node, Plan
from hawizard.remote import RemoteError
from hawizard.steps import Phase, Step, say

if TYPE_CHECKING:
    from hawizard.ops.recover import Survey

__all__ = ["DROP_IN", "FORCE_CONFIG", "RecoverRun", "rekeyed"]

HEALTH_TIMEOUT = 180.0
CATCH_UP_TIMEOUT = 300.0
RUN_DIR = "/run/hawizard-recover"
FORCE_CONFIG = f"{RUN_DIR}/etcd.force-new-cluster.yml"
DROP_IN = "/run/systemd/system/etcd.service.d/hawizard-force-new-cluster.conf"


def rekeyed(phases: list[Phase], prefix: str) -> list[Phase]:
    """A rollout's phases under this recovery's journal keys (several rollouts in one run
    would otherwise share the key of their local decide step)."""
    return [Phase(p.title, [replace(s, key=f"{prefix}/{s.key}") for s in p.steps]) for p in phases]


@dataclass
class RecoverRun:
    plan: Plan
    survey: Survey
    health_timeout: float = HEALTH_TIMEOUT
    notes: list[str] = field(default_factory=list)
    first_write_at: float | None = None  # monotonic: the survivor served alone
    healthy_at: float | None = None
    health_after: Any = None
    fresh: SnapshotInfo | None = None
    apiservers: list[str] = field(default_factory=list)  # masters whose apiserver restarted

    @property
    def id(self) -> str:
        return self.survey.record.id

    def _key(self, node: str, what: str) -> str:
        return f"recover/{self.id}/{node}/{what}"

    def phases(self) -> list[Phase]:
        ms = self.plan.etcd_nodes
        survivor = self.plan.node(self.survey.survivor.name)
        phases = [
            Phase("recover: stop etcd", [self._stop(m) for m in ms]),
            Phase("recover: keep the survivor's data", [self._keep(survivor)]),
            Phase("recover: force-new-cluster", [self._force(survivor)]),
            Phase("recover: restart the survivor normally", [self._normal(survivor)]),
        ]
        joined = [survivor]
        for m in ms:
            if m.name == survivor.name:
                continue
            joined.append(m)
            phases += self._rejoin(m, tuple(n for n in ms if n in joined))
        phases += [
            Phase("recover: wait healthy", [self._wait()]),
            Phase("recover: configuration", [self._config(m) for m in ms]),
            *apiserver_restart_phases(self.plan, f"recover/{self.id}", self.apiservers),
            Phase("recover: fresh snapshot", [self._snapshot(survivor)]),
        ]
        return phases

    def _stop(self, m: Node) -> Step:
        def check(host) -> bool:
            state = host.probe(["systemctl", "is-active", "etcd"]).stdout.strip()
            return state not in ("inactive", "failed", "unknown")

        def apply(host) -> None:
            etcd_member.stop(host, timeout=120)

        return Step(m.name, "stop etcd", check, apply, key=self._key(m.name, "stop"), once=True)

    def _keep(self, m: Node) -> Step:
        data = self.plan.etcd.data_dir.rstrip("/")
        aside = f"{data}.before-recover-{self.survey.record.stamp}"

        def check(host) -> bool:
            if host.exists(aside):
                say(host, f"kept already as {aside}")
                return False
            return True

        def apply(host) -> None:
            # under a work name first: an interrupted copy is never taken for the kept one
            partial = f"{aside}.partial"
            host.run(["rm", "-rf", "--", partial])
            host.run(["cp", "-a", "--", data, partial])
            host.run(["mv", "-T", "--", partial, aside])
            say(host, f"the survivor's data before the recovery is kept as {aside}")
            self.notes.append(f"{m.name}: the data before the recovery is kept as {aside}")

        return Step(m.name, "copy the data dir aside", check, apply, key=self._key(m.name, "keep"))

    def _force(self, m: Node) -> Step:
        config = render.render_config(self.plan, m, render.ClusterState.EXISTING)
        drop_in = (
            "# hawizard etcd recover: one start with --force-new-cluster (removed after it)\n"
            "[Service]\nExecStart=\n"
            f"ExecStart={render.etcd_binary(self.plan, m)} --config-file {FORCE_CONFIG}\n"
        )
        view = _only(self.plan, [m.name])

        def apply(host) -> None:
            host.run(["install", "-d", "-m", "0750", "-o", "root", "-g", "etcd", RUN_DIR])
            host.put(
                config.rstrip("\n") + "\nforce-new-cluster: true\n",
                FORCE_CONFIG,
                mode=0o640,
                owner="root",
                group="etcd",
            )
            host.run(["mkdir", "-p", DROP_IN.rsplit("/", 1)[0]])
            host.put(drop_in, DROP_IN, mode=0o644)
            host.run(["systemctl", "daemon-reload"])
            host.run(["systemctl", "reset-failed", "etcd"], check=False)
            etcd_member.start(host, timeout=150)  # alone, it needs no one: returns serving
            if host.dry_run:
                return
            wait_converged(view, self.health_timeout)
            self.first_write_at = time.monotonic()
            say(host, f"{m.name} serves alone (force-new-cluster): writes are accepted")

        return Step(
            m.name,
            "start once with --force-new-cluster",
            None,
            apply,
            key=self._key(m.name, "force"),
            once=True,
        )

    def _normal(self, m: Node) -> Step:
        q = shlex.quote
        config = render.render_config(self.plan, m, render.ClusterState.EXISTING)
        view = _only(self.plan, [m.name])
        running_forced = (
            f"test -e {q(DROP_IN)} || test -e {q(FORCE_CONFIG)} || "
            "tr '\\0' ' ' < /proc/$(systemctl show -p MainPID --value etcd)/cmdline "
            f"2>/dev/null | grep -q {q(FORCE_CONFIG)}"
        )

        def check(host) -> bool:
            return host.probe(running_forced).exited == 0

        def apply(host) -> None:
            host.run(["rm", "-f", "--", DROP_IN, FORCE_CONFIG])
            host.run(["systemctl", "daemon-reload"])
            if host.read_text_or_none(render.CONFIG_PATH) != config:
                host.put(config, render.CONFIG_PATH, mode=0o640, owner="root", group="etcd")
            host.run(["systemctl", "enable", "etcd"])
            etcd_member.restart(host, timeout=150)
            if host.dry_run:
                return
            wait_converged(view, self.health_timeout)
            say(host, "restarted without --force-new-cluster (the flag is gone from the unit)")

        return Step(m.name, "restart normally", check, apply, key=self._key(m.name, "normal"))

    def _rejoin(self, m: Node, joined: tuple[Node, ...]) -> list[Phase]:
        rollout = EtcdRollout(
            self.plan,
            members=(m,),
            joining=frozenset({m.name}),
            membership=joined,
            health_timeout=self.health_timeout,
        )
        talk = tuple(n for n in joined if n.name != m.name)
        prefix = f"recover/{self.id}/{m.name}"
        return [
            Phase(f"recover {m.name}: old data aside", [self._aside(m)]),
            *rekeyed(rollout.prepare_phases(), prefix),
            Phase(f"recover {m.name}: member add", [self._add(m, talk)]),
            *rekeyed(rollout.start_phases(), prefix),
            Phase(f"recover {m.name}: promote", [self._promote(m, talk)]),
            Phase(f"recover {m.name}: wait healthy", [self._wait_some(joined)]),
        ]

    def _aside(self, m: Node) -> Step:
        data = self.plan.etcd.data_dir.rstrip("/")
        aside = f"{data}.replaced-{self.survey.record.stamp}"

        def check(host) -> bool:
            return host.exists(data)

        def apply(host) -> None:
            host.run(["mv", "-T", "--", data, aside])
            say(host, f"{data} renamed to {aside} (kept, never deleted)")
            self.notes.append(f"{m.name}: the old data dir is kept as {aside}")

        return Step(
            m.name,
            "set the old data dir aside",
            check,
            apply,
            key=self._key(m.name, "aside"),
            once=True,
        )

    def _api(self, talk: tuple[Node, ...]) -> ClusterAPI:
        return ClusterAPI(self.plan, targets_for(self.plan, talk))

    def _add(self, m: Node, talk: tuple[Node, ...]) -> Step:
        from hawizard.etcd.membership.phases import RECONFIG_RETRY, _retry

        url = render.peer_url(self.plan, m)

        def check(local) -> bool:
            if local.dry_run:
                return True
            found = self._api(talk).find(url, m.name)
            if found is not None:
                local.output(f"{m.name} is listed already ({found.hex_id}): reusing it")
            return found is None

        def apply(local) -> None:
            api = self._api(talk)
            try:
                added = _retry(lambda: api.add_learner(url), RECONFIG_RETRY, local.output)
            except (EtcdRefused, GatewayUnreachable):
                added = api.find(url, m.name)  # committed although the answer was lost
                if added is None:
                    raise
            local.output(f"added {m.name} as a learner ({added.hex_id}, {url})")

        return Step(
            None, f"member add {m.name} (learner)", check, apply, key=self._key(m.name, "add")
        )

    def _promote(self, m: Node, talk: tuple[Node, ...]) -> Step:
        from hawizard.etcd.membership.phases import _retry

        url = render.peer_url(self.plan, m)

        def check(local) -> bool:
            if local.dry_run:
                return True
            found = self._api(talk).find(url, m.name)
            if found is None:
                raise RemoteError(m.name, "promote", "not in the member list any more")
            return found.is_learner

        def apply(local) -> None:
            api = self._api(talk)
            found = api.find(url, m.name)
            assert found is not None
            start = time.monotonic()
            _retry(lambda: api.promote(found.id), CATCH_UP_TIMEOUT, local.output)
            local.output(f"{m.name} caught up and promoted in {time.monotonic() - start:.1f} s")

        return Step(
            None, f"promote {m.name} once caught up", check, apply, key=self._key(m.name, "promote")
        )

    def _wait_some(self, joined: tuple[Node, ...]) -> Step:
        view = _only(self.plan, [n.name for n in joined])

        def apply(local) -> None:
            if local.dry_run:
                return
            h = wait_converged(view, self.health_timeout)
            local.output(str(getattr(h, "summary", "")))

        names = ", ".join(n.name for n in joined)
        return Step(
            None,
            f"wait until {names} are healthy",
            None,
            apply,
            key=f"recover/{self.id}/wait/{names}",
        )

    def _wait(self) -> Step:
        def apply(local) -> None:
            if local.dry_run:
                return
            self.health_after = wait_converged(self.plan, self.health_timeout)
            self.healthy_at = time.monotonic()
            local.output(str(getattr(self.health_after, "summary", "")))

        return Step(
            None, "wait until every member is healthy", None, apply, key=f"recover/{self.id}/wait"
        )

    def _config(self, m: Node) -> Step:
        text = render.render_config(self.plan, m, render.ClusterState.EXISTING)

        def check(host) -> bool:
            return host.read_text_or_none(render.CONFIG_PATH) != text

        def apply(host) -> None:
            # membership only: a running member reads neither line, nobody restarts
            host.put(text, render.CONFIG_PATH, mode=0o640, owner="root", group="etcd")

        return Step(
            m.name,
            "configuration: the whole plan, existing",
            check,
            apply,
            key=self._key(m.name, "config"),
        )

    def _snapshot(self, m: Node) -> Step:
        def apply(host) -> None:
            self.fresh = take_snapshot(host, self.plan, m, say=lambda line: say(host, line))

        return Step(
            m.name,
            "snapshot of the recovered cluster",
            None,
            apply,
            key=self._key(m.name, "snapshot"),
        )


def _only(plan: Plan, names: list[str]) -> Plan:
    from hawizard.etcd.membership.plan_edits import plan_with_etcd_members

    return plan_with_etcd_members(plan, names)
