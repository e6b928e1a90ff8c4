"""Rolling etcd upgrades, the way etcd's upgrade guides describe them.

Rules (each a refusal with the reason and the fix, checked before anything changes):
- every member healthy, and on one version (or, when resuming an interrupted upgrade, on the
  old and the new version only);
- no downgrade; no skipped minor (3.4 -> 3.6 goes through 3.5); the new binary's version is
  read from the binary itself and must be the one asked for.

Order: followers one at a time, **the leader last** (one leader election, not one per member);
each member is stopped, gets its new binaries (and unit/config), is started, and the next one
waits until it is healthy, has caught up (raft index within `CATCH_UP_WINDOW` of the leader's)
and reports the new server version. A member that became leader meanwhile hands leadership to
the member planned last before it is stopped. etcd moves the cluster version (`/version` ->
`etcdcluster`) to the new minor by itself once every member runs it.

Pure rules first (tested without etcd), then the per-member procedure over a `Host`.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from hawizard.etcd import member as etcd_member
from hawizard.etcd.member import CATCH_UP_WINDOW as CATCH_UP_WINDOW
from hawizard.etcd.member import caught_up as caught_up
from hawizard.health import ClusterHealth
from hawizard.plan import Node, Plan

MEMBER_TIMEOUT = 120.0  # seconds for one member to be back, healthy, caught up, on the new version
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


class UpgradeRefused(Exception):
    """An upgrade that must not start (or go on): `reason` and the `hint` that fixes it."""

    def __init__(self, reason: str, hint: str = "") -> None:
        self.reason = reason
        self.hint = hint
        super().__init__(f"{reason} ({hint})" if hint else reason)


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> Version:
        """The first x.y.z in `text` ("3.5.1", "etcd Version: 3.5.1", "3.4.23-4+b4")."""
        match = _VERSION.search(text or "")
        if not match:
            raise ValueError(f"{text!r} holds no etcd version (x.y.z)")
        return cls(*(int(g) for g in match.groups()))

    @property
    def minor_line(self) -> str:
        return f"{self.major}.{self.minor}"

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


def judge_path(current: Version, target: Version) -> None:
    """Raise UpgradeRefused for a downgrade or a skipped minor; same version is fine (no-op)."""
    if target < current:
        raise UpgradeRefused(
            f"etcd {target} is older than the cluster's {current}: etcd does not support "
            "downgrading a running cluster",
            f"keep etcd.binaries at {current} or newer; to go back, restore a snapshot taken "
            f"before the upgrade into a cluster of {target}",
        )
    if target.major != current.major or target.minor > current.minor + 1:
        step = Version(current.major, current.minor + 1, 0)
        raise UpgradeRefused(
            f"etcd {current} -> {target} skips a minor version: etcd upgrades one minor at a time",
            f"upgrade to the latest {step.minor_line}.x first, then to {target}",
        )


def judge_cluster(
    health: ClusterHealth, target: Version, stopped: frozenset[str] = frozenset()
) -> Version:
    """The version the cluster runs now; refuse unless every member is healthy and on one
    version (old and `target` only: an interrupted upgrade may be resumed). `stopped`: the
    member(s) an interrupted upgrade stopped itself (its record says so), which may be down
    while the others hold the quorum: the resume starts them first."""
    sick = [m.name for m in health.members if m.in_plan and not m.healthy]
    if set(sick) <= stopped and health.quorum_ok and health.leader_name:
        sick = []
    if sick or not health.quorum_ok or not health.leader_name:
        who = ", ".join(sick) or "no leader"
        raise UpgradeRefused(
            f"not every member is healthy ({who}): a rolling upgrade stops one member at a "
            "time and needs all the others",
            "bring them back first (`hawizard status PLAN` shows why), or replace a dead "
            "member with `hawizard etcd replace`",
        )
    if health.design_tolerance < 1:
        raise UpgradeRefused(
            f"a cluster of {health.voter_count} member(s) tolerates no failure: stopping any "
            "member for its upgrade would stop every write",
            "grow the cluster to 3 members first (`hawizard etcd add`), or upgrade it offline",
        )
    down = {m.name for m in health.members if m.in_plan and not m.healthy}
    versions = {m.name: m.version for m in health.members if m.in_plan and m.name not in down}
    if any(not v for v in versions.values()):
        raise UpgradeRefused(
            "a member did not report its version", "check `hawizard status PLAN --json`"
        )
    seen = {Version.parse(v) for v in versions.values()}
    old = seen - {target}
    if len(old) > 1:
        listed = ", ".join(f"{n} {v}" for n, v in sorted(versions.items()))
        raise UpgradeRefused(
            f"the members run different etcd versions ({listed})",
            "finish the upgrade that was under way (same target) before another",
        )
    current = min(seen) if not old else old.pop()
    judge_path(current, target)
    return current


def upgrade_order(
    health: ClusterHealth, plan_order: Sequence[str], first: Iterable[str] = ()
) -> list[str]:
    """Followers in plan order, then the leader; `first` (members an interrupted upgrade left
    stopped) before every other: the cluster is one member short until they are back."""
    leader = health.leader_name
    front = [n for n in plan_order if n in set(first) and n != leader]
    rest = [n for n in plan_order if n != leader and n not in front]
    return front + rest + ([leader] if leader in plan_order else [])


# --- the cluster version ---------------------------------------------------------------------


def cluster_version(plan: Plan, member: Node, context: ssl.SSLContext, timeout: float) -> dict:
    """GET /version of one member: {"etcdserver": "3.5.1", "etcdcluster": "3.5.0"}."""
    import http.client

    conn = http.client.HTTPSConnection(
        member.address, plan.etcd.client_port, context=context, timeout=timeout
    )
    try:
        conn.request("GET", "/version")
        return json.loads(conn.getresponse().read(4096))
    finally:
        conn.close()


# --- one member --------------------------------------------------------------------------------

Say = Callable[[str], None]
Probe = Callable[[], ClusterHealth]


def wait_member(
    probe: Probe,
    name: str,
    target: Version,
    timeout: float = MEMBER_TIMEOUT,
    interval: float = 0.5,
) -> ClusterHealth:
    """Until the cluster is converged, `name` has caught up and reports `target`."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        health = probe()
        row = next((m for m in health.members if m.name == name), None)
        version = row.version if row else ""
        if health.converged and version == str(target) and caught_up(health, name):
            return health
        last = f"{health.summary}; {name} reports {version or 'nothing'}" + (
            "" if caught_up(health, name) else ", not caught up"
        )
        if time.monotonic() >= deadline:
            raise UpgradeRefused(
                f"{name} did not come back on etcd {target} within {timeout:g} s ({last})",
                f"see `journalctl -u etcd` on {name}; `hawizard etcd upgrade` resumes",
            )
        time.sleep(interval)


