"""Issue 28's proof in the lab: off-site, age-encrypted backups over hawizard's SSH to a 4th
lab node that is not in the plan (and, in the same runs, to an S3 bucket on moto's S3 server
started here on loopback — the client is the real AWS SDK), then the restore drill.

Three `etcd backup run`s with keep = 2: the backup host holds the newest two, each starting
with the age header and holding no key name in clear; Debian's `age -d -i identity` turns the
newest into a snapshot `etcdutl snapshot status` accepts; `etcd backup drill --identity`
passes and prints its RTO for both targets; one byte flipped in the newest file on the backup
host makes the drill fail naming that file (never falling back to the older, intact one).
"""

from __future__ import annotations

import base64
import json
import shlex
import shutil
import subprocess
import time
from dataclasses import replace

import pytest
from fixtures.local_etcd import free_port_pair

from hawizard import pki
from hawizard.cli import main
from hawizard.etcd.cluster_api import ClusterAPI, targets_for
from hawizard.etcd.drill_units import drill_unit_name
from hawizard.etcd.restore import _etcdutl_status
from hawizard.etcd.rollout import etcd_phases
from hawizard.journal import Journal
from hawizard.ops.backup import schedule
from hawizard.plan import BackupSettings, dump, load
from hawizard.remote import HostPool
from hawizard.steps import Runner

pytestmark = pytest.mark.lab

FOLDER = "/srv/etcd-offsite"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_offsite_ssh_and_s3_backups_and_the_drill(lab, tmp_path, capsys, monkeypatch):
    from moto.server import ThreadedMotoServer
    from pyrage import x25519

    names = [n.name for n in lab.nodes[:3]]
    backup_host = lab.nodes[3]  # not in the plan
    ident = x25519.Identity.generate()
    identity = tmp_path / "identity.txt"
    identity.write_text(f"# the operator's, kept offline\n{ident}\n")
    identity.chmod(0o600)
    port = free_port_pair(["127.0.0.1"])
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    s3.start()
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    import boto3

    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="etcd-offsite")
    (tmp_path / "pki").mkdir(mode=0o700)
    path = tmp_path / "plan.toml"
    base = lab.plan(nodes=3, pki_dir=tmp_path / "pki")
    ssh_target = f"ssh://root@{backup_host.address}{FOLDER}"
    settings = BackupSettings(
        keep=2,
        dir=str(tmp_path / "backups"),
        targets=(ssh_target, "s3://etcd-offsite/lab"),
        recipients=(str(ident.to_public()),),
        s3_endpoint=endpoint,
        drill="1d",
        drill_identity=str(identity),
    )
    dump(replace(base, backup=settings), path)
    plan = load(path)
    try:
        pki.create(plan)
        result = Runner(HostPool(plan), journal=Journal.for_plan(plan)).run(etcd_phases(plan))
        assert result.ok, result.failures
        probe = "/registry/secrets/default/drill-probe"
        api = ClusterAPI(plan, targets_for(plan, plan.etcd_nodes))
        api.call("/v3/kv/put", {"key": b64(probe), "value": b64("s3cr3t")})
        for _ in range(3):
            capsys.readouterr()
            assert main(["etcd", "backup", "run", str(path)]) == 0, capsys.readouterr().err
            time.sleep(1.1)  # names differ by the second
        out = capsys.readouterr()
        assert "removed" in out.err and ssh_target in out.err

        listing = lab.exec(backup_host.name, ["ls", "-1", FOLDER]).stdout.split()
        files = sorted(n for n in listing if n.endswith(".db.age"))
        assert len(files) == 2 and len(listing) == 4, listing  # two backups + two records
        for name in files:
            head = lab.exec(backup_host.name, ["head", "-c", "22", f"{FOLDER}/{name}"]).stdout
            assert head == "age-encryption.org/v1\n"
            grep = lab.exec(
                backup_host.name, ["grep", "-c", "-a", "drill-probe", f"{FOLDER}/{name}"],
                check=False,
            )  # fmt: skip
            assert grep.stdout.strip() == "0", f"a key name in clear in {name}"
        newest = files[-1]

        capsys.readouterr()
        main(["status", str(path), "--json"])  # the off-site RPO, from the signed records
        rpo = json.loads(capsys.readouterr().out)["last_offsite_backup"]
        assert [(o["target"], o["state"]) for o in rpo] == [
            (ssh_target, "ok"),
            ("s3://etcd-offsite/lab", "ok"),
        ]
        assert main(["etcd", "backup", "list", str(path), "--json"]) == 0
        listed = {t["target"]: t for t in json.loads(capsys.readouterr().out)["targets"]}
        assert [c["file"] for c in listed[ssh_target]["backups"]] == files[::-1]
        assert all(c["verdict"] == "ok" for t in listed.values() for c in t["backups"])
        assert [c["file"] for c in listed["s3://etcd-offsite/lab"]["backups"]] == files[::-1]

        if shutil.which("age"):
            local = tmp_path / newest
            local.write_bytes(
                subprocess.run(
                    lab.ssh_argv(backup_host.name, "cat", f"{FOLDER}/{newest}"),
                    capture_output=True, check=True,
                ).stdout
            )  # fmt: skip
            plain = tmp_path / "plain.db"
            subprocess.run(["age", "-d", "-i", identity, "-o", plain, local], check=True)
            assert _etcdutl_status(plain)["revision"] > 0
            assert probe.encode() in plain.read_bytes()  # the grep above could have failed

        for target in (ssh_target, "s3://etcd-offsite/lab"):
            capsys.readouterr()
            drill = ["etcd", "backup", "drill", str(path), "--identity", str(identity)]
            assert main([*drill, "--target", target]) == 0, capsys.readouterr().err
            said = capsys.readouterr().out
            assert "drill passed" in said and "RTO" in said and newest in said
            with capsys.disabled():
                print(f"\n{target}: {said.strip()}")

        # the timed drill: the service's own ExecStart line, run as its timer would
        units = tmp_path / "units"
        schedule(plan, 3600, 2, tmp_path / "backups", units=units, enable=False)
        service = (units / f"{drill_unit_name(plan)}.service").read_text()
        line = next(x for x in service.splitlines() if x.startswith("ExecStart="))
        argv = [a.replace("%%", "%").replace("$$", "$") for a in shlex.split(line[10:])]
        timed = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        assert timed.returncode == 0 and "drill passed" in timed.stdout, timed.stderr

        # one byte flipped in the newest file on the backup host
        flip = (
            f"f={FOLDER}/{newest}; "
            "b=$(dd if=$f bs=1 skip=100 count=1 2>/dev/null | od -An -tu1 | tr -d ' '); "
            "printf \"$(printf '\\\\%03o' $(( b ^ 1 )))\" | "
            "dd of=$f bs=1 seek=100 count=1 conv=notrunc 2>/dev/null"
        )
        lab.exec(backup_host.name, ["sh", "-c", flip])
        capsys.readouterr()
        assert main([*drill, "--target", ssh_target]) == 1
        err = capsys.readouterr().err
        assert "drill failed" in err and newest in err and "sha256" in err
        main(["status", str(path), "--json"])  # the dashboard's source says so too
        last = json.loads(capsys.readouterr().out)["last_drill"]
        assert last["ok"] is False and newest in last["error"]
    finally:
        s3.stop()
        lab.reset(*names, backup_host.name)
