"""Preparing a node to join the running cluster as a new member: one procedure for
`etcd add NODE`, `etcd replace OLD NEW` and a member re-added in place (`replace N N`).

First its data dir: data that is not its own — a member this cluster removed (a recycled
machine, or a member whose data was lost, damaged or recreated empty by a failed restart) —
is renamed to `<data_dir>.replaced-<UTC>`, kept, never deleted. etcd never runs a removed
member's data again: started on it, it logs "the member has been permanently removed from the
cluster" and exits 0. Then preflight, install, certificates and configuration, as the rollout
does for every member (`EtcdRollout.prepare_phases`). `member add` and the start follow in
the change's own phases.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from datetime import UTC, datetime

from hawizard.etcd.cluster_api import ListedMember
from hawizard.etcd.data_dir import head_script, owner_from_script_output
from hawizard.etcd.rollout import EtcdRollout
from hawizard.plan import Node, Plan
from hawizard.steps import Phase, Step, say

Listed = Callable[[], ListedMember | None]


def joining_phases(
    plan: Plan,
    node: Node,
    rollout: EtcdRollout,
    *,
    set_aside: bool,
    listed: Listed,
    notes: list[str],
) -> list[Phase]:
    """The phases before `member add`. `set_aside` only where the membership rules allowed
    it (they refuse another cluster's data and a listed member's); `listed` finds the
    member list's entry for the node's peer URL; the kept dir's name is added to `notes`."""
    aside = [Phase("etcd old data aside", [set_aside_step(plan, node, listed, notes)])]
    return [*(aside if set_aside else []), *rollout.prepare_phases()]


def set_aside_step(plan: Plan, node: Node, listed: Listed, notes: list[str]) -> Step:
    """Rename the data dir aside unless it is the node's own: the WAL names the member the
    list holds for its peer URL (a learner that started, then stopped). A listed learner that
    never ran under its ID (a change that failed on stale data) does not own it."""
    data = plan.etcd.data_dir.rstrip("/")
    script = f"[ -e {shlex.quote(data + '/member')} ] && echo data=1; " + head_script(data)

    def check(host) -> bool:
        out = host.probe(script).stdout
        if "data=1" not in out:
            return False
        member = listed()
        owner = owner_from_script_output(out)
        if member is not None and (owner is None or owner.member_id == member.hex_id):
            say(host, f"{data} is {node.name}'s own (member {member.hex_id}): kept in place")
            return False
        if member is not None and owner is not None:
            say(host, f"{data} holds member {owner.member_id}'s data, not {member.hex_id}'s")
        return True

    def apply(host) -> None:
        aside = f"{data}.replaced-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
        host.run(["mv", "-T", "--", data, aside])
        say(host, f"{data} renamed to {aside} (kept, never deleted)")
        notes.append(f"the old data dir of {node.name} is kept as {aside}")

    return Step(node.name, "set the old data dir aside", check, apply)
