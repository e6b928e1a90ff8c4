"""VRRP from the peers only: an nftables table of hawizard's own on every vip-mode balancer node.

keepalived runs VRRPv3, which has no authentication, and the router id is derived from the
cluster's name: any host on the segment could send a higher-priority advert and make the
holder drop the VIP (issue 25 item 2). Two walls:

1. keepalived's `check_unicast_src` (render.py): adverts from an address that is not one of
   the instance's `unicast_peer`s are ignored;
2. this table: IP protocol 112 (VRRP) from anyone but the balancer nodes is dropped in the
   kernel, before keepalived sees it.

Why a table and a unit of our own, not `/etc/nftables.conf`: Debian's `nftables.service` loads
that file, which starts with `flush ruleset` — editing it would take over the operator's
firewall and enabling it would wipe kube-proxy's or Docker's rules at every restart. Our
table (`inet hawizard`) is replaced atomically by one `nft -f` transaction (declare, delete,
define) and never touches another table; `hawizard-firewall.service` (oneshot,
RemainAfterExit, enabled) loads it at boot before keepalived and haproxy, `reload` replaces
it, `stop` removes it. Its chain only drops (policy accept), so it never opens anything the
operator's own rules close. A re-apply compares the files and checks the unit is active and
the table loaded: nothing changes on a converged node.
"""

from __future__ import annotations

import ipaddress

from hawizard import packages
from hawizard.plan import Node, Plan
from hawizard.remote_files import RemoteFile, directory, stale_files, write_files
from hawizard.steps import Step, say
from hawizard.textguard import config_word, plain_lines

__all__ = [
    "FIREWALL_UNIT",
    "NFT_FILE",
    "TABLE",
    "firewall_step",
    "render_firewall_unit",
    "render_nft",
]

TABLE = "inet hawizard"
NFT_DIR = "/etc/hawizard"
NFT_FILE = f"{NFT_DIR}/firewall.nft"
FIREWALL_SERVICE = "hawizard-firewall.service"
FIREWALL_UNIT = f"/etc/systemd/system/{FIREWALL_SERVICE}"
NFT = "/usr/sbin/nft"
# VRRP's IP protocol number: a name needs /etc/protocols, which a minimal host lacks
# ("Could not resolve protocol name", measured on the lab's minbase nodes)
VRRP_PROTO = 112


def vrrp_sources(plan: Plan, node: Node) -> list[str]:
    """Who may send this node VRRP: every balancer node (itself included, so the set is never
    empty), as IPv4 addresses (vip mode refuses anything else)."""
    found = []
    for n in plan.balancer_nodes:
        address = str(ipaddress.IPv4Address(n.address))
        if address not in found:
            found.append(address)
    if str(ipaddress.IPv4Address(node.address)) not in found:
        found.append(node.address)
    return found


def render_nft(plan: Plan, node: Node) -> str:
    """The table, as one `nft -f` transaction that replaces only hawizard's own table."""
    peers = ", ".join(vrrp_sources(plan, node))
    cluster = config_word(plan.cluster.name, "cluster.name")
    why = '"VRRP only from the balancer peers"'
    text = f"""\
# written by hawizard for cluster {cluster}: edit the plan and run `hawizard apply`.
# hawizard's own table only: no other table is flushed or changed.
table {TABLE}
delete table {TABLE}
table {TABLE} {{
    set vrrp_peers {{
        type ipv4_addr
        elements = {{ {peers} }}
    }}

    chain input {{
        type filter hook input priority filter - 10; policy accept;
        ip protocol {VRRP_PROTO} ip saddr != @vrrp_peers counter drop comment {why}
    }}
}}
"""
    return plain_lines(text, "firewall.nft")


def render_firewall_unit() -> str:
    return f"""\
# written by hawizard: loads (reload: replaces, stop: removes) the nftables table {TABLE}.
[Unit]
Description=hawizard's nftables table (VRRP only from the balancer peers)
Wants=network-pre.target
Before=network-pre.target keepalived.service haproxy.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={NFT} -f {NFT_FILE}
ExecReload={NFT} -f {NFT_FILE}
ExecStop={NFT} delete table {TABLE}

[Install]
WantedBy=multi-user.target
"""


_STATE = (
    f"command -v nft >/dev/null && echo nft; systemctl is-active {FIREWALL_SERVICE}; "
    f"systemctl is-enabled {FIREWALL_SERVICE}; "
    f"nft list table {TABLE} >/dev/null 2>&1 && echo loaded"
)


def firewall_step(plan: Plan, node: Node) -> Step:
    """Install nftables when `nft` is missing, write the table and the unit (the table checked
    by `nft -c` first), then load it: start, or reload when the file changed."""
    text = render_nft(plan, node)
    files = [
        directory(NFT_DIR, 0o755),
        RemoteFile(NFT_FILE, text.encode(), 0o644),
        RemoteFile(FIREWALL_UNIT, render_firewall_unit().encode(), 0o644),
    ]

    def check(host) -> bool:
        state = host.probe(_STATE).stdout.split()
        return state != ["nft", "active", "enabled", "loaded"] or bool(stale_files(host, files))

    def apply(host) -> None:
        if host.probe("command -v nft").exited != 0:
            try:
                packages.install(host, ("nftables",), quiet_units=("nftables.service",))
            except packages.PackageError as exc:
                raise FirewallError(str(exc)) from None
        stale = stale_files(host, files)
        if any(f.path == NFT_FILE for f in stale):
            result = host.probe([NFT, "-c", "-f", "/dev/stdin"], stdin=text)
            if result.exited != 0 and not host.dry_run:
                raise FirewallError(
                    f"{node.name}: nft -c rejected the rendered table (nothing replaced):\n"
                    + (result.stderr or result.stdout).strip()
                )
        write_files(host, stale)
        if any(f.path == FIREWALL_UNIT for f in stale):
            host.run(["systemctl", "daemon-reload"])
        host.run(["systemctl", "enable", "--quiet", FIREWALL_SERVICE])
        active = host.probe(["systemctl", "is-active", FIREWALL_SERVICE]).stdout.strip()
        if active == "active":
            host.run(["systemctl", "reload", FIREWALL_SERVICE])  # atomic replace of our table
        else:
            host.run(["systemctl", "start", FIREWALL_SERVICE])
        peers = ", ".join(vrrp_sources(plan, node))
        say(host, f"nftables table {TABLE} loaded: VRRP accepted only from {peers}")

    return Step(node.name, "VRRP firewall (nftables)", check, apply)


class FirewallError(Exception):
    pass
