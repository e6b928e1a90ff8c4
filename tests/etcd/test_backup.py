"""Backups, the etcd part: intervals, the folder (list, verdicts, retention, age) and the
systemd units, checked by `systemd-analyze verify` (any stderr counts as a failure)."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hawizard.etcd import backup as b
from hawizard.ops import Refused
from hawizard.ops.backup import schedule, unschedule
from hawizard.pki.record_key import sign
from hawizard.plan import (
    BackupSettings,
    Cluster,
    Node,
    PKISettings,
    Plan,
    Role,
    dump,
    dumps,
    load,
    loads,
    validate,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
KEY = bytes(range(32))  # the record key (`hawizard.pki.record_key`) of these folder tests


def make_plan(tmp_path: Path, **backup) -> Plan:
    """A plan (from a file, when its values are valid) for three etcd nodes."""
    nodes = tuple(Node(f"m{i}", f"10.9.0.{11 + i}", (Role.ETCD,)) for i in range(3))
    plan = Plan(
        nodes=nodes,
        cluster=Cluster(name="prod"),
        backup=BackupSettings(**backup),
        pki=PKISettings(dir=str(tmp_path / "pki")),
    )
    if any(p.severity.value == "error" for p in validate(plan)):
        return plan
    path = tmp_path / "plan.toml"
    dump(plan, path)
    return load(path)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("15m", 900), ("1h", 3600), ("1d", 86400), ("5", 5)]
)
def test_intervals(text, seconds):
    assert b.parse_every(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "1w", "-1h", "1.5h", "8d", "1h;rm"])
def test_bad_intervals_say_the_fix(text):
    with pytest.raises(ValueError, match=r"e\.g\.|7 days"):
        b.parse_every(text)


@given(st.text(max_size=12))
def test_any_interval_text_parses_or_says_why(text):
    with contextlib.suppress(ValueError):
        assert 1 <= b.parse_every(text) <= 7 * 86400


def fake_backup(
    folder: Path, at: datetime, verdict: str | None = "ok", n: str = "", key: bytes | None = KEY
) -> Path:
    """A backup and its record, signed with `key` as a run signs it (None: unsigned)."""
    folder.mkdir(exist_ok=True)
    p = folder / f"prod-{at.strftime('%Y%m%dT%H%M%SZ')}{n}.db"
    p.write_bytes(b"x" * 100)
    meta = {"taken_at": at.isoformat(), "revision": 7, "path": str(p), "size": 100}
    if verdict:
        meta.update(verdict=verdict, verified_at=at.isoformat())
    p.with_name(p.name + ".json").write_text(json.dumps(sign(key, meta) if key else meta))
    return p


def test_list_prune_and_age(tmp_path):
    d = tmp_path / "backups"
    old = fake_backup(d, NOW - timedelta(hours=3))
    mid = fake_backup(d, NOW - timedelta(hours=2))
    bad = fake_backup(d, NOW - timedelta(hours=1, minutes=30), verdict="failed")
    new = fake_backup(d, NOW - timedelta(minutes=10))
    (d / "notes.txt").write_text("mine")
    (d / "other-20261202T000000Z.db").write_bytes(b"y")  # another cluster's: never touched
    assert [x.path for x in b.backups(d, "prod", KEY)] == [new, bad, mid, old]
    assert b.backups(d, "prod", KEY)[1].to_json(NOW)["verdict"] == "failed"
    assert b.prune(d, "prod", 2, KEY) == [old]
    assert not old.exists() and not old.with_name(old.name + ".json").exists()
    assert mid.exists() and bad.exists() and (d / "notes.txt").exists()
    assert (d / "other-20261202T000000Z.db").exists()

    age = b.backup_age(d, "prod", 3600, NOW, KEY)
    assert age.state == "ok" and age.path == str(new) and round(age.age_s) == 600
    assert b.backup_age(d, "prod", 240, NOW, KEY).state == "yellow"  # 10 min > 2 x 4 min
    assert b.backup_age(d, "prod", 120, NOW, KEY).state == "red"  # 10 min > 4 x 2 min
    assert b.backup_age(tmp_path / "none", "prod", 3600, NOW, KEY).to_json()["state"] == "red"


def units(tmp_path: Path, plan: Plan) -> tuple[str, str]:
    argv = [sys.executable, "-m", "hawizard", "etcd", "backup", "run", "/srv/p lan%1$x.toml"]
    return b.render_service(plan, argv, user_unit=True), b.render_timer(plan, 5)


def test_units_pass_systemd_analyze_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("no systemd-analyze (apt-get install systemd)")
    plan = make_plan(tmp_path)
    service, timer = units(tmp_path, plan)
    d = tmp_path / "units"
    d.mkdir()
    (d / f"{b.unit_name(plan)}.service").write_text(service)
    (d / f"{b.unit_name(plan)}.timer").write_text(timer)
    r = subprocess.run(
        ["systemd-analyze", "verify", *(str(p) for p in sorted(d.iterdir()))],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
    )
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    assert "OnUnitActiveSec=5s" in timer and "AccuracySec=1s" in timer
    assert f"Unit={b.unit_name(plan)}.service" in timer


def test_execstart_quotes_what_systemd_would_expand(tmp_path):
    service, _ = units(tmp_path, make_plan(tmp_path))
    line = next(x for x in service.splitlines() if x.startswith("ExecStart="))
    assert '"/srv/p lan%%1$$x.toml"' in line
    argv = shlex.split(line.removeprefix("ExecStart="))
    assert [a.replace("%%", "%").replace("$$", "$") for a in argv][-1] == "/srv/p lan%1$x.toml"


@pytest.mark.parametrize("bad", ["a\nExecStartPre=/bin/sh", "tab\there", "bell\x07"])
def test_a_value_that_would_break_its_line_is_refused(tmp_path, bad):
    with pytest.raises(ValueError, match="control character"):
        b.render_service(make_plan(tmp_path), [sys.executable, bad], user_unit=False)


def test_schedule_writes_units_and_says_when_systemd_cannot_enable_them(tmp_path):
    plan = make_plan(tmp_path)
    assert plan.source is not None, [str(p) for p in validate(plan)]
    target = tmp_path / "units"
    done = schedule(plan, 5, 2, tmp_path / "bk", units=target, enable=False)
    assert done.service.read_text().startswith("# written by hawizard")
    assert oct(done.timer.stat().st_mode & 0o777) == "0o644"
    if Path("/proc/1/comm").read_text().strip() != "systemd":
        # this machine has no systemd as PID 1 (see LAB-NOTES): enabling must say so plainly
        with pytest.raises(Refused, match="units are written"):
            schedule(plan, 5, 2, tmp_path / "bk", units=target, user=False)
    assert sorted(p.name for p in unschedule(plan, units=target, user=False)) == [
        "hawizard-backup-prod.service",
        "hawizard-backup-prod.timer",
    ]
    assert list(target.iterdir()) == []


def test_plan_backup_section_round_trips_and_is_validated(tmp_path):
    plan = make_plan(tmp_path, every="15m", keep=6, dir="bk")
    text = dumps(plan)
    assert "[backup]" in text and 'every = "15m"' in text
    assert loads(text).backup == BackupSettings(every="15m", keep=6, dir="bk")
    assert "[backup]" not in dumps(make_plan(tmp_path))
    problems = {p.field: p.message for p in validate(make_plan(tmp_path, every="1w", keep=0))}
    assert "backup.every" in problems and "e.g. 30s" in problems["backup.every"]
    assert "backup.keep" in problems


def test_hawizard_check_sees_the_scheduled_backups(tmp_path):
    from hawizard.ops.check import find_backups
    from hawizard.pki.record_key import ensure_key

    plan = make_plan(tmp_path, every="1h", dir="bk")
    made = fake_backup(tmp_path / "bk", NOW - timedelta(minutes=5), key=ensure_key(plan))
    found = [x for x in find_backups(plan) if x.path == made]
    assert len(found) == 1 and found[0].verified and found[0].revision == 7
