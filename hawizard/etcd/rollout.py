"""The etcd rollout as phases of steps: preflight, install (binaries, certificates,
configuration and unit), start, wait for health, roll changed settings one member at a time,
then mark the cluster `existing`.

Each step's `check` reads the node first, so a re-run on a converged cluster changes nothing
and restarts nothing. Steps share one `EtcdRollout` object: preflight records facts there and
later steps read them (the bootstrap decision, which members need a restart, whether the etcd
user exists and the service runs), so a converged member costs few round trips.

Per member, everything it needs (binaries, data and cert dirs, certificates, configuration,
marker, unit) is one group of files: preflight reads their states in its own round trip, and
one channel writes the stale ones (adding the `etcd` user first when it is missing). Barriers
sit only where the procedure needs every member: preflight before any change, the start of a
new cluster, the health wait, and the flip to `existing`.

This module orders the phases; the per-member install steps are `etcd.install`'s
(`MemberInstall`, mixed into `EtcdRollout`).
"""

from __future__ import annotations

import contextlib
import itertools
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hawizard.etcd import member as etcd_member
from hawizard.etcd import render
from hawizard.etcd.binaries import check_pins, check_version, load_binaries
from hawizard.etcd.install import ETC_DIR as ETC_DIR
from hawizard.etcd.install import MemberInstall, _nothing
from hawizard.etcd.preflight import Facts, failures, gather_with, judge
from hawizard.etcd.render import ClusterState
from hawizard.etcd.start_watch import watch_started
from hawizard.plan import Node, Plan
from hawizard.remote_files import (
    State,
    parse_states,
    states_script,
)
from hawizard.steps import Phase, Step, say

HEALTH_TIMEOUT = 120.0
_VERSION_MARK = "hawizard-etcd-version"
FAST_PROBE = 0.5  # seconds: a ready member answers far sooner on any sane network
HEALTH_ANSWER = 0.25  # seconds for one `/health` look during a start watch
PEER_WAIT = 3.0  # seconds: the longest wait for a member's peer port before the next starts


class PreflightFailed(Exception):
    pass


class BootstrapRefused(Exception):
    pass


