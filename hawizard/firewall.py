"""hawizard's own nftables table on a node: VRRP from the balancer peers only, and the metrics
ports only from the scrapers (issue 25 items 2 and 3).

- **VRRP** (vip-mode balancer nodes): VRRPv3 has no authentication and the router id derives
  from the cluster's name, so any host on the segment could send a higher-priority advert and
  make the holder drop the VIP. IP protocol 112 from anyone but the balancer nodes is dropped
  (keepalived's `check_unicast_src` is the second wall).
- **Metrics** (etcd's `metrics_port` — plain HTTP that also serves /health —, the node
  exporter, haproxy's Prometheus exporter): unauthenticated, so each listens on the node's own
  address only and the table rejects (TCP reset: a scraper that is not allowed fails at once)
  every source except the node itself, `monitoring.prometheus_node`, `monitoring.scrape_from`
  and the machine that runs `apply` (its own probes, `hawizard check` and the readiness
  screen, read etcd's metrics). Re-applying from another machine moves that last entry.

Why a table and a unit of our own, not `/etc/nftables.conf`: Debian's `nftables.service` loads
that file, which starts with `flush ruleset` — editing it would take over the operator's
firewall and enabling it would wipe kube-proxy's or Docker's rules at every restart. Our table
(`inet hawizard`) is replaced atomically by one `nft -f` transaction (declare, delete, define)
and never touches another table; `hawizard-firewall.service` (oneshot, RemainAfterExit,
enabled) loads it at boot before etcd, keepalived and haproxy, `stop` removes it; `apply`
replaces it with `nft -f` itself (see `_load`). The chain only drops or rejects (policy
accept), so it never opens what the operator's own rules close. A re-apply compares the file
and checks that the unit is active and the table loaded: nothing changes on a converged node.

Every domain that needs the table puts `firewall_step` in its phase (it renders the node's
whole table, so whichever runs first writes it and the others find it converged).
"""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass

from hawizard import packages
from hawizard.plan import BalancerMode, Node, Plan
from hawizard.remote_files import (
    RemoteFile,
    directory,
    parse_states,
    stale_files,
    states_script,
    write_files,
)
from hawizard.steps import Step, say
from hawizard.textguard import config_word, plain_lines

