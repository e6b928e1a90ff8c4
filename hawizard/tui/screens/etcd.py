"""etcd rollout: the members, where things go, then `hawizard.etcd.rollout` run live."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import Static

from hawizard.plan import Plan, quorum, tolerance
from hawizard.tui.screens.rollout import RolloutScreen


def etcd_summary(plan: Plan) -> str:
    e = plan.etcd
    members = plan.etcd_nodes
    names = ", ".join(f"{m.name} ({m.address})" for m in members) or "none"
    install = (
        f"from the package manager (etcd {e.version})"
        if e.install == "package"
        else f"uploaded from {e.binaries or '(etcd.binaries not set)'}"
    )
    return "\n".join(
        [
            f"members     {names}",
            f"quorum      {quorum(len(members))} of {len(members)}, "
            f"tolerates {tolerance(len(members))} failure(s)",
            f"install     {install}",
            f"certs       {e.cert_dir} (the member's own server/peer cert, the CA cert; "
            "never the CA key)",
            f"data        {e.data_dir}   ports: client {e.client_port}, peer {e.peer_port}",
        ]
    )


class EtcdScreen(RolloutScreen):
    STEP = "etcd"
    ONLY = "etcd"
    WHAT = "etcd rollout"

    def compose_intro(self) -> ComposeResult:
        yield Static("", id="etcd-summary", classes="summary")

    def show_intro(self) -> None:
        self.query_one("#etcd-summary", Static).update(Content(etcd_summary(self.plan)))
