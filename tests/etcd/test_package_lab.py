"""`etcd.install = "package"` for real: Debian's etcd from the lab's local package repository.

Every check is independent of hawizard: the node's own dpkg, /proc, stat and the real etcdctl.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from fixtures.etcdctl import etcdctl

from hawizard import packages, pki
from hawizard.etcd import render
from hawizard.etcd.rollout import etcd_phases
from hawizard.plan import Plan, dump, load, validate
from hawizard.remote import HostPool
from hawizard.steps import EventKind, Runner

pytestmark = pytest.mark.lab

INSTALL = "install etcd package"


def run(plan: Plan, events: list | None = None, listener=None):
    pki.create(plan)

    def listen(event) -> None:
        if events is not None:
            events.append(event)
        if listener is not None:
            listener(event)

    return Runner(HostPool(plan), listener=listen).run(etcd_phases(plan))


def package_plan(lab, folder: Path, n: int = 3) -> Plan:
    (folder / "pki").mkdir(mode=0o700, exist_ok=True)
    plan = lab.plan(nodes=n, pki_dir=folder / "pki")
    plan = replace(plan, etcd=replace(plan.etcd, install="package"))
    dump(plan, folder / "plan.toml")
    return load(folder / "plan.toml")


def exe_of_etcd(lab, node: str) -> str:
    pid = lab.exec(node, ["systemctl", "show", "-p", "MainPID", "--value", "etcd"]).stdout.strip()
    return lab.exec(node, ["readlink", f"/proc/{pid}/exe"]).stdout.strip()


def apt_installs(lab, node: str) -> int:
    """How many `apt-get install` runs the node's apt history records."""
    text = lab.exec(node, ["cat", "/var/log/apt/history.log"], check=False).stdout
    return sum(1 for line in text.splitlines() if line.startswith("Commandline: apt-get install"))


@pytest.fixture(scope="module")
def cluster(lab, tmp_path_factory):
    """3 members from Debian's packages; right after each package install the node is looked
    at (etcd not running, no data dir) before any later step can run on it."""
    plan = package_plan(lab, tmp_path_factory.mktemp("package"))
    names = [m.name for m in plan.etcd_nodes]
    right_after_install: dict[str, str] = {}

    def look(event) -> None:
        if event.kind is EventKind.CHANGED and event.step == INSTALL:
            state = lab.exec(event.node, ["systemctl", "is-active", "etcd"], check=False)
            data = lab.exec(event.node, ["ls", "-A", plan.etcd.data_dir], check=False)
            right_after_install[event.node] = f"{state.stdout.strip()}|{data.stdout.strip()}"

    try:
        events: list = []
        result = run(plan, events, look)
        assert result.ok, result.failures
        yield plan, events, right_after_install
    finally:
        lab.reset(*names)


def test_every_member_runs_debians_etcd_binary(lab, cluster):
    plan, _events, _seen = cluster
    for m in plan.etcd_nodes:
        assert exe_of_etcd(lab, m.name) == "/usr/bin/etcd"
        owner = lab.exec(m.name, ["dpkg", "-S", "/usr/bin/etcd"]).stdout
        assert owner.startswith("etcd-server:")
        version = lab.exec(m.name, ["/usr/bin/etcd", "--version"]).stdout
        assert "etcd Version: 3.4." in version
        policy = lab.exec(m.name, ["apt-cache", "policy", "etcd-server"]).stdout
        assert "file:/srv/hawizard-lab-repo" in policy  # from the lab's repository, nothing else
    health = etcdctl(plan, "endpoint", "health")
    assert health.returncode == 0, health.stderr
    assert (health.stdout + health.stderr).count("is healthy") == 3
    status = etcdctl(plan, "endpoint", "status", "-w", "fields")
    leaders = {
        line.split(":", 1)[1].strip() for line in status.stdout.splitlines() if '"Leader"' in line
    }
    assert len(leaders) == 1  # every member names the same leader


def test_mutual_tls_is_enforced(cluster):
    plan, _events, _seen = cluster
    assert etcdctl(plan, "endpoint", "health", cert=False, scheme="http").returncode != 0
    no_cert = etcdctl(plan, "endpoint", "health", cert=False)
    assert no_cert.returncode != 0


