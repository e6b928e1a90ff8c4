"""Balancer renderers: checked by content, then by the real readers — `haproxy -c` for the
haproxy config and `keepalived -t` for keepalived's (both installed on this host by setup.sh)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hawizard.balancer import render
from hawizard.plan import (
    Cluster,
    ControlPlaneSettings,
    LoadBalancerSettings,
    Node,
    PKISettings,
    Plan,
    Role,
)

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
KEEPALIVED = shutil.which("keepalived") or "/usr/sbin/keepalived"
needs_haproxy = pytest.mark.skipif(not Path(HAPROXY).exists(), reason="haproxy not installed")
needs_keepalived = pytest.mark.skipif(
    not Path(KEEPALIVED).exists(), reason="keepalived not installed (scripts/setup.sh)"
)


def make_plan(tmp_path: Path, *, endpoint: str = "127.0.0.60:18443", lb: str = "m0") -> Plan:
    nodes = (
        Node("m0", "127.0.0.61"),
        Node("m1", "127.0.0.62"),
        Node("m2", "127.0.0.63"),
        Node("e3", "127.0.0.64", (Role.ETCD,)),  # etcd only: in --etcd-servers, not a backend
    )
    return Plan(
        nodes=nodes,
        cluster=Cluster(name="cptest", control_plane_endpoint=endpoint),
        pki=PKISettings(dir=str(tmp_path / "pki")),
        control_plane=ControlPlaneSettings(
            service_cidr="10.32.0.0/16", cluster_domain="corp.local", load_balancer=lb
        ),
    )


def vip_plan(**lb) -> Plan:
    nodes = (
        Node("m0", "10.1.2.11"),
        Node("m1", "10.1.2.12"),
        Node("m2", "10.1.2.13"),
        Node("e3", "10.1.2.14", (Role.ETCD,)),
    )
    lb.setdefault("mode", "vip")
    lb.setdefault("subnet", "10.1.2.0/24")
    return Plan(
        nodes=nodes,
        cluster=Cluster(name="viptest", control_plane_endpoint="10.1.2.10:8443"),
        load_balancer=LoadBalancerSettings(**lb),
    )


def real_check(argv: list[str], text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "config"
    path.write_text(text)
    return subprocess.run(
        [*argv, str(path)], capture_output=True, text=True, timeout=30, check=False
    )


def haproxy_check(text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return real_check([HAPROXY, "-c", "-f"], text, tmp_path)


def keepalived_check(text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return real_check([KEEPALIVED, "-t", "-f"], text, tmp_path)


# --- haproxy (moved from tests/control_plane/test_cp_render.py) -------------------------------


def test_haproxy_config_content():
    plan = make_plan(Path("/x"))
    text = render.render_haproxy_config(plan)
    assert "    bind 127.0.0.60:18443\n" in text
    assert "mode tcp" in text and "ssl crt" not in text  # passthrough, TLS not terminated
    assert "option httpchk GET /healthz" in text
    servers = [line.split() for line in text.splitlines() if line.strip().startswith("server ")]
    assert servers == [
        ["server", name, f"127.0.0.{n}:6443", "check", "check-ssl", "verify", "none"]
        for name, n in (("m0", 61), ("m1", 62), ("m2", 63))
    ]
    assert f"stats socket {render.HAPROXY_STATS_SOCKET} mode 600 level admin" in text
    assert f"bind 127.0.0.1:{render.HAPROXY_STATS_PORT}" in text


@needs_haproxy
def test_haproxy_accepts_the_config(tmp_path):
    path = tmp_path / "haproxy.cfg"
    path.write_text(render.render_haproxy_config(make_plan(tmp_path)))
    proc = subprocess.run(
        [HAPROXY, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "[WARNING]" not in out and "[ALERT]" not in out, out


@needs_haproxy
def test_haproxy_check_can_fail(tmp_path):
    """`haproxy -c` is a real check: a server line with a bad address is rejected."""
    text = render.render_haproxy_config(make_plan(tmp_path)).replace(
        "127.0.0.62:6443", "127.0.0.62:notaport"
    )
    path = tmp_path / "haproxy.cfg"
    path.write_text(text)
    proc = subprocess.run(
        [HAPROXY, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode != 0 and "[ALERT]" in proc.stdout + proc.stderr


# --- haproxy in vip mode ----------------------------------------------------------------------


@needs_haproxy
def test_vip_haproxy_binds_the_port_on_every_address(tmp_path):
    """The VIP is local only on its holder, so every balancer binds the port everywhere."""
    text = render.render_haproxy_config(vip_plan())
    assert "    bind :8443\n" in text and "10.1.2.10" not in text
    proc = haproxy_check(text, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[WARNING]" not in proc.stdout + proc.stderr


# --- keepalived -------------------------------------------------------------------------------


def test_keepalived_config_content():
    plan = vip_plan()
    m1 = plan.nodes[1]
    text = render.render_keepalived_config(plan, m1, "eth0")
    assert "    state BACKUP\n    nopreempt\n" in text
    assert f"    virtual_router_id {plan.virtual_router_id}\n" in text
    assert "    priority 149\n" in text  # the second balancer node
    assert "    unicast_src_ip 10.1.2.12\n" in text
    peers = text.split("unicast_peer {\n", 1)[1].split("}", 1)[0].split()
    assert peers == ["10.1.2.11", "10.1.2.13"]  # the others, never itself or the etcd-only node
    assert "        10.1.2.10/32 dev eth0\n" in text
    assert "track_script {\n        haproxy_active\n" in text
    assert 'script "/bin/systemctl is-active --quiet haproxy.service"' in text
    assert "advert_int 1\n" in text
    assert "vrrp_version 3" in text
    assert "vrrp_garp_lower_prio_repeat 3" in text and "vrrp_garp_master_refresh 10" in text
    assert render.render_keepalived_defaults().strip().endswith('DAEMON_ARGS="--vrrp"')


def test_priorities_are_distinct_with_one_top():
    plan = vip_plan()
    prios = [render.priority(plan, n) for n in plan.balancer_nodes]
    assert prios == [150, 149, 148]
    chosen = vip_plan(nodes=("m2", "m0"))
    assert [render.priority(chosen, n) for n in chosen.balancer_nodes] == [150, 149]


@needs_keepalived
@pytest.mark.parametrize("nodes", [(), ("m2",)])
def test_keepalived_accepts_the_config(tmp_path, nodes):
    plan = vip_plan(nodes=nodes, advert_interval=0.5, virtual_router_id=77)
    for node in plan.balancer_nodes:
        text = render.render_keepalived_config(plan, node, "eth0")
        proc = keepalived_check(text, tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout + proc.stderr == ""  # not even a warning
        assert "advert_int 0.5\n" in text and "virtual_router_id 77\n" in text


@needs_keepalived
def test_keepalived_check_can_fail(tmp_path):
    """`keepalived -t` is a real check: an out-of-range priority is rejected."""
    plan = vip_plan()
    text = render.render_keepalived_config(plan, plan.nodes[0], "eth0")
    proc = keepalived_check(text.replace("priority 150", "priority 1500"), tmp_path)
    assert proc.returncode != 0 and "Priority not valid" in proc.stdout + proc.stderr


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=0, max_size=20))
def test_interface_names_that_could_break_the_config_are_refused(name):
    plan = vip_plan()
    safe = 1 <= len(name) <= 15 and all(c.isascii() and (c.isalnum() or c in "_.@-") for c in name)
    if safe:
        text = render.render_keepalived_config(plan, plan.nodes[0], name)
        assert f"    interface {name}\n" in text
    else:
        with pytest.raises(ValueError, match="not a network interface name"):
            render.render_keepalived_config(plan, plan.nodes[0], name)


@needs_keepalived
@settings(max_examples=15, deadline=None)
@given(
    vrid=st.integers(1, 255),
    advert=st.integers(1, 4095).map(lambda cs: cs / 100),
    name=st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True),
)
def test_keepalived_accepts_every_valid_plan_value(tmp_path_factory, vrid, advert, name):
    plan = vip_plan(virtual_router_id=vrid, advert_interval=advert)
    plan = replace(plan, nodes=(replace(plan.nodes[0], name=name), *plan.nodes[1:]))
    text = render.render_keepalived_config(plan, plan.nodes[0], "eth0")
    proc = keepalived_check(text, tmp_path_factory.mktemp("ka"))
    assert proc.returncode == 0, (text, proc.stdout + proc.stderr)


def test_vip_metrics_frontend_binds_each_nodes_own_address(tmp_path):
    """Issue 25 item 3: haproxy's Prometheus exporter is unauthenticated, so each balancer
    node's config binds it on that node's address only (never `:8405`, every interface)."""
    from dataclasses import replace as _replace

    from hawizard.plan import MonitoringSettings

    plan = _replace(vip_plan(), monitoring=MonitoringSettings(enabled=True))
    for node in plan.balancer_nodes:
        text = render.render_haproxy_config(plan, node)
        assert f"frontend prometheus\n    bind {node.address}:8405\n" in text
        assert "bind :8405" not in text
        assert "bind :8443" in text  # the endpoint itself still on every address (the VIP)
