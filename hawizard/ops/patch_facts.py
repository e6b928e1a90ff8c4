"""What each node has to do before a patch run: the node survey (read-only SSH).

One command per node lists the updates this run would install (security only unless `--all`),
whether the system wants a reboot, whether the node holds the endpoint's VIP, whether an
interrupted run left keepalived stopped (the hand-off's marker), and whether kube-apiserver is
active. `ops.patch` judges and runs on these facts; nothing here changes a node except the
package index refresh a real run asks for.
"""

from __future__ import annotations

from dataclasses import dataclass

from hawizard import os_packages as pkg
from hawizard.balancer.handoff import KEEPALIVED_MARKER
from hawizard.ops.refusal import Refused
from hawizard.os_packages import Manager, System, Update
from hawizard.plan import BalancerMode, Node, Plan

__all__ = ["NodeSurvey", "holds_address", "security_pinned", "survey_node", "vip_node"]


@dataclass
class NodeSurvey:
    """One node as the survey found it (read-only SSH)."""

    node: str
    system: System
    updates: list[Update]  # what this run would install (security only unless --all)
    skipped: int  # updates left out because they are not security updates
    reboot_required: str  # yes / no / unknown
    holds_vip: bool = False
    keepalived_stopped: bool = False  # the marker: an interrupted run stopped it
    apiserver: bool = False  # kube-apiserver is active

    def has_work(self, reboot: str) -> bool:
        return (
            bool(self.updates)
            or (reboot == "auto" and self.reboot_required == "yes")
            or self.keepalived_stopped
        )


def security_pinned(system: System, security_only: bool) -> bool:
    """apt's security-only listing and install read the security pin (os_packages)."""
    return security_only and system.manager is Manager.APT


def _survey_script(system: System, security_only: bool, vip: str) -> str:
    lst = pkg.shell(pkg.list_argv(system, security_only=security_only))
    vip_check = "ip -br -4 addr show" if vip else "true"
    pinned = security_pinned(system, security_only)
    everything = pkg.shell(pkg.list_argv(system, security_only=False))
    return "; ".join(
        [
            *([f"{pkg.security_pin_script()} 2>&1"] if pinned else []),
            f"echo --list--; {lst} 2>&1; echo --rc=$?--",
            # what security only leaves out: the unpinned simulation
            *([f"echo --all--; {everything} 2>&1"] if pinned else []),
            f"echo --reboot--; {pkg.reboot_required_script(system)}",
            f"echo --vip--; {vip_check}",
            f"echo --marker--; test -e {KEEPALIVED_MARKER} && echo yes || echo no",
            "echo --apiserver--; systemctl is-active --quiet kube-apiserver && echo yes || echo no",
        ]
    )


def holds_address(ip_br_output: str, address: str) -> bool:
    """Whether `ip -br -4 addr show` lists `address` on any interface (exact match)."""
    for line in ip_br_output.splitlines():
        if any(tok.split("/", 1)[0] == address for tok in line.split()[2:]):
            return True
    return False


def _sections(text: str) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("--") and line.endswith("--") and not line.startswith("--rc="):
            current = line.strip("-")
            out[current] = []
        elif current:
            out[current].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def survey_node(
    plan: Plan,
    node: Node,
    *,
    security_only: bool,
    refresh: bool,
    trust_new: bool = False,
    sudo_password=None,
) -> NodeSurvey:
    """Ask one node what it would upgrade (refreshing its indexes first when `refresh`)."""
    from hawizard.remote import Host

    vip = plan.endpoint_host_port[0] if vip_node(plan, node) else ""
    with Host.from_plan(plan, node, trust_new=trust_new, sudo_password=sudo_password) as host:
        system = pkg.parse_detect(host.probe(pkg.DETECT_SCRIPT, sudo=False, timeout=30).stdout)
        if system.manager is Manager.UNKNOWN:
            raise Refused(
                f"{node.name}: no apt-get, dnf or yum found",
                "hawizard patches Debian/Ubuntu (apt) and RHEL-family (dnf/yum) nodes",
            )
        if security_only and not system.security_supported:
            raise Refused(
                f"{node.name}: {system.distro or 'this distribution'} does not mark security "
                "updates hawizard can tell apart",
                "pass --all to install every available update",
            )
        if refresh:
            host.run(pkg.refresh_argv(system), timeout=600, stream=False)
        answer = host.probe(_survey_script(system, security_only, vip), timeout=300).stdout
    parts = _sections(answer)
    listing = parts.get("list", "")
    rc = next((ln for ln in answer.splitlines() if ln.startswith("--rc=")), "--rc=0--")
    code = int(rc[5:-2] or 0)
    if code not in ((0, 100) if system.manager is not Manager.APT else (0,)):
        raise Refused(
            f"{node.name}: listing the updates failed (exit {code}): "
            + " / ".join(listing.strip().splitlines()[-3:]),
            f"run `{pkg.shell(pkg.list_argv(system, security_only=security_only))}` on "
            f"{node.name} and fix what it says",
        )
    everything = pkg.parse_updates(system, parts.get("all", listing), security_only=False)
    chosen = pkg.parse_updates(system, listing, security_only=security_only)
    skipped = len(everything) - len(chosen) if system.manager is Manager.APT else 0
    return NodeSurvey(
        node.name,
        system,
        chosen,
        skipped,
        parts.get("reboot", "").strip() or "unknown",
        holds_vip=bool(vip) and holds_address(parts.get("vip", ""), vip),
        keepalived_stopped=parts.get("marker", "").strip() == "yes",
        apiserver=parts.get("apiserver", "").strip() == "yes",
    )


def vip_node(plan: Plan, node: Node) -> bool:
    return plan.balancer_mode == BalancerMode.VIP and any(
        b.name == node.name for b in plan.balancer_nodes
    )
