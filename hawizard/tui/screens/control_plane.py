"""Control plane: the masters, the endpoint and the load balancer (mode, VIP and balancer
nodes, chosen here), what is copied where, then the control-plane and load-balancer phases
run live exactly like the etcd step."""

from __future__ import annotations

from dataclasses import replace

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Input, Label, Select, Static

from hawizard.balancer.summary import balancer_description
from hawizard.plan import KUBE_BINARIES, BalancerMode, Plan, suggest_endpoint
from hawizard.tui import forms
from hawizard.tui.screens.rollout import RolloutScreen

_MODES = [
    ("vip — keepalived moves a virtual IP between haproxy nodes", BalancerMode.VIP.value),
    ("single — haproxy on one node (single point of failure)", BalancerMode.SINGLE.value),
    ("external — your own balancer", BalancerMode.EXTERNAL.value),
]
_LB_FIELDS = ("load_balancer.", "cluster.control_plane_endpoint", "control_plane.load_balancer")


def with_vip(plan: Plan, vip: str) -> Plan:
    """The endpoint with `vip` as its host, keeping the port (when there is none, the one
    validation accepts: not :6443 beside kube-apiserver)."""
    ep = plan.cluster.control_plane_endpoint
    _, sep, port = ep.rpartition(":")
    port = port if sep and port.isdigit() else suggest_endpoint(plan).rpartition(":")[2]
    host = f"[{vip}]" if ":" in vip else vip
    endpoint = f"{host}:{port}" if vip else ""
    return replace(plan, cluster=replace(plan.cluster, control_plane_endpoint=endpoint))


def vip_hint(plan: Plan) -> str:
    """The VIP the placeholder proposes: a free address validation accepts (vip mode)."""
    return suggest_endpoint(with_mode(plan, BalancerMode.VIP)).rpartition(":")[0].strip("[]")


def with_mode(plan: Plan, mode: str) -> Plan:
    cp = plan.control_plane
    if mode != BalancerMode.SINGLE and cp.load_balancer:
        cp = replace(cp, load_balancer="")  # older plans' single-node key would conflict
    return replace(plan, load_balancer=replace(plan.load_balancer, mode=mode), control_plane=cp)


def with_balancer_nodes(plan: Plan, text: str) -> Plan:
    names = tuple(n for n in text.replace(",", " ").split() if n)
    return replace(plan, load_balancer=replace(plan.load_balancer, nodes=names))


def control_plane_summary(plan: Plan) -> str:
    from hawizard.control_plane.render import FILES, SERVICES, UNIT_DIR, endpoint_url

    cp = plan.control_plane
    masters = ", ".join(f"{m.name} ({m.address})" for m in plan.control_plane_nodes) or "none"
    balancer = balancer_description(plan)
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
    ONLY = "control-plane"
    WHAT = "control-plane rollout"

    def compose_intro(self) -> ComposeResult:
        with Horizontal(classes="row lb-row"):
            with Vertical(classes="lb-mode"):
                yield Label("Load balancer", classes="field-label")
                mode = self.plan.balancer_mode
                value = mode if mode in {m for _, m in _MODES} else BalancerMode.VIP.value
                yield Select(_MODES, id="lb-mode", allow_blank=False, value=value)
            with Vertical(classes="lb-vip"):
                yield Label("VIP (the endpoint's host)", classes="field-label")
                yield Input(placeholder=vip_hint(self.plan), id="lb-vip")
            with Vertical(classes="lb-nodes"):
                yield Label("Balancer nodes", classes="field-label")
                yield Input(placeholder="empty: every master", id="lb-nodes")
        yield Static("", id="m-balancer", classes="field-error")
        yield Static("", id="cp-summary", classes="summary")

    def show_intro(self) -> None:
        plan = self.plan
        mode = plan.balancer_mode
        select = self.query_one("#lb-mode", Select)
        if mode in {m for _, m in _MODES} and select.value != mode:
            select.value = mode
        vip = self.query_one("#lb-vip", Input)
        vip.disabled = mode != BalancerMode.VIP
        vip.placeholder = vip_hint(plan)
        host = plan.cluster.control_plane_endpoint.rpartition(":")[0].strip("[]")
        if vip.value.strip() != host:
            vip.value = host
        nodes = self.query_one("#lb-nodes", Input)
        nodes.disabled = mode == BalancerMode.EXTERNAL
        listed = ", ".join(plan.load_balancer.nodes)
        if [n for n in nodes.value.replace(",", " ").split()] != list(plan.load_balancer.nodes):
            nodes.value = listed
        self.show_balancer_problems()
        self.query_one("#cp-summary", Static).update(Content(control_plane_summary(plan)))

    def show_balancer_problems(self) -> None:
        lines = [
            f"{'✖' if m.is_error else '▲'} {path}: {m.text}"
            for path, messages in forms.plan_messages(self.plan).items()
            if path.startswith(_LB_FIELDS)
            for m in messages
        ]
        box = self.query_one("#m-balancer", Static)
        box.update(Content("\n".join(lines)))
        box.display = bool(lines)
        self.query_one("#cp-summary", Static).update(Content(control_plane_summary(self.plan)))

    @on(Select.Changed, "#lb-mode")
    def mode_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.plan.balancer_mode:
            self.set_plan(with_mode(self.plan, event.value))
            self.show_intro()

    @on(Input.Changed, "#lb-vip")
    def vip_changed(self, event: Input.Changed) -> None:
        vip = event.value.strip()
        host = self.plan.cluster.control_plane_endpoint.rpartition(":")[0].strip("[]")
        if self.plan.balancer_mode == BalancerMode.VIP and vip != host:
            self.set_plan(with_vip(self.plan, vip))
            self.show_balancer_problems()

    @on(Input.Changed, "#lb-nodes")
    def nodes_changed(self, event: Input.Changed) -> None:
        updated = with_balancer_nodes(self.plan, event.value)
        if updated.load_balancer.nodes != self.plan.load_balancer.nodes:
            self.set_plan(updated)
            self.show_balancer_problems()
