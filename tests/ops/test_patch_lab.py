"""OS patching on a live 3-member lab cluster, judged by tools hawizard did not write.

The package: `hawizard-marker`, a real `.deb` built here with `dpkg-deb`, installed at 1.0 on
every node; its 1.1 (whose postinst touches `/run/reboot-required`, as a kernel or libc update
does) is offered by a flat repository whose Release says `Suite: bookworm-security`, the way
Debian's security archive identifies itself. A second repository (plain `bookworm`) offers
`hawizard-other` 1.1: not a security update, so the default run must leave it alone; it also
offers the marker at 1.5, newer than the security fix, which security only must not take.

How the packages reach the nodes: the test copies both repositories into each node (tar through
nsenter) and adds `deb [trusted=yes] file:...` entries. That is the lab's own local-repository
approach (issue 14) in its simplest form, kept separate from it on purpose: that repository
holds Debian's packages resolved on the host, this test needs packages of its own, at two
versions. `[trusted=yes]` is acceptable only because these are local files the test just built.

Checks from outside hawizard: `dpkg-query` on each node (versions), the start time of each
node's PID 1 (it rebooted), the kv client loop (`hawizard.lab.kv_loop.KvLoop`: a new TLS
connection per request, put + get every 100 ms, retrying on the next endpoint) with 0 failed
requests, and the patch record's per-node intervals, which must not overlap.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import subprocess
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
from fixtures.debs import build_deb, index_repo
from fixtures.etcdctl import etcdctl

from hawizard import pki
from hawizard.cli import main
from hawizard.etcd.probe import wait_healthy
from hawizard.etcd.rollout import etcd_phases
from hawizard.journal import Journal
from hawizard.lab.kv_loop import KvLoop, Trust
from hawizard.lab.node import exec_argv
from hawizard.ops import Refused
from hawizard.ops.patch import PatchRecord, patch, record_path
from hawizard.plan import dump, load
from hawizard.remote import HostPool
from hawizard.steps import EventKind, Phase, Runner, Step

pytestmark = pytest.mark.lab

MARKER, OTHER = "hawizard-marker", "hawizard-other"
REPO_DIR = "/srv/hawizard-patch-test"
SOURCES = (
    "# hawizard patch test: local files built by the test (see tests/ops/test_patch_lab.py)\n"
    f"deb [trusted=yes] file:{REPO_DIR}/security ./\n"
    f"deb [trusted=yes] file:{REPO_DIR}/main ./\n"
)


def repos(folder: Path) -> bytes:
    """Both repositories as a tar stream (security: the marker 1.0 and 1.1; main: the other)."""
    sec, main_ = folder / "security", folder / "main"
    sec.mkdir()
    main_.mkdir()
    build_deb(sec, MARKER, "1.0")
    build_deb(sec, MARKER, "1.1", postinst="touch /run/reboot-required")
    build_deb(main_, OTHER, "1.0")
    build_deb(main_, OTHER, "1.1")
    # issue 25: the regular archive has a newer marker than the security fix. Its candidate
    # (1.5) is not a security update; security only must still install 1.1 from -security
    # (pinned by origin, as unattended-upgrades does), not skip the package.
    build_deb(main_, MARKER, "1.5")
    index_repo(sec, suite="bookworm-security", label="hawizard-tests-security")
    index_repo(main_, suite="bookworm", label="hawizard-tests")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(sec, arcname="security")
        tar.add(main_, arcname="main")
    return buf.getvalue()


def version(lab, node: str, package: str) -> str:
    fmt = "${Version}"
    return lab.exec(node, ["dpkg-query", "-W", f"-f={fmt}", package]).stdout


def init_started(lab, node: str) -> str:
    return lab.exec(node, ["cut", "-d", " ", "-f22", "/proc/1/stat"]).stdout.strip()


def install_old_versions(lab, name: str, tar: bytes) -> None:
    """Both repositories into the node, its apt source, then the 1.0 packages."""
    unpack = ["sh", "-c", f"mkdir -p {REPO_DIR} && tar -x -C {REPO_DIR}"]
    subprocess.run(exec_argv(lab.node(name), unpack), input=tar, check=True, timeout=60)
    lab.exec(
        name,
        ["sh", "-c", "cat > /etc/apt/sources.list.d/hawizard-patch-test.list"],
        input=SOURCES,
    )
    lab.exec(
        name,
        ["sh", "-c", f"apt-get -q update && apt-get install -y -q {MARKER}=1.0 {OTHER}=1.0"],
        timeout=180,
    )


@pytest.fixture(scope="module")
def c(lab, tmp_path_factory):
    folder = tmp_path_factory.mktemp("patch")
    (folder / "pki").mkdir(mode=0o700)
    path = folder / "plan.toml"
    dump(lab.plan(nodes=3, pki_dir=folder / "pki"), path)
    names = [n.name for n in lab.nodes[:3]]
    tar = repos(folder)
    try:
        plan = load(path)
        pki.create(plan)
        result = Runner(HostPool(plan), journal=Journal.for_plan(plan)).run(etcd_phases(plan))
        assert result.ok, result.failures
        with ThreadPoolExecutor(max_workers=3) as pool:  # apt is slow on a busy host: in parallel
            list(pool.map(lambda name: install_old_versions(lab, name, tar), names))
        yield path
    finally:
        lab.reset(*names)


def test_refused_while_a_member_is_down_and_nothing_changes(lab, c):
    plan = load(c)
    n3 = plan.etcd_nodes[2].name
    lab.exec(n3, ["systemctl", "stop", "etcd"])
    try:
        with pytest.raises(Refused, match=rf"cannot lose a node now: etcd member {n3} unhealthy"):
            patch(plan, lambda p, phases: pytest.fail("nothing may run"), dry_run=False)
    finally:
        lab.exec(n3, ["systemctl", "start", "etcd"], timeout=120)
        wait_healthy(plan, timeout=60)
    assert not record_path(c).exists()
    assert {version(lab, n.name, MARKER) for n in plan.nodes} == {"1.0"}


def test_dry_run_lists_the_security_update_per_node_and_changes_nothing(lab, c, capsys):
    plan = load(c)
    before = {n.name: init_started(lab, n.name) for n in plan.nodes}
    assert main(["patch", str(c), "--dry-run"]) == 0
    out = capsys.readouterr()
    for n in plan.nodes:
        assert f"{n.name} (apt debian): 1 update(s)" in out.out
        # hawizard-other, and whatever the lab's own repository offers newer than the base
        # image (issue 14's repository): left out, they are not security updates
        assert re.search(
            rf"{n.name}: \d+ update\(s\) that are not security updates left out", out.err
        )
    assert out.out.count(f"{MARKER} 1.0 → 1.1 (security)") == 3
    assert OTHER not in out.out  # not a security update
    assert "apt-get -y -q" in out.out and "--only-upgrade -- hawizard-marker" in out.out
    for n in plan.nodes:
        assert version(lab, n.name, MARKER) == "1.0"
        assert version(lab, n.name, OTHER) == "1.0"
        assert init_started(lab, n.name) == before[n.name]
        assert lab.exec(n.name, ["test", "-e", "/run/reboot-required"], check=False).returncode
    assert not record_path(c).exists()
    assert main(["patch", str(c), "--dry-run", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(report["order"]) == sorted(n.name for n in plan.nodes)
    for n in plan.nodes:
        (update,) = report["nodes"][n.name]["updates"]
        assert (update["name"], update["old"], update["new"]) == (MARKER, "1.0", "1.1")
        assert report["nodes"][n.name]["skipped"] >= 1
    assert report["record"] is None


def test_patch_reboot_auto_one_node_at_a_time_without_a_failed_request(lab, c):
    plan = load(c)
    before = {n.name: init_started(lab, n.name) for n in plan.nodes}
    leader = wait_healthy(plan, timeout=30).leader_name
    layout = pki.paths(plan)
    trust = Trust(layout.etcd_ca.cert, layout.etcd_admin.cert, layout.etcd_admin.key)
    events = []

    def run(p, phases):
        runner = Runner(HostPool(p), parallel=1, journal=Journal.for_plan(p),
                        listener=events.append)  # fmt: skip
        return runner.run(phases)

    endpoints = [(n.address, plan.etcd.client_port) for n in plan.etcd_nodes]
    started = time.monotonic()
    with KvLoop(endpoints, trust) as loop:
        p, result = patch(plan, run, reboot="auto")
    took = time.monotonic() - started
    assert result is not None and result.ok, result.failures
    assert loop.failed == 0, loop.errors
    assert loop.ok > 0 and loop.missing() == []
    assert p.order[-1] == leader  # the leader last
    for n in plan.nodes:
        assert version(lab, n.name, MARKER) == "1.1"
        assert version(lab, n.name, OTHER) == "1.0"  # security only
        assert init_started(lab, n.name) != before[n.name], f"{n.name} did not reboot"
    out = etcdctl(plan, "endpoint", "health", "--cluster")
    assert out.returncode == 0, out.stderr

    # the record: every node, in turn, never two at once
    record = p.record
    assert [e.node for e in record.nodes] == p.order and record.ok and record.finished
    spans = [
        (datetime.fromisoformat(e.started), datetime.fromisoformat(e.finished))
        for e in record.nodes
    ]
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start
    assert all(
        e.rebooted and e.packages == [f"{MARKER} 1.0 → 1.1 (security)"] for e in record.nodes
    )
    # the engine's events agree: a node's first step starts after the previous node's last
    nodes_in_order = [e.node for e in events if e.kind is EventKind.STARTED]
    assert [
        n for i, n in enumerate(nodes_in_order) if i == 0 or nodes_in_order[i - 1] != n
    ] == p.order
    for e in record.nodes:
        print(
            f"{e.node}: patch {e.total_s:.1f} s (upgrade {e.upgrade_s:.1f} s, reboot "
            f"{e.reboot_s:.1f} s, back {e.recover_s:.1f} s)"
        )
    print(
        f"3 nodes in {took:.1f} s; kv loop {loop.ok} ok, {loop.failed} failed, "
        f"{loop.retries} retries"
    )

    # converged: a second run finds nothing to do
    again, result = patch(load(c), run)
    assert result is None and again.order == []


def test_an_interrupted_patch_resumes_with_the_nodes_it_had_left(lab, c, capsys):
    """1.2 is offered; the run fails after its first node (an injected failure, the way the
    day-2 tests stop a change); the same command again patches the other two only."""
    plan = load(c)
    sec = c.parent / "security"
    build_deb(sec, MARKER, "1.2", postinst="touch /run/reboot-required")
    index_repo(sec, suite="bookworm-security", label="hawizard-tests-security")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(sec, arcname="security")
    for n in plan.nodes:
        unpack = ["sh", "-c", f"tar -x -C {REPO_DIR}"]
        subprocess.run(exec_argv(lab.node(n.name), unpack), input=buf.getvalue(), check=True)

    def failing_after_first(p, phases):
        def boom(local):
            raise RuntimeError("injected failure after the first node")

        injected = Phase("injected", [Step(None, "injected failure", None, boom)])
        return Runner(HostPool(p), parallel=1).run([phases[0], injected, *phases[1:]])

    first, result = patch(plan, failing_after_first)
    assert result is not None and not result.ok
    done = first.order[0]
    assert version(lab, done, MARKER) == "1.2"
    assert {version(lab, n.name, MARKER) for n in plan.nodes if n.name != done} == {"1.1"}
    assert not first.record.finished and not first.record.ok

    assert main(["patch", str(c), "--yes"]) == 0  # the same command again, from the CLI
    out = capsys.readouterr().out
    assert f"resuming the patch run started {first.record.started}" in out
    assert "patched 2 node(s), one at a time" in out
    assert {version(lab, n.name, MARKER) for n in plan.nodes} == {"1.2"}
    record = PatchRecord.read(record_path(c))
    assert record.id == first.record.id and record.ok and record.finished
    assert record.nodes[0].node == done and len(record.nodes) == 3
    assert {e.node for e in record.nodes} == {n.name for n in plan.nodes}
    assert all(e.rebooted and e.finished for e in record.nodes)