def hand_over_leadership(plan: Plan, member: Node, to: str, say: Say) -> None:
    """If `member` leads, pass leadership to `to` (best effort: a failed transfer only means
    one short election when the member stops; etcd's own stop also tries to hand it over)."""
    try:
        if etcd_member.hand_over_leadership(plan, member, to=to) is not None:
            say(f"{member.name} leads: leadership handed to {to} before the stop")
    except Exception as exc:  # best effort, see docstring
        say(f"leadership not handed over ({exc}); stopping anyway")


def upgrade_member(
    host,
    plan: Plan,
    member: Node,
    target: Version,
    files: list,
    *,
    hand_to: str = "",
    timeout: float = MEMBER_TIMEOUT,
    say: Say | None = None,
) -> ClusterHealth | None:
    """Stop `member`, write its stale `files` (binaries, unit, config), start it, and wait
    until it is healthy, caught up and reports `target`. Returns the health it waited for."""
    from hawizard.etcd.probe import cluster_health
    from hawizard.etcd.render import UNIT_PATH
    from hawizard.remote_files import stale_files, write_files

    say = say or (lambda _line: None)
    stale = stale_files(host, files)
    if host.dry_run:
        etcd_member.stop(host)
        write_files(host, stale)
        etcd_member.start(host)
        return None
    if hand_to:
        hand_over_leadership(plan, member, hand_to, say)
    etcd_member.stop(host, timeout=timeout)
    write_files(host, stale)
    if any(f.path == UNIT_PATH for f in stale):
        host.run(["systemctl", "daemon-reload"])
    # Type=notify: start returns once the member serves (the others hold the quorum).
    etcd_member.start(host, timeout=timeout)
    health = wait_member(
        lambda: cluster_health(plan, min(plan.etcd.probe_timeout, 1.0)),
        member.name,
        target,
        timeout,
    )
    row = health.member(member.name)
    leader = health.member(health.leader_name)
    say(
        f"{member.name}: etcd {row.version}, healthy, raft index {row.raft_index} "
        f"(leader {leader.name} at {leader.raft_index})"
    )
    return health


