"""Issue 25 item 5, locally: a dry run's copy of the PKI (CA keys included) lives in hawizard's
private runtime folder, not /tmp, and what a killed dry run left is swept by the next one,
which names it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hawizard import plan as P
from hawizard.cli import main
from hawizard.pki.preview import runtime_dir

KILLED = """
import os, signal, sys
from hawizard.pki.preview import preview
from hawizard.plan import load
with preview(load(sys.argv[1])) as (shown, _):
    print(shown.pki_dir, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_dry_runs_pki_copy_is_private_and_swept_by_the_next(tmp_path, capsys):
    plan = P.Plan(
        nodes=(P.Node("n0", "127.0.77.1", ssh=P.SSH(port=1, key="id_none")),),
        cluster=P.Cluster(name="t", known_hosts=str(tmp_path / "known_hosts")),
        pki=P.PKISettings(dir=str(tmp_path / "pki")),
    )
    path = tmp_path / "plan.toml"
    P.dump(plan, path)
    assert main(["certs", "create", str(path)]) == 0
    r = subprocess.run([sys.executable, "-c", KILLED, str(path)], capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    assert r.returncode == -9, r.stderr  # killed: no cleanup ran
    left = Path(r.stdout.strip())
    scratch = left.parent
    assert scratch.parent == runtime_dir() and not str(scratch).startswith("/tmp/")
    assert (left / "etcd" / "ca-key.pem").is_file()  # what issue 25 found left behind
    assert oct(runtime_dir().stat().st_mode & 0o777) == "0o700"
    capsys.readouterr()
    assert main(["apply", str(path), "--dry-run"]) == 1  # the node is unreachable
    err = " ".join(capsys.readouterr().err.split())
    assert not scratch.exists()
    assert f"removed a killed dry run's PKI copy {scratch}" in err
    assert not [p for p in runtime_dir().glob(f"dry-run-{os.getpid()}-*")]  # ours cleaned too
