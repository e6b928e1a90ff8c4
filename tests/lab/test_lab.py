"""The lab against the real thing: nspawn nodes, SSH, faults and a clean teardown (root only)."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures.lab import running_lab

from hawizard.lab import Lab, LabError
from hawizard.lab.node import ssh_banner
from hawizard.lab.plan_writer import lab_vip
from hawizard.lab.proc import alive
from hawizard.lab.state import LabRecord
from hawizard.plan import Role, load, validate

pytestmark = pytest.mark.lab


def ssh(lab: Lab, node: str, command: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        lab.ssh_argv(node, command), capture_output=True, text=True, timeout=timeout
    )


def wait_for(predicate, timeout: float) -> float:
    """Seconds until `predicate()` held; fails the test past `timeout`."""
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, f"not true within {timeout} s"
        time.sleep(0.1)
    return time.monotonic() - start


def test_ssh_to_every_node_with_strict_host_key_checking(lab: Lab, tmp_path: Path):
    assert len(lab.nodes) == 5
    for node in lab.nodes:
        result = ssh(lab, node.name, "hostname; id -u; sudo -n true && echo sudo-ok")
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == [node.name, "0", "sudo-ok"]
    # The same login with an empty known_hosts is refused: the check is real.
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    argv = [
        f"UserKnownHostsFile={empty}" if a.startswith("UserKnownHostsFile=") else a
        for a in lab.ssh_argv(lab.nodes[0].name, "true")
    ]
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert refused.returncode == 255
    assert "Host key verification failed" in refused.stderr


def test_every_node_has_its_own_host_key_and_machine_id(lab: Lab):
    keys = lab.known_hosts_path.read_text().splitlines()
    assert [line.split()[0] for line in keys] == [n.address for n in lab.nodes]
    assert len({line.split()[2] for line in keys}) == len(keys)
    ids = {lab.exec(n.name, ["cat", "/etc/machine-id"]).stdout.strip() for n in lab.nodes}
    assert len(ids) == len(lab.nodes) and "" not in ids


def test_systemd_is_pid_1_and_the_system_runs(lab: Lab):
    for node in lab.nodes:
        assert lab.exec(node.name, ["ps", "-o", "comm=", "-p", "1"]).stdout.strip() == "systemd"
        state = lab.exec(node.name, ["systemctl", "is-system-running", "--wait"], check=False)
        assert state.stdout.strip() in ("running", "degraded"), state.stdout


def test_base_image_has_no_haproxy_no_etcd_and_quiet_timers(lab: Lab):
    # Issue 14: haproxy left the base image (it used to be there, disabled); it and etcd come
    # from the lab's package repository, the node's only apt source.
    node = lab.nodes[0].name
    for tool in ("haproxy", "etcd"):
        assert lab.exec(node, ["sh", "-c", f"command -v {tool}"], check=False).returncode != 0
    sources = lab.exec(node, ["sh", "-c", "cat /etc/apt/sources.list /etc/apt/sources.list.d/*"])
    debs = [line for line in sources.stdout.splitlines() if line.startswith("deb")]
    assert debs == ["deb [trusted=yes] file:/srv/hawizard-lab-repo ./"]
    mounts = lab.exec(node, ["findmnt", "-n", "-o", "OPTIONS", "/srv/hawizard-lab-repo"]).stdout
    assert "ro" in mounts.split(",")
    offered = lab.exec(node, ["cat", "/srv/hawizard-lab-repo/Packages"]).stdout
    for name in ("etcd-server", "etcd-client", "haproxy", "keepalived", "prometheus-node-exporter"):
        assert f"Package: {name}\n" in offered
    timer = lab.exec(node, ["systemctl", "is-enabled", "apt-daily.timer"], check=False)
    assert timer.stdout.strip() == "masked"
    hosts = lab.exec(node, ["cat", "/etc/hosts"]).stdout
    assert "127.0.0.1\tlocalhost" in hosts
    assert all(f"{n.address}\t{n.name}" in hosts for n in lab.nodes)


def test_nodes_reach_each_other_by_name(lab: Lab):
    first, last = lab.nodes[0], lab.nodes[-1]
    probe = f"exec 3<>/dev/tcp/{last.name}/22 && head -c 4 <&3"
    out = lab.exec(first.name, ["timeout", "5", "bash", "-c", probe]).stdout
    assert out == "SSH-"


def test_a_file_on_one_node_is_on_no_other_node_nor_the_host(lab: Lab):
    token = f"/root/hawizard-{secrets.token_hex(6)}"
    a, b = lab.nodes[0].name, lab.nodes[1].name
    assert ssh(lab, a, f"echo private > {token}").returncode == 0
    assert lab.exec(a, ["cat", token]).stdout == "private\n"
    assert lab.exec(b, ["test", "-e", token], check=False).returncode == 1
    assert not Path(token).exists()
    lab.exec(a, ["rm", token])


def test_stop_then_start_keeps_the_node_disk(lab: Lab):
    node = lab.nodes[4]
    token = f"/root/survives-{secrets.token_hex(6)}"
    lab.exec(node.name, ["sh", "-c", f"echo kept > {token}"])
    started = time.monotonic()
    assert lab.fault(node.name, "stop") == f"{node.name} powered off"
    assert time.monotonic() - started < 30
    status = {n.name: n for n in lab.status().nodes}
    assert not status[node.name].running
    assert not ssh_banner(node.address)
    with pytest.raises(LabError, match="not running"):
        lab.exec(node.name, ["true"])
    lab.fault(node.name, "start")
    assert {n.name: n for n in lab.status().nodes}[node.name].running
    result = ssh(lab, node.name, f"cat {token} && rm {token}")  # same host key: strict SSH works
    assert result.returncode == 0, result.stderr
    assert result.stdout == "kept\n"


def test_a_node_that_reboots_comes_back_with_its_disk_address_and_host_key(lab: Lab):
    node = lab.nodes[4]
    token = f"/root/survives-reboot-{secrets.token_hex(6)}"
    lab.exec(node.name, ["sh", "-c", f"echo kept > {token}"])
    init_before = lab.exec(node.name, ["cut", "-d", " ", "-f22", "/proc/1/stat"]).stdout
    supervisor = lab.node(node.name).pid
    ssh(lab, node.name, "systemctl --no-block reboot")  # nspawn exits 133: "reboot, please"
    deadline = time.monotonic() + 60
    while True:
        result = ssh(lab, node.name, "cut -d ' ' -f22 /proc/1/stat")  # strict host key check
        if result.returncode == 0 and result.stdout != init_before:
            break
        assert time.monotonic() < deadline, f"{node.name} did not come back: {result.stderr}"
        time.sleep(0.5)
    assert lab.node(node.name).pid == supervisor  # the same node, booted again
    assert {n.name: n for n in lab.status().nodes}[node.name].running
    # nsenter finds the node's new systemd (the recorded one is gone)
    assert lab.exec(node.name, ["cat", token]).stdout == "kept\n"
    assert lab.exec(node.name, ["hostname", "-I"]).stdout.split()[0] == node.address
    lab.exec(node.name, ["rm", token])


def test_partition_cuts_a_node_off_and_heal_brings_it_back(lab: Lab):
    node, peer = lab.nodes[3], lab.nodes[0]
    lab.fault(node.name, "partition")
    try:
        assert lab.status().nodes[3].partitioned
        started = time.monotonic()
        cut = ssh(lab, node.name, "true")  # ConnectTimeout=5 bounds the silent drop
        assert cut.returncode == 255
        assert time.monotonic() - started < 15
        probe = f"exec 3<>/dev/tcp/{peer.address}/22"
        inside = lab.exec(node.name, ["timeout", "3", "bash", "-c", probe], check=False)
        assert inside.returncode != 0  # the node cannot reach out either
    finally:
        lab.fault(node.name, "heal")
    assert not lab.status().nodes[3].partitioned
    wait_for(lambda: ssh_banner(node.address), timeout=10)
    assert ssh(lab, node.name, "true").returncode == 0


def test_kill_etcd_sends_sigkill_to_the_main_pid(lab: Lab):
    node = lab.nodes[4].name
    with pytest.raises(LabError, match="etcd is not running"):
        lab.fault(node, "kill-etcd")
    # A stand-in unit named etcd: the fault acts on whatever runs as etcd.service.
    unit = "[Service]\nExecStart=/bin/sleep infinity\nRestart=on-failure\nRestartSec=0.2\n"
    lab.exec(node, ["sh", "-c", "cat > /run/systemd/system/etcd.service"], input=unit)
    try:
        lab.exec(node, ["systemctl", "daemon-reload"])
        lab.exec(node, ["systemctl", "start", "etcd"])
        show = ["systemctl", "show", "--property=MainPID", "--value", "etcd"]
        before = lab.exec(node, show).stdout.strip()
        assert f"PID {before} " in lab.fault(node, "kill-etcd")

        def restarted() -> bool:
            pid = lab.exec(node, show).stdout.strip()
            return pid not in ("0", before)

        wait_for(restarted, timeout=10)
        result = lab.exec(node, ["systemctl", "show", "--property=NRestarts", "--value", "etcd"])
        assert result.stdout.strip() == "1"
    finally:
        lab.exec(node, ["systemctl", "stop", "etcd"], check=False)
        lab.exec(node, ["rm", "-f", "/run/systemd/system/etcd.service"])
        lab.exec(node, ["systemctl", "daemon-reload"])


def test_the_lab_plan_is_valid_and_points_at_the_lab(lab: Lab, lab_plan, tmp_path: Path):
    plan = load(lab.plan_path)
    assert [p for p in validate(plan) if p.severity == "error"] == []
    assert [n.name for n in plan.nodes] == [n.name for n in lab.nodes]
    assert all(set(n.roles) == {Role.ETCD, Role.CONTROL_PLANE} for n in plan.nodes)
    # The plan `lab up` writes serves the endpoint from a VIP on every node (issue 15); the
    # `lab_plan` fixture below keeps haproxy on the first node only.
    vip = lab_vip(lab.record)
    assert plan.cluster.control_plane_endpoint == f"{vip}:8443"
    assert vip not in [n.address for n in lab.nodes] and vip != lab.record.gateway
    assert plan.balancer_mode == "vip" and plan.load_balancer.subnet == lab.record.subnet
    assert [n.name for n in plan.balancer_nodes] == [n.name for n in lab.nodes]
    assert plan.etcd.install == "upload"
    assert (plan.resolve(plan.etcd.binaries) / "etcdctl").exists()
    assert plan.resolve(plan.cluster.known_hosts) == lab.known_hosts_path
    assert plan.resolve(plan.nodes[0].ssh.key) == lab.key_path
    assert lab.key_path.stat().st_mode & 0o777 == 0o600
    assert lab.dir.stat().st_mode & 0o777 == 0o700
    three = lab_plan(3)
    assert [n.address for n in three.nodes] == [n.address for n in lab.nodes[:3]]
    assert three.pki_dir == tmp_path / "pki"
    assert [p for p in validate(three) if p.severity == "error"] == []
    assert three.cluster.control_plane_endpoint == f"{lab.nodes[0].address}:8443"
    assert three.control_plane.load_balancer == lab.nodes[0].name


def _lab_traces(lab: Lab, rec: LabRecord) -> list[str]:
    """Everything of `lab` (as `rec` recorded it) on the host: netns, links, processes, mounts."""
    traces = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    traces += [n.netns for n in rec.nodes if n.netns in netns]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    traces += [name for name in (rec.bridge, *(n.veth for n in rec.nodes)) if f" {name}" in links]
    traces += [f"pid {n.pid}" for n in rec.nodes if alive(n.pid, n.start_time)]
    traces += [f"pid {n.leader}" for n in rec.nodes if alive(n.leader, n.leader_start)]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(lab.dir) in (proc / "cmdline").read_text():
                    traces.append(f"process {proc.name}")
                if str(lab.dir) in (proc / "mountinfo").read_text():
                    traces.append(f"mount seen by {proc.name}")
            except OSError:
                continue
    return traces


def test_two_labs_at_once_and_down_leaves_nothing_behind(lab: Lab):
    with running_lab("hwdown", 2) as other:
        assert other.record.subnet != lab.record.subnet
        for node in (*other.nodes, *lab.nodes):
            assert ssh_banner(node.address), node
        assert ssh(other, other.nodes[1].name, "hostname").stdout.strip() == "hwdown-n2"
        other.exec(other.nodes[0].name, ["sh", "-c", "echo disk > /root/kept"])
        rec = other.record  # taken while up: down zeroes the PIDs in the record
        assert len(_lab_traces(other, rec)) >= 2 + 2 + 1 + 2 * 2  # netns, veths, bridge, PIDs
        assert other.down() is True
        assert _lab_traces(other, rec) == []
        assert other.down() is True  # idempotent
        assert other.key_path.exists()  # disks and keys stay without --purge
        other.up()  # comes back with the same disks and host keys
        result = ssh(other, other.nodes[0].name, "cat /root/kept")
        assert result.stdout == "disk\n", result.stderr
        rec = other.record
        assert other.down(purge=True) is True
        assert _lab_traces(other, rec) == []
        assert not other.dir.exists()
        assert other.down(purge=True) is False
    for node in lab.nodes:  # the session lab never noticed
        assert ssh_banner(node.address)


def hawizard(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hawizard", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_status_json_and_fault_by_short_name(lab: Lab):
    result = hawizard("lab", "status", "--name", lab.name, "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert {"name", "subnet", "plan", "key", "known_hosts", "nodes"} <= set(status)
    assert status["plan"] == str(lab.plan_path)
    assert [(n["name"], n["address"], n["running"]) for n in status["nodes"]] == [
        (n.name, n.address, True) for n in lab.nodes
    ]
    short = lab.nodes[2].name.rpartition("-")[2]  # "n3"
    assert hawizard("lab", "fault", short, "partition", "--name", lab.name).returncode == 0
    try:
        assert lab.status().nodes[2].partitioned
    finally:
        assert hawizard("lab", "fault", short, "heal", "--name", lab.name).returncode == 0
    assert not lab.status().nodes[2].partitioned
    bad = hawizard("lab", "fault", "n99", "stop", "--name", lab.name)
    assert bad.returncode == 2
    assert "no node" in bad.stderr


def test_reset_gives_a_fresh_disk_with_the_same_identity(lab: Lab):
    node = lab.nodes[4].name
    lab.exec(node, ["sh", "-c", "echo junk > /root/junk"])
    lab.reset(node)
    assert lab.exec(node, ["test", "-e", "/root/junk"], check=False).returncode == 1
    result = ssh(lab, node, "hostname")  # same host key: strict checking still passes
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == node
