"""Pure renderers for the API endpoint: haproxy and keepalived configs, plan in, text out.

No I/O. Tests check the text by content and hand it to the real readers (`haproxy -c`,
`keepalived -t`). Values come from a validated plan; what could still break out of its line
(an interface name read from a node) is refused here with ValueError.
"""

from __future__ import annotations

import ipaddress
import re

from hawizard.plan import BalancerMode, Node, Plan
from hawizard.textguard import config_word, plain_lines

__all__ = [
    "APISERVER_PORT",
    "HAPROXY_CONFIG",
    "HAPROXY_STATS_PORT",
    "HAPROXY_STATS_SOCKET",
    "KEEPALIVED_CONFIG",
    "KEEPALIVED_DEFAULTS",
    "KEEPALIVED_DROPIN",
    "KEEPALIVED_DROPIN_DIR",
    "VRRP_INSTANCE",
    "priority",
    "render_haproxy_config",
    "render_keepalived_config",
    "render_keepalived_defaults",
]

APISERVER_PORT = 6443  # every master's kube-apiserver: the backends
HAPROXY_CONFIG = "/etc/haproxy/haproxy.cfg"
HAPROXY_STATS_SOCKET = "/run/haproxy/admin.sock"
# Read-only stats page on the balancer's loopback (`curl 127.0.0.1:8404/stats;csv`): the
# socket needs socat, which a minimal host lacks; curl is everywhere.
HAPROXY_STATS_PORT = 8404
KEEPALIVED_CONFIG = "/etc/keepalived/keepalived.conf"
# Debian's unit reads DAEMON_ARGS from here; `--vrrp` runs only the VRRP part (no LVS).
KEEPALIVED_DEFAULTS = "/etc/default/keepalived"
KEEPALIVED_DROPIN_DIR = "/etc/systemd/system/keepalived.service.d"
KEEPALIVED_DROPIN = f"{KEEPALIVED_DROPIN_DIR}/hawizard.conf"
VRRP_INSTANCE = "hawizard_api"
TOP_PRIORITY = 150  # the first balancer node; each next one 1 lower (all distinct)
_IFNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,15}$")  # Linux interface names (IFNAMSIZ - 1)


def _hostport(host: str, port: int) -> str:
    """haproxy's address form: IPv6 unbracketed, the last colon separates the port."""
    return f"{host}:{port}"


def render_haproxy_config(plan: Plan, node: Node | None = None) -> str:
    """TCP passthrough on the endpoint to every master's :6443, checked with GET /healthz.

    TLS is not terminated (clients authenticate to the apiserver with their own certs); the
    checks speak TLS to the apiserver without verifying it (`verify none`), which only decides
    whether a backend gets traffic. Timeouts are long because watches and `kubectl exec`
    streams stay idle for minutes.

    In `vip` mode haproxy binds the port on every address (`bind :PORT`, as kubeadm's HA guide
    does): the VIP is local only on the node that holds it, and binding it elsewhere would need
    `ip_nonlocal_bind`; this way every balancer is ready the moment the VIP arrives.

    `node`: the balancer node the config is for; its Prometheus exporter (with [monitoring]
    enabled) listens on that node's own address only (issue 25: unauthenticated metrics).
    """
    host, port = plan.endpoint_host_port
    bind = f":{port}" if plan.balancer_mode == BalancerMode.VIP else _hostport(host, port)
    bind = config_word(bind, "cluster.control_plane_endpoint")
    servers = "\n".join(
        f"    server {config_word(m.name, 'server name')} "
        f"{config_word(_hostport(m.address, APISERVER_PORT), 'server address')} "
        "check check-ssl verify none"
        for m in plan.control_plane_nodes
    )
    cluster = config_word(plan.cluster.name, "cluster.name")
    text = f"""\
# written by hawizard for cluster {cluster}: edit the plan and run `hawizard apply`.
global
    log /dev/log local0
    chroot /var/lib/haproxy
    stats socket {HAPROXY_STATS_SOCKET} mode 600 level admin
    stats timeout 30s
    user haproxy
    group haproxy

defaults
    log global
    option dontlognull
    retries 3
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout check 5s

frontend kube-apiserver
    bind {bind}
    mode tcp
    option tcplog
    default_backend kube-apiserver

backend kube-apiserver
    mode tcp
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 3s fall 3 rise 2
{servers}

listen stats
    bind 127.0.0.1:{HAPROXY_STATS_PORT}
    mode http
    stats enable
    stats uri /stats
    stats refresh 10s
{_prometheus_frontend(plan, node)}"""
    return plain_lines(text, "haproxy.cfg")