@dataclass
class EtcdRollout(MemberInstall):
    plan: Plan
    members: tuple[Node, ...] = ()
    health_timeout: float = HEALTH_TIMEOUT
    wait_healthy: Callable[[Plan, float], object] | None = None
    # Day 2 (`hawizard etcd add`): members named here join the running cluster as `existing`
    # instead of being refused for having no data; `membership` is the initial-cluster every
    # config names (default: the plan's etcd nodes) — for a joiner, the members plus itself.
    joining: frozenset[str] = frozenset()
    membership: tuple[Node, ...] | None = None
    facts: dict[str, Facts] = field(default_factory=dict)
    state: dict[str, ClusterState] = field(default_factory=dict)
    restart: set[str] = field(default_factory=set)
    versions: dict[str, str] = field(default_factory=dict)  # member -> `etcd --version`
    upgrade: set[str] = field(default_factory=set)  # running members given new binaries
    started: set[str] = field(default_factory=set)
    file_states: dict[str, dict[str, State]] = field(default_factory=dict)
    _serving: dict[str, threading.Event] = field(default_factory=dict)  # new members, started
    _peer_probe_useful: bool = True
    version_texts: dict[str, str] = field(default_factory=dict)  # preflight's `etcd --version`
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if not self.members:
            self.members = self.plan.etcd_nodes
        if self.wait_healthy is None:
            self.wait_healthy = wait_converged

    # --- phases --------------------------------------------------------------------------

    def phases(self) -> list[Phase]:
        ms = self.members
        phases = [
            *self.setup_phases(),
            Phase("etcd health", [self._wait_step("wait until every member is healthy")]),
            Phase("etcd rolling upgrade", [self._upgrade_step()]),
        ]
        phases += [Phase(f"etcd rolling restart: {m.name}", [self._restart_step(m)]) for m in ms]
        phases.append(Phase("etcd mark existing", [self._mark_existing_step(m) for m in ms]))
        return phases

    def setup_phases(self) -> list[Phase]:
        """Preflight up to a started member: what a joining member needs, too."""
        return [*self.prepare_phases(), *self.start_phases()]

    def prepare_phases(self) -> list[Phase]:
        """Everything before etcd starts: preflight, the bootstrap decision, install (binaries,
        certificates, configuration, unit). A joining member is added to the cluster between
        these and `start_phases` (the membership change asks for them by name).

        For an upload install the binaries' version is checked against the plan here, before
        anything runs, and their gzip copies are made in the background meanwhile."""
        if any(self.plan.etcd_install(m) == "upload" for m in self.members):
            source = self.plan.resolve(self.plan.etcd.binaries)
            check_pins(source, self.plan.etcd.sha256)
            check_version(source, self.plan.etcd.version)
            for b in load_binaries(source):
                b.artifact.prepare()
        ms = self.members
        return [
            Phase("etcd preflight", [self._preflight_step(m) for m in ms]),
            Phase("etcd bootstrap or join", [self._decide_step()]),
            Phase("etcd install", [s for m in ms for s in self._install_steps(m)]),
        ]

    def start_phases(self) -> list[Phase]:
        """Start etcd on the members (a new cluster's members all at once)."""
        return [Phase("etcd start", [self._start_step(m) for m in self.members])]

    # --- preflight -----------------------------------------------------------------------

    def _preflight_step(self, m: Node) -> Step:
        def check(host) -> bool:
            # The states of the member's files come back in the same round trip; the install
            # step compares them instead of reading them again.
            # So does the installed etcd's version: the version step uses it unless this run
            # installs something on the member.
            files = self._files(m)
            paths = [f.path for f in files]
            version = f"echo {_VERSION_MARK}; {shlex.quote(render.etcd_binary(self.plan, m))}"
            binaries = {f.path for f in files if f.remember}
            states_sh = states_script(paths, cached=binaries, record=not host.dry_run)
            extra = f"{states_sh}\n{version} --version 2>/dev/null; true"
            facts, out = gather_with(host, self.plan, extra)
            states, _, version_text = out.partition(f"{_VERSION_MARK}\n")
            with self._lock:
                self.facts[m.name] = facts
                self.file_states[m.name] = parse_states(states, paths)
                self.version_texts[m.name] = version_text
            checks = judge(self.plan, m, facts)
            for c in checks:
                say(host, f"{c.verdict.value:4} {c.name}: {c.detail}")
            bad = failures(checks)
            if bad:
                raise PreflightFailed("; ".join(f"{c.name}: {c.detail}" for c in bad))
            return False

        return Step(m.name, "preflight", check, _nothing)

    def _decide_step(self) -> Step:
        def check(local) -> bool:
            configured = {
                name: render.config_state(f.config) if f.config else None
                for name, f in self.facts.items()
            }
            bootstrapped = any(s is ClusterState.EXISTING for s in configured.values())
            for m in self.members:
                facts = self.facts[m.name]
                if m.name in self.joining:
                    self.state[m.name] = ClusterState.EXISTING
                elif not bootstrapped:
                    self.state[m.name] = ClusterState.NEW
                elif facts.has_data:
                    self.state[m.name] = ClusterState.EXISTING
                else:
                    raise BootstrapRefused(
                        f"{m.name} has no etcd data but the cluster is already bootstrapped, "
                        "and a member is never bootstrapped again. A new node joins with "
                        f"`hawizard etcd add PLAN {m.name}`; a member that lost its data dir "
                        f"is re-added with `hawizard etcd replace PLAN {m.name} {m.name}`"
                    )
            new = [n for n, s in self.state.items() if s is ClusterState.NEW]
            local.output(
                f"bootstrapping a new cluster of {len(new)} members"
                if new
                else f"joining the running cluster: {', '.join(sorted(self.joining))}"
                if self.joining
                else "cluster already bootstrapped: converging its members"
            )
            return False

        return Step(None, "decide: bootstrap or converge", check, _nothing)

    # --- start, health, restarts ------------------------------------------------------------

    def _start_step(self, m: Node) -> Step:
        def check(host) -> bool:
            if self._running(m, host):
                self._release(m.name)  # running already (a resumed bootstrap): next one, go
                return False
            return True

        def apply(host) -> None:
            # A new cluster's members start in order, each once the one before serves its
            # peer port (`peer_ready`): started at once, each would wait up to a second on
            # every other. --no-block: a bootstrapping member waits for its peers
            # (Type=notify), so the health phase waits for the quorum.
            with self._after_previous(m, host):
                self._start(m, host)
                with self._lock:
                    self.started.add(m.name)
            # After the next member was let go: a member that exits at once fails here,
            # quoting its journal, not minutes later in a health or promote wait. The watch
            # ends as soon as the member answers healthy (for a new cluster: once a quorum
            # started), so a rollout does not wait out the whole stay on every member.
            if not host.dry_run:
                watch_started(host, until=self._answers_health(m))

        return Step(m.name, "start etcd", check, apply)

    def _running(self, m: Node, host) -> bool:
        facts = self.facts.get(m.name)
        if facts is not None and facts.etcd_enabled is not None:
            # preflight read both in its round trip, and nothing since stopped etcd
            return bool(facts.etcd_active and facts.etcd_enabled)
        state = host.probe("systemctl is-active etcd; systemctl is-enabled etcd").stdout
        return state.split() == ["active", "enabled"]

    def _release(self, name: str) -> None:
        with self._lock:
            self._serving.setdefault(name, threading.Event()).set()

    def _start(self, m: Node, host) -> None:
        """One call: enable (which reloads systemd) and start. On a node that had no etcd
        unit file before this run, systemd loads the new one on demand at the start: the
        reload `enable` would do (~0.1 s of systemd's CPU per node) is skipped."""
        facts = self.facts.get(m.name)
        if facts is not None and facts.etcd_unit_known is False:
            host.run("systemctl enable --quiet --no-reload etcd && systemctl start --no-block etcd")
        else:
            host.run(["systemctl", "enable", "--now", "--no-block", "etcd"])

    @contextlib.contextmanager
    def _after_previous(self, m: Node, host):
        """For a new cluster's member: wait (bounded) until the member before it in the plan
        serves its peer port, run the body (its start), then wait until this one serves and
        let the next one go. Anything else (a restart, a joiner, a dry run) goes at once."""
        order = [n.name for n in self.members if self.state.get(n.name) is ClusterState.NEW]
        if m.name not in order or host.dry_run:
            yield
            return
        with self._lock:
            for name in order:
                self._serving.setdefault(name, threading.Event())
        at = order.index(m.name)
        if at > 0:
            self._serving[order[at - 1]].wait(PEER_WAIT)
        try:
            yield
            if at < len(order) - 1 and self._peer_probe_useful:
                self._wait_serving(m, host)
        finally:
            self._release(m.name)

    def _wait_serving(self, m: Node, host) -> None:
        from hawizard.etcd.peer_ready import wait_serving
        from hawizard.etcd.probe import ClientTLS

        try:
            context = ClientTLS.for_plan(self.plan).context()
        except (OSError, ValueError):
            return
        waited = wait_serving(context, m.address, self.plan.etcd.peer_port, PEER_WAIT)
        if not waited.reachable:
            self._peer_probe_useful = False  # a firewall between: the rest start at once
            say(host, f"peer port {self.plan.etcd.peer_port} not reachable from here")

    def _answers_health(self, m: Node) -> Callable[[], bool] | None:
        from hawizard.etcd.peer_ready import answers_health
        from hawizard.etcd.probe import ClientTLS

        try:
            context = ClientTLS.for_plan(self.plan).context()
        except (OSError, ValueError):
            return None  # no usable client certificate here: the watch takes its whole stay
        port = self.plan.etcd.client_port
        return lambda: answers_health(context, m.address, port, HEALTH_ANSWER)

    def _healthy_now(self) -> bool:
        try:
            self.wait_healthy(self.plan, 0.0)
        except Exception:
            return False
        return True

    def _wait_step(self, title: str) -> Step:
        def check(local) -> bool:
            # Members started just now are certainly not healthy yet: skip straight to the
            # wait instead of spending a probe round (up to its timeout) to learn that.
            return bool(self.started) or not self._healthy_now()

        def apply(local) -> None:
            health = self.wait_healthy(self.plan, self.health_timeout)
            local.output(str(getattr(health, "summary", health)))

        return Step(None, title, check, apply)

    def _upgrade_step(self) -> Step:
        def check(local) -> bool:
            return bool(self.upgrade)

        def apply(local) -> None:
            from hawizard.etcd.upgrade import roll

            done = roll(self.plan, frozenset(self.upgrade), local.output)
            with self._lock:
                self.restart.difference_update(done)  # just restarted with everything new

        return Step(None, "rolling upgrade: followers first, the leader last", check, apply)

    def _restart_step(self, m: Node) -> Step:
        def check(host) -> bool:
            return m.name in self.restart

        def apply(host) -> None:
            etcd_member.restart(host, timeout=self.health_timeout)
            self.wait_healthy(self.plan, self.health_timeout)
            say(host, "cluster healthy again")

        return Step(m.name, "restart with new settings", check, apply)

    def _mark_existing_step(self, m: Node) -> Step:
        """After bootstrap: `existing`, so a restart with a lost data dir can never create a
        second cluster under the same name. No restart needed: etcd reads it at start only."""

        def check(host) -> bool:
            # The install phase made the node's config exactly the one rendered for this
            # member's state (or found it so), so the state says what the file says.
            return self.state.get(m.name) is ClusterState.NEW

        def apply(host) -> None:
            text = render.render_config(self.plan, m, ClusterState.EXISTING)
            host.put(text, render.CONFIG_PATH, mode=0o640, owner="root", group="etcd")

        return Step(m.name, "initial-cluster-state: existing", check, apply)


