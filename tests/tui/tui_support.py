"""Helpers shared by the TUI tests: a fixed plan and ways to drive the real app."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hawizard.control_plane.probe import ApiserverHealth, ApiserverState
from hawizard.health import ClusterHealth, ProbeResult, build
from hawizard.pki import CertInfo
from hawizard.plan import SSH, Cluster, Node, PKISettings, Plan, Role
from hawizard.tui.app import WizardApp

SIZE = (120, 40)
NO_LABS = Path("/nonexistent/hawizard-labs")
FIXED_PATH = Path("/nonexistent/hawizard-snapshots/prod.toml")  # shown, never written


def fixed_plan(
    pki_dir: str = "/nonexistent/hawizard-snapshots/pki", *, spare: bool = False
) -> Plan:
    """Three masters that are etcd members; `spare` adds infra3, an etcd node to add (day 2)."""
    both = (Role.ETCD, Role.CONTROL_PLANE)
    ssh = SSH(user="root", port=22, key="~/.ssh/id_ed25519")
    extra = (Node("infra3", "10.1.2.14", (Role.ETCD,), ssh),) if spare else ()
    return Plan(
        nodes=(
            Node("infra0", "10.1.2.11", both, ssh),
            Node("infra1", "10.1.2.12", both, ssh),
            Node("infra2", "10.1.2.13", both, ssh),
            *extra,
        ),
        cluster=Cluster(
            name="prod",
            control_plane_endpoint="10.1.2.10:6443",
            known_hosts="/nonexistent/hawizard-snapshots/known_hosts",
        ),
        pki=PKISettings(dir=pki_dir),
    )


def make_app(plan: Plan | None = None, plan_path: Path | None = None, **kw) -> WizardApp:
    """The real app; no test probes the made-up 10.1.2.x masters (`fixed_apiservers`) or their
    endpoint (no load-balancer table unless a test passes `balancer_probe`)."""
    kw.setdefault("labs_root", NO_LABS)
    kw.setdefault("apiserver_probe", fixed_apiservers)
    kw.setdefault("balancer_probe", lambda _plan: None)
    return WizardApp(plan, plan_path, **kw)


async def settle(pilot) -> None:
    """Let workers finish and their messages land."""
    for _ in range(2):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


FIXED_NOW = dt.datetime(2025, 1, 15, 9, 30, 0, tzinfo=dt.UTC)
_IDS = {
    "infra0": 0x8E9E05C52164694D,
    "infra1": 0x91BC3C398FB3C146,
    "infra2": 0xFD422379FDA50E48,
    "infra3": 0x3A57B3C2D1E0F987,
}
_CLUSTER_ID = 0xCDF818194E3A8C32


def _cert(cn: str, days: int) -> CertInfo:
    return CertInfo(
        subject=f"CN={cn}",
        common_name=cn,
        organizations=(),
        issuer="CN=etcd-ca",
        dns_names=(cn,),
        ip_addresses=(),
        serial=1,
        not_before=FIXED_NOW - dt.timedelta(days=1),
        not_after=FIXED_NOW + dt.timedelta(days=days, hours=1),
        fingerprint_sha256=":".join(["AB"] * 32),
        key_type="ecdsa-p256",
        is_ca=False,
        key_usage=(),
        extended_key_usage=(),
    )


def fixed_health(
    plan: Plan, down: tuple[str, ...] = ("infra2",), members: tuple[str, ...] | None = None
) -> ClusterHealth:
    """What the real health model makes of fixed probe answers: `down` members do not answer;
    `members` are the cluster's member list (default: every etcd node of the plan), and a
    planned node outside it refuses connections, as a node without etcd does."""
    port = plan.etcd.client_port
    listed_names = members if members is not None else tuple(n.name for n in plan.etcd_nodes)
    listed = {
        "members": [
            {
                "ID": str(_IDS[n.name]),
                "name": n.name,
                "peerURLs": [f"https://{n.address}:{plan.etcd.peer_port}"],
                "clientURLs": [f"https://{n.address}:{port}"],
            }
            for n in plan.etcd_nodes
            if n.name in listed_names
        ]
    }
    results = []
    for i, n in enumerate(plan.etcd_nodes):
        endpoint = f"https://{n.address}:{port}"
        if n.name in down:
            results.append(
                ProbeResult(n.name, endpoint, n.address, elapsed_s=2.0, error="timed out")
            )
            continue
        if n.name not in listed_names:
            refused = "connection refused"
            results.append(ProbeResult(n.name, endpoint, n.address, elapsed_s=0.01, error=refused))
            continue
        status = {
            "header": {"member_id": str(_IDS[n.name]), "cluster_id": str(_CLUSTER_ID)},
            "leader": str(_IDS["infra0"]),
            "version": "3.5.17",
            "raftTerm": "4",
            "raftIndex": str(1021 + i),
            "dbSize": "94208",
            "dbSizeInUse": "61440",
        }
        results.append(
            ProbeResult(
                n.name,
                endpoint,
                n.address,
                connected=True,
                health={"health": "true"},
                status=status,
                members=listed,
                connect_ms=3.1 + i,
                rtt_ms=1.2 + i / 10,
            )
        )
    local = {
        "etcd/ca": _cert("etcd-ca", 3649),
        "etcd/server-infra0": _cert("infra0", 364),
        "etcd/etcd-admin": _cert("etcd-admin", 20),
    }
    return build(plan, results, local, {}, now=FIXED_NOW, duration_s=0.012)


def fixed_apiservers(plan: Plan, down: tuple[str, ...] = ("infra2",)) -> list[ApiserverHealth]:
    rows = []
    for n in plan.control_plane_nodes:
        url = f"https://{n.address}:6443"
        if n.name in down:
            rows.append(
                ApiserverHealth(
                    n.name, url, ApiserverState.UNREACHABLE, error="no answer within 2 s"
                )
            )
        else:
            rows.append(
                ApiserverHealth(
                    n.name, url, ApiserverState.READY, livez=True, readyz=True, latency_ms=4.2
                )
            )
    return rows


def fixed_checklist(plan: Plan):
    """A checklist as `hawizard check` makes it, for the fixed plan (one member down)."""
    from hawizard.ops.check import Checklist
    from hawizard.readiness.items import Item, Verdict

    ok, warn, fail, unknown = Verdict.OK, Verdict.WARN, Verdict.FAIL, Verdict.UNKNOWN
    rows = (
        Item(1, "etcd", "etcd topology", warn,
             ("✔ 3 members: quorum 2, tolerates 1 failure",
              "▲ member infra1 is down: connection refused"),
             "hawizard etcd replace prod.toml infra1 NEW"),
        Item(2, "control_plane", "Control plane", ok,
             ("✔ 3 masters: infra0, infra1, infra2",)),
        Item(3, "auth", "Authentication", warn,
             ("▲ client certificates only: no external identity provider",),
             "add [control_plane.oidc] to the plan"),
        Item(4, "certificates", "Certificates", ok,
             ("✔ 14 local and 2 served certificates; soonest etcd/server-infra0 in 364 days",)),
        Item(5, "backups", "Backups", fail, ("✖ no snapshot found",),
             "hawizard etcd snapshot prod.toml (and schedule it)"),
        Item(6, "monitoring", "Monitoring", fail,
             ("✔ infra0 :2381/metrics answers", "✖ infra1 :2381/metrics: connection refused"),
             "bring infra1's etcd back"),
        Item(7, "logs", "Logs", warn, ("▲ no log forwarder active on infra0, infra1, infra2",),
             "ship logs off the nodes"),
        Item(8, "patching", "OS patching", warn,
             ("▲ infra0 (apt): 4 pending, 2 security; kernel 6.1.0-18-amd64",),
             "install the security updates (apt-get upgrade)"),
        Item(9, "clock", "Clock", ok, ("✔ NTP synchronised on infra0, infra1, infra2",)),
        Item(10, "image_scanning", "Image scanning", unknown,
             ("? outside what hawizard deploys",), "scan images in CI and in the registry"),
        Item(11, "network_policy", "Network policy", unknown,
             ("? the plan does not say which CNI the cluster runs",),
             'set [cluster] cni = "…" in the plan'),
    )  # fmt: skip
    return Checklist(rows, "2025-01-15T09:30:00+00:00", 4.2, "prod.toml")