__all__ = [
    "FIREWALL_SERVICE",
    "FIREWALL_UNIT",
    "NFT_FILE",
    "TABLE",
    "FirewallError",
    "NodeRules",
    "firewall_step",
    "metrics_ports",
    "node_rules",
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
JOURNAL_LINES = 12  # nft reports its error in a few lines; systemd adds two


class FirewallError(Exception):
    """The table cannot be made for a node: the message names the node and the fix."""


@dataclass(frozen=True)
class NodeRules:
    """What one node's table holds: empty tuples mean "no such rule"."""

    vrrp_from: tuple[str, ...] = ()
    metrics_ports: tuple[int, ...] = ()
    metrics_from: tuple[str, ...] = ()  # addresses and networks, IPv4 and IPv6

    @property
    def empty(self) -> bool:
        return not self.vrrp_from and not self.metrics_ports


def metrics_ports(plan: Plan, node: Node) -> tuple[int, ...]:
    """The unauthenticated metrics listeners `apply` puts on this node."""
    ports = []
    if node in plan.etcd_nodes:
        ports.append(plan.etcd.metrics_port)
    m = plan.monitoring
    if m.install:
        ports.append(m.node_exporter_port)
    served = plan.balancer_mode in (BalancerMode.VIP, BalancerMode.SINGLE)
    if m.enabled and served and node in plan.balancer_nodes:
        ports.append(m.haproxy_metrics_port)
    return tuple(sorted(set(ports)))


def _ip(text: str, field: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise FirewallError(
            f"{field}: {text!r} is not an IP address, so the nodes' firewall cannot name it; "
            "give an address, or list the scraper's address in monitoring.scrape_from"
        ) from None


def node_rules(plan: Plan, node: Node, operator: str = "") -> NodeRules:
    """The node's rules; `operator`: the address the node sees the applying machine at."""
    vrrp: list[str] = []
    if plan.balancer_mode == BalancerMode.VIP and node in plan.balancer_nodes:
        for n in (*plan.balancer_nodes, node):
            address = str(ipaddress.IPv4Address(n.address))  # vip mode is IPv4 only
            if address not in vrrp:
                vrrp.append(address)
    ports = metrics_ports(plan, node)
    allowed: list[str] = []
    if ports:
        m = plan.monitoring
        sources = [(node.address, f"{node.name} address")]
        if m.prometheus_node:
            scraper = plan.node(m.prometheus_node)
            sources.append((scraper.address, f"monitoring.prometheus_node ({scraper.name})"))
        sources += [(s, f"monitoring.scrape_from[{i}]") for i, s in enumerate(m.scrape_from)]
        if operator:
            sources.append((operator, "the applying machine's address"))
        for text, field in sources:
            if (net := _ip(text, field)) not in allowed:
                allowed.append(net)
    return NodeRules(tuple(vrrp), ports, tuple(allowed))


def _set(name: str, kind: str, elements: list[str]) -> str:
    body = f"        type {kind}\n        flags interval\n        auto-merge\n"
    if elements:
        body += f"        elements = {{ {', '.join(elements)} }}\n"
    return f"    set {name} {{\n{body}    }}\n"


def render_nft(plan: Plan, node: Node, operator: str = "") -> str:
    """The node's table, as one `nft -f` transaction that replaces hawizard's table only."""
    rules = node_rules(plan, node, operator)
    cluster = config_word(plan.cluster.name, "cluster.name")
    sets, chain = [], ['        iifname "lo" accept']
    if rules.vrrp_from:
        sets.append(_set("vrrp_peers", "ipv4_addr", list(rules.vrrp_from)))
        chain.append(
            f"        ip protocol {VRRP_PROTO} ip saddr != @vrrp_peers counter drop "
            'comment "VRRP only from the balancer peers"'
        )
    if rules.metrics_ports:
        v4 = [a for a in rules.metrics_from if ipaddress.ip_network(a).version == 4]
        v6 = [a for a in rules.metrics_from if ipaddress.ip_network(a).version == 6]
        sets.append(_set("metrics_from4", "ipv4_addr", v4))
        sets.append(_set("metrics_from6", "ipv6_addr", v6))
        ports = ", ".join(str(p) for p in rules.metrics_ports)
        for family, name in (("ip", "metrics_from4"), ("ip6", "metrics_from6")):
            chain.append(
                f"        tcp dport {{ {ports} }} {family} saddr != @{name} counter "
                'reject with tcp reset comment "metrics only from the scrapers"'
            )
    text = (
        f"# written by hawizard for cluster {cluster}: edit the plan and run `hawizard apply`.\n"
        "# hawizard's own table only: no other table is flushed or changed.\n"
        f"table {TABLE}\n"
        f"delete table {TABLE}\n"
        f"table {TABLE} {{\n" + "\n".join(sets) + ("\n" if sets else "") + "    chain input {\n"
        "        type filter hook input priority filter - 10; policy accept;\n"
        + "\n".join(chain)
        + "\n    }\n}\n"
    )
    return plain_lines(text, "firewall.nft")


def render_firewall_unit() -> str:
    return f"""\
# written by hawizard: loads (reload: replaces, stop: removes) the nftables table {TABLE}.
[Unit]
Description=hawizard's nftables table (VRRP from the peers, metrics from the scrapers only)
Wants=network-pre.target
Before=network-pre.target etcd.service keepalived.service haproxy.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={NFT} -f {NFT_FILE}
ExecReload={NFT} -f {NFT_FILE}
ExecStop={NFT} delete table {TABLE}

[Install]
WantedBy=multi-user.target
"""


_FACTS_MARK = "hawizard-firewall-files"
# One probe for the step's check: is nft there, the unit's state, whether systemd knows the
# unit at all (a new unit loads on demand at its start: no daemon-reload), the table loaded.
_STATE = (
    "command -v nft >/dev/null && echo nft=yes; "
    f"echo active=$(systemctl is-active {FIREWALL_SERVICE}); "
    f"echo enabled=$(systemctl is-enabled {FIREWALL_SERVICE} 2>/dev/null); "
    f"echo load=$(systemctl show -p LoadState --value {FIREWALL_SERVICE}); "
    f"nft list table {TABLE} >/dev/null 2>&1 && echo loaded=yes; "
    f"echo {_FACTS_MARK}"
)
_CONVERGED = {"nft": "yes", "active": "active", "enabled": "enabled", "loaded": "yes"}
# `_load_script`'s exit codes: which of its commands failed
_RELOAD_FAILED, _ENABLE_FAILED, _NFT_REFUSED, _START_FAILED = 10, 11, 12, 13


def operator_address(host) -> str:
    """The applying machine's address as the node sees it (the SSH client's), or ""."""
    words = host.probe('echo "$SSH_CONNECTION"', sudo=False).stdout.split()
    return words[0] if words else ""


def firewall_step(plan: Plan, node: Node, title: str = "firewall (nftables)") -> Step:
    """Install nftables when `nft` is missing, write the table and the unit (the table checked
    by `nft -c` first), then load it with `nft -f` and start the unit when it is not active.
    `title` keeps the journal keys apart when several phases carry the step for one node.

    Round trips: the check is two (the operator's address as the node sees it, then the
    unit's and the table's state with the files' states in one probe); a change adds the
    table's `nft -c`, one write of the stale files and one script that enables, loads and
    starts. check and apply of one step run in order on one worker: what the check read
    passes to the apply without a lock."""
    seen: dict[str, str] = {}
    stale: list[RemoteFile] = []
    wanted: list[RemoteFile] = []

    def check(host) -> bool:
        text = render_nft(plan, node, operator_address(host))
        wanted[:] = [
            directory(NFT_DIR, 0o755),
            RemoteFile(NFT_FILE, text.encode(), 0o644),
            RemoteFile(FIREWALL_UNIT, render_firewall_unit().encode(), 0o644),
        ]
        paths = [f.path for f in wanted]
        out = host.probe(_STATE + "\n" + states_script(paths)).stdout
        head, _, states = out.partition(f"{_FACTS_MARK}\n")
        seen.clear()
        seen.update(line.partition("=")[::2] for line in head.splitlines() if "=" in line)
        stale[:] = stale_files(host, wanted, parse_states(states, paths))
        return any(seen.get(k) != v for k, v in _CONVERGED.items()) or bool(stale)

    def apply(host) -> None:
        if seen.get("nft") != "yes":
            try:
                packages.install(host, ("nftables",), quiet_units=("nftables.service",))
            except packages.PackageError as exc:
                raise FirewallError(str(exc)) from None
        table = next((f for f in stale if f.path == NFT_FILE), None)
        if table is not None:
            result = host.probe([NFT, "-c", "-f", "/dev/stdin"], stdin=table.data)
            if result.exited != 0 and not host.dry_run:
                raise FirewallError(
                    f"{node.name}: nft -c rejected the rendered table (nothing replaced):\n"
                    + (result.stderr or result.stdout).strip()
                )
        write_files(host, stale)
        # A changed unit that systemd holds needs a reload; a new one loads at its start.
        unit_changed = any(f.path == FIREWALL_UNIT for f in stale)
        _load(host, node, reload=unit_changed and seen.get("load") == "loaded")
        say(host, f"nftables table {TABLE} loaded: {_summary(node_rules(plan, node))}")

    return Step(node.name, title, check, apply)


def _load_script(reload: bool) -> str:
    svc = shlex.quote(FIREWALL_SERVICE)
    lines = [f"systemctl daemon-reload || exit {_RELOAD_FAILED}"] if reload else []
    return "\n".join(
        [
            *lines,
            f"systemctl enable --quiet --no-reload {svc} || exit {_ENABLE_FAILED}",
            f"{NFT} -f {shlex.quote(NFT_FILE)} || exit {_NFT_REFUSED}",
            f"systemctl is-active --quiet {svc} && exit 0",
            # 219/CGROUP is systemd's, not the table's: once more after a reset
            f"systemctl start {svc} && exit 0",
            f"systemctl reset-failed {svc}",
            f"systemctl start {svc} && exit 0",
            f"exit {_START_FAILED}",
        ]
    )


def _load(host, node: Node, *, reload: bool) -> None:
    """Enable the unit, load the table with `nft -f` ourselves (one atomic transaction:
    nft's own error comes back), then start the unit when it is not active, so it loads the
    table at boot too: one round trip, its exit code says which part failed.

    Not `systemctl reload`: on the lab's nodes the reload of this oneshot, RemainAfterExit
    unit intermittently failed with `status=219/CGROUP` (systemd could not put the control
    process in the unit's emptied cgroup) while the table itself was fine (`nft -c` 0), and
    systemd's message said only "see systemctl status"."""
    result = host.run(_load_script(reload), check=False)
    if result.exited == 0 or host.dry_run:
        return
    said = (result.stderr or result.stdout).strip() or "nothing"
    if result.exited == _NFT_REFUSED:
        raise FirewallError(
            f"{node.name}: nft refused {NFT_FILE} (the old table is unchanged): {said}"
        )
    if result.exited != _START_FAILED:
        what = "daemon-reload" if result.exited == _RELOAD_FAILED else "enable"
        raise FirewallError(
            f"{node.name}: systemctl {what} for {FIREWALL_SERVICE} failed "
            f"(exit {result.exited}): {said}"
        )
    journal = host.probe(
        f"journalctl --no-pager -o cat -n {JOURNAL_LINES} -u {shlex.quote(FIREWALL_SERVICE)}"
    ).stdout.strip()
    raise FirewallError(
        f"{node.name}: the table is loaded, but systemctl start {FIREWALL_SERVICE} failed, "
        f"so it would not come back at boot; its journal says:\n{journal or said}"
    )


def _summary(rules: NodeRules) -> str:
    parts = []
    if rules.vrrp_from:
        parts.append(f"VRRP only from {', '.join(rules.vrrp_from)}")
    if rules.metrics_ports:
        ports = ", ".join(str(p) for p in rules.metrics_ports)
        parts.append(f"metrics :{ports} only from the node, the scrapers and this machine")
    return "; ".join(parts)
