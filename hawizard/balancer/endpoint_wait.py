"""The balancer phase's last step: wait, bounded, until the endpoint is served.

keepalived elects a holder seconds after it starts (BACKUP → MASTER after about three advert
intervals), and haproxy's backend checks need `rise` rounds: an `apply` that said "converged"
as soon as the services ran left `hawizard status` at exit 2 ("no balancer node holds the
VIP"). So, like etcd's "wait until every member is healthy", the phase ends with a local step
that probes the endpoint as `status` does (`probe.probe_balancer`, the same judge) until it
has no problem: in vip mode exactly one node holds the VIP, and `VIP:port` accepts TCP.

Its check is one probe round: on a converged endpoint it passes at once and a re-apply
changes nothing. When the bound runs out the step fails naming what is still missing.
Warnings (a backend not UP yet, a service state) do not hold the wait up once the endpoint
is served; they are printed as the step's output so the operator sees them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from hawizard.balancer.probe import BalancerHealth, probe_balancer
from hawizard.plan import BalancerMode, Plan
from hawizard.steps import Step

__all__ = ["EndpointNotServed", "endpoint_wait_step", "wait_served", "wait_timeout"]

Probe = Callable[[Plan, float], "BalancerHealth | None"]
POLL = 0.5  # seconds between probe rounds (each round is itself bounded by its timeout)
MIN_WAIT = 30.0  # seconds: election (3 adverts + skew) and haproxy's `rise 2` x `inter 3s`


class EndpointNotServed(Exception):
    """The endpoint was still not served when the wait's bound ran out: the message names
    every problem left (no holder, two holders, no TCP answer...)."""


def wait_timeout(plan: Plan) -> float:
    """Seconds to wait: long enough for several elections at the plan's advert interval."""
    return max(MIN_WAIT, 10 * plan.load_balancer.advert_interval)


def probe_timeout(plan: Plan) -> float:
    return max(plan.etcd.probe_timeout, 1.0)


def served(health: BalancerHealth | None) -> bool:
    """Served: the judge (the one `status` uses) found no problem."""
    return health is None or not health.problems


def wait_served(
    plan: Plan,
    timeout: float,
    *,
    probe: Probe = probe_balancer,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> BalancerHealth | None:
    """Probe until `served`, or raise EndpointNotServed after `timeout` seconds."""
    deadline = clock() + timeout
    while True:
        health = probe(plan, probe_timeout(plan))
        if served(health):
            return health
        if clock() >= deadline:
            assert health is not None
            raise EndpointNotServed(
                f"the endpoint {health.endpoint} is not served {timeout:g} s after the "
                f"balancer's rollout: {'; '.join(health.problems)}. See "
                "`journalctl -u keepalived -u haproxy` on the balancer nodes, then re-run "
                "apply (finished steps are skipped)"
            )
        sleep(POLL)


def endpoint_wait_step(plan: Plan, probe: Probe = probe_balancer) -> Step:
    """The local step that ends the balancer phase (vip and single modes)."""
    vip = plan.balancer_mode == BalancerMode.VIP
    title = (
        "wait until one node holds the VIP and the endpoint answers"
        if vip
        else "wait until the endpoint answers"
    )

    def check(local) -> bool:
        return not served(probe(plan, probe_timeout(plan)))

    def apply(local) -> None:
        start = time.monotonic()
        health = wait_served(plan, wait_timeout(plan), probe=probe)
        if health is None:
            return
        who = f"{', '.join(health.holders)} holds the VIP; " if vip else ""
        local.output(
            f"{who}{health.endpoint} answers TCP ({time.monotonic() - start:.1f} s after the "
            "services started)"
        )
        for warning in health.warnings:
            local.output(f"warning: {warning}")

    return Step(None, title, check, apply)