# --- what a member gets, and the whole roll (apply's path) ------------------------------------


def target_version(
    plan: Plan, to: str | None = None, members: Iterable[str] | None = None
) -> Version:
    """The version `etcd.binaries` holds (read from the binary itself), which must be the one
    asked for (`to`, else `etcd.version`). Package-installed members among `members` (default:
    every member) are refused: their version is the distribution's; they move to uploaded
    binaries with `etcd_install = "upload"`."""
    from hawizard.etcd.binaries import BinariesError, binaries_version, check_pins

    among = set(members) if members is not None else {n.name for n in plan.etcd_nodes}
    packaged = [
        n.name for n in plan.etcd_nodes if n.name in among and plan.etcd_install(n) != "upload"
    ]
    if packaged:
        raise UpgradeRefused(
            f"{', '.join(packaged)} install etcd from packages: a rolling upgrade moves "
            "members to the binaries in etcd.binaries",
            'set etcd.install = "upload" (or etcd_install = "upload" on those nodes) with '
            "etcd.binaries holding the new release",
        )
    source = plan.resolve(plan.etcd.binaries)
    try:
        check_pins(source, plan.etcd.sha256)
        # the Go build info in the binary file, or the tarball name: never executed here
        # (issue 25: `etcd --version` ran whatever etcd.binaries held on this machine)
        known = binaries_version(source)
    except BinariesError as exc:
        raise UpgradeRefused(str(exc), "point etcd.binaries at the new release") from None
    if known is None:
        raise UpgradeRefused(
            f"the etcd binary in {source} names no version in its Go build information "
            "(and the file name none)",
            "point etcd.binaries at an official release tarball (etcd-vX.Y.Z-linux-amd64.tar.gz) "
            "or its unpacked folder",
        )
    found = Version.parse(known)
    asked = to or plan.etcd.version
    try:
        wanted = Version.parse(asked)
    except ValueError:
        raise UpgradeRefused(f"{asked!r} is not an etcd version", "give it as 3.5.1") from None
    if found != wanted:
        raise UpgradeRefused(
            f"etcd.binaries holds etcd {found} (its Go build information), not {wanted}",
            f"point etcd.binaries at etcd {wanted}, or set etcd.version = {str(found)!r}",
        )
    return found


def member_files(plan: Plan, m: Node) -> list:
    """What a member gets when it is upgraded: the new binaries and its unit (which names
    them: a member moving from the package to uploaded binaries gets a new ExecStart)."""
    from hawizard.etcd import render
    from hawizard.etcd.binaries import load_binaries
    from hawizard.remote_files import RemoteFile

    files = [
        RemoteFile(
            f"{render.UPLOAD_BIN_DIR}/{b.name}",
            b.data,
            0o755,
            gzipped=b.artifact.gzipped,
            sha256=b.sha256,
        )
        for b in load_binaries(plan.resolve(plan.etcd.binaries))
    ]
    files.append(RemoteFile(render.UNIT_PATH, render.render_unit(plan, m).encode(), 0o644))
    return files


def roll(plan: Plan, marked: set[str] | frozenset[str], say: Say, host_for=None) -> list[str]:
    """Upgrade the running cluster to `etcd.binaries`: judged first, then `marked` members (and
    any not on the new version) one at a time, the leader last. Returns who was upgraded."""
    from hawizard.etcd.probe import cluster_health
    from hawizard.remote import Host

    host_for = host_for or (lambda name: Host.from_plan(plan, name))
    # Only members that run the uploaded binaries move: a package-installed member keeps the
    # distribution's version (a mixed plan, warned about at validation and in apply).
    uploaded = {n.name for n in plan.etcd_nodes if plan.etcd_install(n) == "upload"}
    target = target_version(plan, members=uploaded | set(marked))
    health = cluster_health(plan)
    current = judge_cluster(health, target)
    order = upgrade_order(health, [m.name for m in plan.etcd_nodes])
    todo = [
        n
        for n in order
        if n in marked or (n in uploaded and health.member(n).version != str(target))
    ]
    say(
        f"rolling upgrade etcd {current} -> {target}: {', '.join(todo)}"
        f" (leader {health.leader_name} last)"
    )
    for name in todo:
        node = plan.node(name)
        with host_for(name) as host:
            hand_to = order[-1] if name != order[-1] else ""
            upgrade_member(
                host, plan, node, target, member_files(plan, node), hand_to=hand_to, say=say
            )
    return todo
