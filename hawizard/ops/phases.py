"""The phase lists `apply` runs where they span domains: the control plane, then the load
balancer in front of it. Lives in ops/ because `control_plane/` and `balancer/` never import
each other.
"""

from __future__ import annotations

from hawizard.balancer.rollout import balancer_phases
from hawizard.control_plane.rollout import control_plane_rollout_phases
from hawizard.plan import Plan
from hawizard.steps import Phase

__all__ = ["control_plane_phases"]


def control_plane_phases(plan: Plan, **kwargs) -> list[Phase]:
    """The control-plane phases (binaries, files, start), then the load balancer's phase."""
    return control_plane_rollout_phases(plan, **kwargs) + balancer_phases(plan)