def wait_converged(plan: Plan, timeout: float) -> object:
    """Wait for a converged cluster, quickly: a starting member accepts TCP but holds the TLS
    handshake until it is ready, so most rounds use a short probe timeout; every fourth round
    uses the plan's full one, so a slow but healthy network still converges. A single check
    (`timeout` 0: "is it converged now?", e.g. on a re-apply) uses the full one too: a busy
    but healthy cluster must not be taken for a sick one, which would cost a wait step."""
    from hawizard.etcd.probe import ClusterNotHealthy, wait_healthy, why_not_healthy

    deadline = time.monotonic() + timeout
    for round_no in itertools.count():
        full = plan.etcd.probe_timeout
        fast = round_no % 4 != 3 and timeout > 0
        probe_timeout = min(FAST_PROBE, full) if fast else full
        try:
            return wait_healthy(plan, timeout=0.0, probe_timeout=probe_timeout)
        except ClusterNotHealthy as exc:
            if time.monotonic() >= deadline:
                raise ClusterNotHealthy(why_not_healthy(exc.health, timeout), exc.health) from None
            time.sleep(0.25)
    raise AssertionError("unreachable")  # pragma: no cover


def etcd_phases(plan: Plan, **kwargs) -> list[Phase]:
    return EtcdRollout(plan, **kwargs).phases()
