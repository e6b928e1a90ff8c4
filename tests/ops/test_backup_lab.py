"""Scheduled backups against the lab: the command the systemd timer runs, run for real.

This machine has no systemd as PID 1 (LAB-NOTES), so the timer itself cannot fire here: the
test renders the units with `schedule(..., enable=False)`, takes the service's own ExecStart
line, and runs it the way the timer would, with a few seconds between runs. The units are
checked by `systemd-analyze verify` in tests/etcd/test_backup.py, and the rendered timer is
seen firing under a real systemd inside a lab node (last test).

Two runs give two verified snapshots; a third removes the oldest (keep 2); a run against a
cluster that lost quorum fails loudly (exit 1, one "backup failed" line for the journal) and
leaves the earlier backups intact and still verifiable.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from hawizard import pki
from hawizard.cli import main
from hawizard.etcd import backup as b
from hawizard.etcd.restore import inspect_snapshot
from hawizard.etcd.rollout import etcd_phases
from hawizard.journal import Journal
from hawizard.ops.backup import schedule
from hawizard.pki.record_key import load_key
from hawizard.plan import BackupSettings, dump, load
from hawizard.remote import HostPool
from hawizard.steps import Runner

pytestmark = pytest.mark.lab


def exec_start(service_text: str) -> list[str]:
    line = next(x for x in service_text.splitlines() if x.startswith("ExecStart="))
    argv = shlex.split(line.removeprefix("ExecStart="))
    return [a.replace("%%", "%").replace("$$", "$") for a in argv]


def test_backup_runs_verify_keep_and_fail_loudly(lab, tmp_path, capsys, monkeypatch):
    names = [n.name for n in lab.nodes[:3]]
    (tmp_path / "pki").mkdir(mode=0o700)
    path = tmp_path / "plan.toml"
    dump(lab.plan(nodes=3, pki_dir=tmp_path / "pki"), path)
    plan = load(path)
    try:
        pki.create(plan)
        result = Runner(HostPool(plan), journal=Journal.for_plan(plan)).run(etcd_phases(plan))
        assert result.ok, result.failures
        folder = tmp_path / "backups"
        done = schedule(plan, 3, 2, folder, units=tmp_path / "units", enable=False)
        argv = exec_start(done.service.read_text())
        assert argv[-4:] == ["--keep", "2", "--dir", str(folder)]

        def timer_fires() -> subprocess.CompletedProcess:
            return subprocess.run(argv, capture_output=True, text=True, timeout=120)

        runs = []
        for _ in range(3):
            r = timer_fires()
            assert r.returncode == 0, r.stderr
            runs.append(r)
            time.sleep(1.1)  # the timer's few seconds, shortened: names differ by the second
        key = load_key(plan)  # made by schedule(): the sandboxed run only reads it
        assert key is not None
        kept = b.backups(folder, plan.cluster.name, key)
        assert len(kept) == 2 and all(x.verified for x in kept), [x.meta for x in kept]
        assert "removed" in runs[2].stderr
        capsys.readouterr()
        assert main(["etcd", "backup", "list", str(path), "--dir", str(folder), "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert [x["verdict"] for x in listed["backups"]] == ["ok", "ok"]
        assert listed["last"]["state"] == "ok"
        # status --json carries the same age, from the plan's [backup] section
        dump(replace(plan, backup=BackupSettings(every="1h", keep=2, dir=str(folder))), path)
        capsys.readouterr()
        main(["status", str(path), "--json"])
        status = json.loads(capsys.readouterr().out)
        assert status["last_verified_backup"]["state"] == "ok"
        assert status["last_verified_backup"]["path"] == str(kept[0].path)
        before = {x.path: x.path.read_bytes() for x in kept}

        # [backup] in the plan: apply installs the schedule too (units into a test folder;
        # this machine has no systemd as PID 1, so enabling them is reported, not fatal)
        import hawizard.ops.backup as ops_backup

        units = tmp_path / "apply-units"
        monkeypatch.setattr(ops_backup, "unit_dir", lambda *, user: units)
        capsys.readouterr()
        assert main(["apply", str(path), "--yes", "--only", "etcd"]) == 0
        err = capsys.readouterr().err
        assert "backup schedule" in err
        timer = next(units.glob("*.timer")).read_text()
        assert "OnUnitActiveSec=3600s" in timer

        # quorum lost: the run fails loudly and touches nothing
        for name in names[1:]:
            lab.exec(name, ["systemctl", "stop", "etcd"], timeout=60)
        r = timer_fires()
        assert r.returncode == 1
        assert "backup failed" in r.stderr and "quorum" in r.stderr
        after = b.backups(folder, plan.cluster.name, key)
        assert {x.path: x.path.read_bytes() for x in after} == before
        for x in after:
            assert inspect_snapshot(x.path, plan).sha256 == x.meta["sha256"]
    finally:
        lab.reset(*names)


def test_the_rendered_timer_fires_under_a_real_systemd(lab, tmp_path):
    """The timer and service as `schedule` renders them, installed in a lab node (systemd is
    PID 1 there), with a stand-in ExecStart: it fires every 2 s; a failing run leaves the
    unit failed with its line in the journal (what a failed backup looks like to systemd).
    The stand-in also probes the sandbox it runs in (issue 25): only the backup folder is
    writable, no capabilities, no privilege gain, its own /tmp, home folders hidden."""
    node = lab.nodes[4].name
    plan = lab.plan(nodes=3, pki_dir=tmp_path / "pki")
    name = b.unit_name(plan)
    folder = "/var/lib/hawizard-bk"
    ticks = f"{folder}/ticks"
    script = (
        f"d={folder}; echo tick >> {ticks}; "
        "{ touch /etc/hawizard-escape && echo etc-writable; touch /var/lib/escape && "
        "echo varlib-writable; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; "
        "echo tmp=$(ls -A /tmp | wc -l); ls /root >/dev/null && echo root-visible; "
        "} > $d/probe 2>/dev/null; "
        "test ! -e $d/fail || { echo 'backup failed: quorum lost' >&2; exit 1; }"
    )
    service = b.render_service(
        plan, ["/bin/sh", "-c", script], user_unit=False, folder=Path(folder)
    )
    timer = b.render_timer(plan, 2)
    try:
        lab.exec(node, ["sh", "-c", f"mkdir -p -m 700 {folder}; touch /tmp/host-tmp-file"])
        for unit, text in ((f"{name}.service", service), (f"{name}.timer", timer)):
            lab.exec(node, ["sh", "-c", f"cat > /etc/systemd/system/{unit}"], input=text)
        lab.exec(node, ["systemctl", "daemon-reload"])
        lab.exec(node, ["systemctl", "enable", "--now", f"{name}.timer"])
        deadline = time.monotonic() + 30
        count = 0
        while count < 2:
            assert time.monotonic() < deadline, "the timer did not fire twice in 30 s"
            time.sleep(1)
            out = lab.exec(node, ["sh", "-c", f"cat {ticks} 2>/dev/null || true"]).stdout
            count = out.count("tick")
        probe = lab.exec(node, ["cat", f"{folder}/probe"]).stdout
        assert "CapEff:\t0000000000000000" in probe and "NoNewPrivs:\t1" in probe, probe
        assert "writable" not in probe and "root-visible" not in probe, probe
        assert "tmp=0" in probe, probe  # a private /tmp: the node's own file is not there
        lab.exec(node, ["touch", f"{folder}/fail"])
        deadline = time.monotonic() + 30
        state = ""
        while state != "failed":
            assert time.monotonic() < deadline, f"the unit never failed ({state})"
            time.sleep(1)
            state = lab.exec(
                node, ["systemctl", "is-failed", f"{name}.service"], check=False
            ).stdout.strip()
        log = lab.exec(node, ["journalctl", "-u", f"{name}.service", "--no-pager"]).stdout
        assert "backup failed: quorum lost" in log
    finally:
        lab.reset(node)
