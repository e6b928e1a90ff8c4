"""After a restore or a recovery: restart the masters' apiservers, one at a time.

A kube-apiserver keeps a watch cache per resource, filled from etcd's revisions. After etcd
was rebuilt (a restore rolls the data back; a recovery may drop writes the survivor never
saw) those caches can serve objects etcd no longer holds, until the apiserver re-lists. A
restart makes it re-list; one master at a time, each ready (`/livez`, `/readyz`) before the
next, keeps the API up behind the load balancer. A master whose apiserver is not running is
left alone (nothing is cached there), and said so.

This spans etcd and the control plane, so it lives in `ops/`.
"""

from __future__ import annotations

from hawizard.plan import Plan
from hawizard.steps import Phase, Step, say

__all__ = ["apiserver_restart_phases"]

UNIT = "kube-apiserver"


def apiserver_restart_phases(plan: Plan, key_prefix: str, done: list[str]) -> list[Phase]:
    """One phase per master (so one at a time); `done` collects the restarted masters'
    names for the summary. Journal keys under `key_prefix`; each restart runs once."""
    return [
        Phase(f"restart kube-apiserver: {m.name}", [_restart(plan, m, key_prefix, done)])
        for m in plan.control_plane_nodes
    ]


def _restart(plan: Plan, m, key_prefix: str, done: list[str]) -> Step:
    def check(host) -> bool:
        state = host.probe(["systemctl", "is-active", UNIT]).stdout.strip()
        if state != "active":
            say(host, f"{UNIT} is not running here ({state or 'unknown'}): nothing to restart")
        return state == "active"

    def apply(host) -> None:
        from hawizard.control_plane.rollout import READY_TIMEOUT, wait_apiserver_ready

        host.run(["systemctl", "restart", UNIT], timeout=120)
        if host.dry_run:
            return
        wait_apiserver_ready(plan, m, READY_TIMEOUT)
        say(host, f"{UNIT} restarted and ready: its watch cache re-listed from etcd")
        done.append(m.name)

    return Step(
        m.name,
        "restart kube-apiserver (watch cache from the rebuilt etcd)",
        check,
        apply,
        key=f"{key_prefix}/{m.name}/apiserver",
        once=True,
    )
