"""Control plane: the masters, the endpoint and the load balancer, what is copied where,
then `hawizard.control_plane.rollout` run live exactly like the etcd step."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import Static

from hawizard.plan import KUBE_BINARIES, Plan
from hawizard.tui.screens.rollout import RolloutScreen


def control_plane_summary(plan: Plan) -> str:
    from hawizard.control_plane.render import FILES, SERVICES, UNIT_DIR, endpoint_url

    cp = plan.control_plane
    masters = ", ".join(f"{m.name} ({m.address})" for m in plan.control_plane_nodes) or "none"
    balancer = (
        f"haproxy on {cp.load_balancer}, /healthz checks on every master"
        if cp.load_balancer
        else "external: hawizard writes its haproxy config next to the plan"
    )
    try:
        endpoint = endpoint_url(plan)
    except ValueError:  # the Nodes step reports why; here it is only shown
        endpoint = f"{plan.cluster.control_plane_endpoint!r} (not HOST:PORT, see Nodes)"
    return "\n".join(
        [
            f"masters     {masters}",
            f"endpoint    {endpoint}   balancer: {balancer}",
            f"binaries    {', '.join(KUBE_BINARIES)} → {FILES.binary('')[:-1]} "
            f"(install = {cp.install})",
            f"certs       {FILES.pki_dir}/ (CA, apiserver, sa) · "
            f"{FILES.etcd_pki_dir}/ (etcd CA cert, etcd client)",
            f"configs     {FILES.kube_dir}/*.kubeconfig, encryption-config.yaml, audit-policy.yaml",
            f"services    {', '.join(SERVICES)} in {UNIT_DIR}"
            + ("" if cp.start else "   (staged only: control_plane.start = false)"),
        ]
    )


class ControlPlaneScreen(RolloutScreen):
    STEP = "control-plane"
    WHAT = "control-plane rollout"

    def compose_intro(self) -> ComposeResult:
        yield Static("", id="cp-summary", classes="summary")

    def show_intro(self) -> None:
        self.query_one("#cp-summary", Static).update(Content(control_plane_summary(self.plan)))

    def phases_for(self, plan: Plan) -> list[Any]:
        from hawizard.ops.phases import control_plane_phases

        return control_plane_phases(plan)