def test_the_package_never_started_etcd_or_made_a_data_dir(lab, cluster):
    plan, _events, right_after_install = cluster
    # Looked at the moment each install finished, before hawizard wrote config or unit.
    assert right_after_install == {m.name: "inactive|" for m in plan.etcd_nodes}
    members = etcdctl(plan, "member", "list", "-w", "simple")
    names = sorted(line.split(", ")[2] for line in members.stdout.splitlines())
    assert names == sorted(m.name for m in plan.etcd_nodes)  # no stray "default" member
    for m in plan.etcd_nodes:
        stamp = ["stat", "-c", "%Y"]
        unit = int(lab.exec(m.name, [*stamp, render.UNIT_PATH]).stdout)
        member = int(lab.exec(m.name, [*stamp, f"{plan.etcd.data_dir}/member"]).stdout)
        assert member >= unit  # no member/ dir older than hawizard's unit file
        unit_text = lab.exec(m.name, ["systemctl", "cat", "etcd"]).stdout
        assert "EnvironmentFile" not in unit_text and "/etc/default/etcd" not in unit_text
        pid = lab.exec(m.name, ["systemctl", "show", "-p", "MainPID", "--value", "etcd"]).stdout
        environ = lab.exec(m.name, ["cat", f"/proc/{pid.strip()}/environ"]).stdout
        assert "ETCD_" not in environ  # the package's /etc/default/etcd is not in the way
        leftovers = lab.exec(m.name, ["ls", "/run/systemd/system", "/usr/sbin"]).stdout.split()
        assert "etcd.service" not in leftovers and "policy-rc.d" not in leftovers


def test_reapply_changes_nothing_and_runs_no_apt(lab, cluster):
    plan, _events, _seen = cluster
    pids = {m.name: exe_of_etcd(lab, m.name) for m in plan.etcd_nodes}
    main = ["systemctl", "show", "-p", "MainPID", "--value", "etcd"]
    before = {m.name: lab.exec(m.name, main).stdout for m in plan.etcd_nodes}
    installs = {m.name: apt_installs(lab, m.name) for m in plan.etcd_nodes}
    events: list = []
    result = run(plan, events)
    assert result.ok and result.count("changed") == 0
    assert [e for e in events if e.step == INSTALL and e.kind is EventKind.UNCHANGED]
    assert {m.name: lab.exec(m.name, main).stdout for m in plan.etcd_nodes} == before
    assert {m.name: apt_installs(lab, m.name) for m in plan.etcd_nodes} == installs
    assert pids == {m.name: "/usr/bin/etcd" for m in plan.etcd_nodes}


def test_a_package_the_repo_lacks_fails_in_the_install_step(lab, tmp_path):
    plan = package_plan(lab, tmp_path, n=5)
    node = plan.nodes[3]  # a node no other test in this module touches
    plan = replace(
        plan,
        nodes=(node,),
        etcd=replace(plan.etcd, packages=("etcd-server", "etcd-no-such-package")),
    )
    try:
        result = run(plan)
        assert not result.ok
        [failure] = result.failures
        assert failure.node == node.name and failure.step == INSTALL
        assert "etcd-no-such-package" in failure.error and node.name in failure.error
        # Nothing else changed on that node: no package, no user, no config, no data dir.
        assert lab.exec(node.name, ["dpkg-query", "-W", "etcd-server"], check=False).returncode
        assert lab.exec(node.name, ["id", "etcd"], check=False).returncode != 0
        for path in ("/etc/etcd", plan.etcd.data_dir, render.UNIT_PATH):
            assert lab.exec(node.name, ["test", "-e", path], check=False).returncode != 0
    finally:
        lab.reset(node.name)


def test_haproxy_and_keepalived_come_from_the_repo_and_stay_stopped(lab, lab_plan):
    plan = lab_plan(5)
    node = plan.nodes[4]
    pool = HostPool(plan)
    try:
        host = pool.get(node.name)
        host.connect()
        wanted = ["haproxy", "keepalived"]
        assert not packages.is_installed(host, wanted)
        packages.install(host, wanted, quiet_units=("haproxy.service", "keepalived.service"))
        assert packages.is_installed(host, wanted)
        for unit in ("haproxy", "keepalived"):
            state = lab.exec(node.name, ["systemctl", "is-active", unit], check=False).stdout
            assert state.strip() == "inactive"  # installed, never started with the defaults
    finally:
        pool.close()
        lab.reset(node.name)


def test_mixed_install_paths_warn_and_run(lab, cluster, tmp_path):
    """Last in this module: turns the third member into an uploaded etcd 3.5."""
    plan, _events, _seen = cluster
    third = plan.etcd_nodes[2]
    mixed = replace(
        plan,
        nodes=tuple(replace(n, etcd_install="upload") if n == third else n for n in plan.nodes),
    )
    warnings = [p.message for p in validate(mixed)]
    assert any("may differ in version" in w for w in warnings)
    events: list = []
    result = run(mixed, events)
    assert result.ok, result.failures
    said = " ".join(e.text for e in events if e.kind is EventKind.OUTPUT)
    assert "different etcd versions" in said
    assert exe_of_etcd(lab, third.name) == "/usr/local/bin/etcd"
    assert exe_of_etcd(lab, plan.etcd_nodes[0].name) == "/usr/bin/etcd"
    health = etcdctl(plan, "endpoint", "health")
    assert (health.stdout + health.stderr).count("is healthy") == 3
