"""Every probe the TUI makes, behind one object.

The app holds one `Backend`; screens ask it for a probe round, the check of a membership
change, the readiness checklist. Tests pass a `Backend` whose fields are fixed answers (or
the old keyword arguments of `WizardApp`, which fill the same fields), so no screen reaches
for a network call of its own. A field left None means the real thing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hawizard.control_plane.probe import ApiserverHealth
    from hawizard.etcd.quorum_rules import TargetState
    from hawizard.health import ClusterHealth
    from hawizard.ops.check import Checklist
    from hawizard.ops.status import StatusReport
    from hawizard.plan import Plan

EtcdProbe = Callable[["Plan"], "ClusterHealth"]


def real_etcd_probe() -> EtcdProbe:
    """One round against every etcd member of the plan with the operator's client cert; the
    TLS context is made once per plan, and fails early (with the cert's path) when missing."""
    from hawizard.etcd import probe

    tls_by_plan: dict[int, Any] = {}

    def run(plan: Plan) -> ClusterHealth:
        key = id(plan)
        if key not in tls_by_plan:
            tls_by_plan.clear()
            tls = probe.ClientTLS.for_plan(plan)
            tls.context()
            tls_by_plan[key] = tls
        return probe.cluster_health(plan, tls=tls_by_plan[key])

    return run


@dataclass
class Backend:
    # one etcd probe round (None: `hawizard.etcd.probe` against the plan's members)
    health_probe: EtcdProbe | None = None
    # the masters' /livez and /readyz (None: `hawizard.control_plane.probe`)
    apiserver_probe: Callable[[Plan], list[ApiserverHealth]] | None = None
    # the endpoint: VIP holder, keepalived, haproxy, TCP (None: `hawizard.balancer.probe`)
    balancer_probe: Callable[[Plan], Any] | None = None
    # day 2: what SSH shows about a node to add (None: `membership.assess`'s own look)
    target_probe: Callable[[Plan, str], TargetState] | None = None
    # the production checklist (None: `hawizard.ops.check.run_check`, SSH + HTTPS)
    readiness_check: Callable[[Plan], Checklist] | None = None
    _etcd: EtcdProbe | None = field(default=None, init=False, repr=False)

    def etcd_probe(self) -> EtcdProbe:
        """The etcd probe to use now (the real one keeps its TLS context between rounds)."""
        if self.health_probe is not None:
            return self.health_probe
        if self._etcd is None:
            self._etcd = real_etcd_probe()
        return self._etcd

    def forget_tls(self) -> None:
        """After a failed round: the client certificate may exist by the next one."""
        self._etcd = None

    def status_round(
        self, plan: Plan, on_etcd: Callable[[ClusterHealth], None] | None = None
    ) -> StatusReport:
        """`hawizard.ops.status.status_round`, as `hawizard status` runs it, with these probes
        (`on_etcd`: etcd's part as soon as it is in)."""
        from hawizard.ops.status import status_round

        return status_round(
            plan,
            etcd_probe=self.etcd_probe(),
            apiserver_probe=self.apiserver_probe,
            balancer_probe=self.balancer_probe,
            on_etcd=on_etcd,
        )
