"""Scheduled maintenance, the parts without a cluster: when a defragmentation qualifies, the
record beside the plan (atomic, no symlink followed), and the timer's units checked by
`systemd-analyze verify` (any stderr counts as a failure) and `systemd-analyze calendar`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from hawizard.etcd import maintenance_units as mu
from hawizard.ops import Refused
from hawizard.ops import maintenance as mt
from hawizard.plan import Cluster, MaintenanceSettings, Node, Plan, Role, dump, load

MIB = 1024**2


def make_plan(tmp_path: Path, **settings) -> Plan:
    nodes = tuple(Node(f"m{i}", f"10.9.0.{11 + i}", (Role.ETCD,)) for i in range(3))
    plan = Plan(
        nodes=nodes, cluster=Cluster(name="prod"), maintenance=MaintenanceSettings(**settings)
    )
    path = tmp_path / "plan.toml"
    dump(plan, path)
    return load(path)


def test_a_member_qualifies_only_above_the_size_and_under_the_share():
    s = MaintenanceSettings(defrag_above_mb=100, defrag_in_use_below=0.5)
    sizes = {
        "small-sparse": (50 * MIB, 5 * MIB),  # sparse but small: not worth blocking for
        "big-dense": (400 * MIB, 300 * MIB),  # big but 75 % live: would not shrink
        "big-sparse": (400 * MIB, 100 * MIB),
    }
    reasons = mt.defrag_reasons(sizes, s)
    assert list(reasons) == ["big-sparse"]
    assert "400.0 MiB, 25% in use" in reasons["big-sparse"]
    del sizes["big-sparse"]
    assert mt.defrag_reasons(sizes, s) == {}
    line = mt.below_thresholds(sizes, s)
    assert "largest: big-dense 400.0 MiB, 75% in use" in line
    assert mt.defrag_reasons({"empty": (0, 0)}, s) == {}
    assert "no member" in mt.below_thresholds({}, s)


def test_the_record_is_written_atomically_and_read_back(tmp_path):
    plan_path = tmp_path / "plan.toml"
    plan_path.write_text("")
    report = {
        "leader_at_start": "m1",
        "members": [{"name": "m0", "db_before": 10, "db_after": 4, "in_use_before": 3}],
    }
    doc = mt.result_record("defragmented", "blocked m0 0.10 s", if_needed=True, report=report)
    path = mt.write_last(plan_path, doc)
    assert path == tmp_path / "plan.maintenance.json"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    back = mt.read_last(plan_path)
    assert back == doc and back["members"][0]["db_after"] == 4
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_a_planted_symlink_is_neither_followed_nor_read(tmp_path):
    plan_path = tmp_path / "plan.toml"
    victim = tmp_path / "victim"
    victim.write_text('{"outcome": "not ours"}')
    mt.record_path(plan_path).symlink_to(victim)
    assert mt.read_last(plan_path) is None
    with pytest.raises(OSError, match="is a symbolic link; hawizard keeps only regular files"):
        mt.write_last(plan_path, {"outcome": "skipped"})
    assert victim.read_text() == '{"outcome": "not ours"}'


def test_a_fifo_or_garbage_record_reads_as_none(tmp_path):
    plan_path = tmp_path / "plan.toml"
    os.mkfifo(mt.record_path(plan_path))
    assert mt.read_last(plan_path) is None  # no hang
    mt.record_path(plan_path).unlink()
    mt.record_path(plan_path).write_text("[1, 2]")
    assert mt.read_last(plan_path) is None


@pytest.mark.parametrize("user", [True, False], ids=["user", "root-sandboxed"])
def test_the_units_pass_systemd_analyze_verify(tmp_path, user):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("no systemd-analyze (apt-get install systemd)")
    plan = make_plan(tmp_path, every="Sun *-*-* 03:00:00")
    service, timer = mt.render_units(plan, user=user)
    d = tmp_path / "units"
    d.mkdir()
    (d / f"{mu.unit_name(plan)}.service").write_text(service)
    (d / f"{mu.unit_name(plan)}.timer").write_text(timer)
    r = subprocess.run(
        ["systemd-analyze", "verify", *(str(p) for p in sorted(d.iterdir()))],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
    )
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    assert "OnCalendar=Sun *-*-* 03:00:00" in timer and "Persistent=true" in timer
    assert f"Unit={mu.unit_name(plan)}.service" in timer
    line = next(x for x in service.splitlines() if x.startswith("ExecStart="))
    assert line.endswith(f'"{plan.source.resolve()}" "--yes" "--if-needed"')
    assert "Description=hawizard: etcd maintenance of cluster prod" in service
    assert "TimeoutStartSec=3600" in service
    # the backup job's sandbox, for a root unit: writable only the plan's folder
    assert ("ProtectSystem=strict" in service) is not user
    if not user:
        assert f"ReadWritePaths={plan.source.resolve().parent}" in service


def test_the_service_may_write_beside_the_plan(tmp_path):
    """The run writes its record and takes the plan lock beside the plan: a sandboxed unit
    (the backup unit's hardening) must list the plan's folder as writable."""
    plan = make_plan(tmp_path, every="daily")
    service, _ = mt.render_units(plan, user=False)
    writable = [x for x in service.splitlines() if x.startswith("ReadWritePaths=")]
    if writable:
        assert any(str(plan.source.resolve().parent) in x for x in writable), writable


def test_systemd_refuses_what_the_plan_check_lets_through(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("no systemd-analyze")
    plan = make_plan(tmp_path, every="daily")
    bad = replace(plan, maintenance=replace(plan.maintenance, every="*-*-* 25:00:00"))
    with pytest.raises(Refused, match="systemd does not accept"):
        mt.render_units(bad, user=True)


def test_no_schedule_in_the_plan_is_refused_with_the_fix(tmp_path):
    with pytest.raises(Refused) as info:
        mt.render_units(make_plan(tmp_path), user=True)
    assert "[maintenance] every" in info.value.hint


@pytest.mark.parametrize("bad", ['daily"\nExecStart=/bin/sh', "%h", "daily\n"])
def test_the_timer_renderer_is_a_second_wall(tmp_path, bad):
    plan = make_plan(tmp_path, every="daily")
    with pytest.raises(ValueError, match=r"maintenance\.every"):
        mu.render_timer(plan, bad)


def test_schedule_writes_units_and_says_when_systemd_cannot_enable_them(tmp_path):
    plan = make_plan(tmp_path, every="daily")
    target = tmp_path / "units"
    done = mt.schedule(plan, units=target, enable=False)
    assert done.timer.read_text().startswith("# written by hawizard")
    assert oct(done.service.stat().st_mode & 0o777) == "0o644"
    if Path("/proc/1/comm").read_text().strip() != "systemd":
        with pytest.raises(Refused, match="units are written"):
            mt.schedule(plan, units=target, user=False)
    assert sorted(p.name for p in mt.unschedule(plan, units=target, user=False)) == [
        "hawizard-maintenance-prod.service",
        "hawizard-maintenance-prod.timer",
    ]
    assert list(target.iterdir()) == []


def test_the_command_the_timer_runs_parses(tmp_path):
    from hawizard.cli import build_parser

    plan = make_plan(tmp_path, every="daily")
    argv = mt.maintenance_command(plan)
    assert argv[:3] == [sys.executable, "-m", "hawizard"]
    args = build_parser().parse_args(argv[3:])
    assert args.if_needed and args.yes and json.dumps(argv)


def test_each_run_adds_an_in_use_reading_for_the_checks_forecast(tmp_path):
    plan_path = tmp_path / "plan.toml"
    report = {"members": [{"name": "m0", "in_use_before": 5}, {"name": "m1", "in_use_before": 7}]}
    for _ in range(3):
        doc = mt.result_record(
            "skipped", "", if_needed=True, report=report, readings=mt.in_use_readings(plan_path)
        )
        mt.write_last(plan_path, doc)
    readings = mt.in_use_readings(plan_path)
    assert len(readings) == 3 and all(size == 7.0 for _, size in readings)
    mt.write_last(plan_path, {"in_use_readings": [["x", 1], [1, 2, 3], None, [5, 6]]})
    assert mt.in_use_readings(plan_path) == [(5.0, 6.0)]  # garbage skipped, no exception


def test_the_checks_forecast_fits_the_recorded_readings_and_its_own(tmp_path):
    """`hawizard check`'s growth: the readings the runs kept (a day apart, +300 MiB/day) plus
    the check's own round; none without enough readings."""
    import datetime as dt

    from hawizard.health import ClusterHealth, MemberHealth, State
    from hawizard.ops.check import _growth

    plan = make_plan(tmp_path, every="daily")
    now = dt.datetime(2026, 12, 4, 12, tzinfo=dt.UTC)
    day = 86400.0
    in_use_now = 1500 * MIB
    row = MemberHealth(
        "m0",
        "https://10.9.0.11:2379",
        True,
        True,
        True,
        True,
        db_size=in_use_now,
        db_size_in_use=in_use_now,
    )
    health = ClusterHealth(
        members=(row,),
        member_count=1,
        voter_count=1,
        healthy_count=1,
        healthy_voters=1,
        quorum=1,
        tolerates=0,
        design_tolerance=0,
        quorum_ok=True,
        state=State.HEALTHY,
        checked_at=now,
    )
    assert _growth(plan, health) is None  # no readings yet
    readings = [[now.timestamp() - k * day, in_use_now - k * 300 * MIB] for k in range(6, 0, -1)]
    mt.write_last(plan.source, {"in_use_readings": readings})
    f = _growth(plan, health)
    assert f is not None and abs(f.bytes_per_day - 300 * MIB) < MIB
    assert 1.8 < f.days_left < 1.9  # (2048 - 1500) / 300 MiB a day