def _prometheus_frontend(plan: Plan, node: Node | None) -> str:
    """With [monitoring] enabled: haproxy's built-in exporter, on the balancer node's own
    address (`node`, else the first balancer's); the nodes' firewall lets only the scrapers
    in (`hawizard.firewall`)."""
    balancers = plan.balancer_nodes
    if not plan.monitoring.enabled or not balancers:
        return ""
    port = plan.monitoring.haproxy_metrics_port
    own = node if node is not None and node in balancers else balancers[0]
    address = config_word(_hostport(own.address, port), "metrics bind")
    return f"""
frontend prometheus
    bind {address}
    mode http
    no log
    http-request use-service prometheus-exporter if {{ path /metrics }}
"""


def priority(plan: Plan, node: Node) -> int:
    """Distinct VRRP priorities in plan order (150, 149, ...): one clear winner at bootstrap."""
    names = [n.name for n in plan.balancer_nodes]
    return TOP_PRIORITY - names.index(node.name)


def render_keepalived_config(plan: Plan, node: Node, interface: str) -> str:
    """keepalived for one balancer node: one VRRP instance holding the VIP, unicast to peers.

    - Unicast (`unicast_src_ip`/`unicast_peer`): works on networks that drop multicast.
      `check_unicast_src`: an advert from an address that is not a peer is ignored (VRRPv3
      has no authentication; the nftables table of `firewall` drops it even earlier).
    - VRRPv3: allows sub-second adverts; no auth (v3 has none) — the per-cluster
      `virtual_router_id` keeps clusters on one network apart.
    - Every node starts BACKUP with `nopreempt` and a distinct priority: at bootstrap the
      highest priority wins (its master-down timer is the shortest), and a node that comes
      back does not take the VIP again — one move per failure, no flapping.
    - Gratuitous ARPs beyond the transition: a master that hears a lower-priority advert (the
      other side of a healed partition, which took the VIP meanwhile) announces itself again
      at once, and every master repeats it every 10 s. Without this a master that never
      changed state sends none, and the network keeps sending to the node that just dropped
      the VIP until its ARP entry expires (measured in the lab: no answer after the heal).
    - `track_script` on `systemctl is-active haproxy` every second: when haproxy is down (or
      being restarted by systemd) the instance goes to FAULT and releases the VIP, so the
      address follows a working haproxy, not only a running node. Not `track_process`: it
      needs the kernel's process-event connector, which a container or a non-initial network
      namespace refuses ("Failed to set/clear process event listen", measured in the lab).

    `interface` is the node's interface holding its plan address, read on the node.
    """
    if not _IFNAME.fullmatch(interface):
        raise ValueError(f"{interface!r} is not a network interface name")
    vip, _ = plan.endpoint_host_port
    ipaddress.IPv4Address(vip)  # validated by the plan; refuse anything else here too
    peers = [n for n in plan.balancer_nodes if n.name != node.name]
    for n in (node, *peers):
        ipaddress.ip_address(config_word(n.address, f"{n.name} address"))  # no `%scope`
    cluster = config_word(plan.cluster.name, "cluster.name")
    router = config_word(node.name, "node name")
    # One balancer node has no peer to talk to (validation warns); keepalived refuses an
    # empty unicast_peer block, so it then sends its adverts the default way.
    unicast = (
        f"    unicast_src_ip {node.address}\n    unicast_peer {{\n"
        + "".join(f"        {p.address}\n" for p in peers)
        + "    }\n    check_unicast_src\n"
        if peers
        else ""
    )
    advert = f"{plan.load_balancer.advert_interval:g}"
    text = f"""\
# written by hawizard for cluster {cluster}: edit the plan and run `hawizard apply`.
global_defs {{
    router_id {router}
    vrrp_version 3
    vrrp_garp_lower_prio_repeat 3
    vrrp_garp_lower_prio_delay 0
    vrrp_garp_master_refresh 10
    enable_script_security
    script_user root
}}

vrrp_script haproxy_active {{
    script "/bin/systemctl is-active --quiet haproxy.service"
    interval 1
    timeout 2
    fall 1
    rise 2
}}

vrrp_instance {VRRP_INSTANCE} {{
    state BACKUP
    nopreempt
    interface {interface}
    virtual_router_id {plan.virtual_router_id}
    priority {priority(plan, node)}
    advert_int {advert}
{unicast}    virtual_ipaddress {{
        {vip}/32 dev {interface}
    }}
    track_script {{
        haproxy_active
    }}
}}
"""
    return plain_lines(text, "keepalived.conf")


def render_keepalived_dropin() -> str:
    """Debian's keepalived unit has no `Restart=`: a crashed keepalived would leave its node
    out of the VIP's candidates until someone started it (haproxy's unit restarts already)."""
    return (
        "# written by hawizard: a crashed keepalived comes back and rejoins the VRRP election.\n"
        "[Service]\n"
        "Restart=on-failure\n"
        "RestartSec=1\n"
    )


def render_keepalived_defaults() -> str:
    return (
        "# written by hawizard: keepalived runs only its VRRP part (no LVS checker).\n"
        'DAEMON_ARGS="--vrrp"\n'
    )
