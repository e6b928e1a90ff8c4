"""Handing a vip-mode endpoint's VIP to another balancer node, and taking it back.

Before a balancer node that holds the VIP goes down (an upgrade, a reboot), keepalived is
stopped there — a marker in `/run` first, so a later run knows hawizard stopped it even when
this one is interrupted — and the caller waits until another balancer node holds the VIP.
Once the node is back, keepalived is started again and the marker removed. `ops.patch` runs
these as its per-node VIP and "back" steps.
"""

from __future__ import annotations

import time

from hawizard.plan import Plan

__all__ = [
    "KEEPALIVED_MARKER",
    "VIP_TIMEOUT",
    "keepalived_stopped_here",
    "start_keepalived_again",
    "stop_keepalived",
    "wait_vip_elsewhere",
]

VIP_TIMEOUT = 30.0
KEEPALIVED_MARKER = "/run/hawizard-patch-keepalived-stopped"


def stop_keepalived(host) -> None:
    """Stop keepalived on `host`, the marker first (recorded as side effects in a dry run)."""
    host.run(["touch", KEEPALIVED_MARKER])
    host.run(["systemctl", "stop", "keepalived"], timeout=60)


def wait_vip_elsewhere(plan: Plan, name: str) -> str:
    """The balancer node that holds the VIP once `name` has let it go; raises RuntimeError
    (naming how to start keepalived again) when none took it within `VIP_TIMEOUT`."""
    from hawizard.balancer.probe import probe_balancer

    deadline = time.monotonic() + VIP_TIMEOUT
    while True:
        lb = probe_balancer(plan)
        others = [h for h in (lb.holders if lb else []) if h != name]
        if len(others) == 1 and name not in (lb.holders if lb else []):
            return others[0]
        if time.monotonic() >= deadline:
            holders = ", ".join(lb.holders) if lb else "?"
            raise RuntimeError(
                f"no other balancer node took the VIP within {VIP_TIMEOUT:g} s of "
                f"stopping keepalived on {name} (holders: {holders})"
                f"; start it again with `systemctl start keepalived` on {name}"
            )
        time.sleep(0.5)


def keepalived_stopped_here(host) -> bool:
    """Whether hawizard stopped keepalived on `host` (the marker is there)."""
    return host.exists(KEEPALIVED_MARKER)


def start_keepalived_again(host) -> None:
    """Start keepalived on `host`, then remove the marker."""
    host.run(["systemctl", "start", "keepalived"], timeout=60)
    host.run(["rm", "-f", KEEPALIVED_MARKER])
