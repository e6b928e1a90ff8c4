"""Issue 25 item 5: `check` lists old data dirs kept aside on the nodes (restore's
`.before-restore-*`, a re-join's `.replaced-*`) with their sizes and the command that prunes
them, and warns about scratch files a killed run left. The section runs for real here."""

from __future__ import annotations

import datetime as dt
import shlex
import subprocess
from pathlib import Path

from hawizard import plan as P
from hawizard.readiness import items as I
from hawizard.readiness.facts import NodeFacts, kept_aside_section, parse_kept_aside, sections

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)


def test_kept_aside_dirs_are_listed_with_size_and_prune_command(tmp_path):
    data = tmp_path / "etcd"
    data.mkdir()
    aside = tmp_path / "etcd.before-restore-20261202T004500Z"
    (aside / "member").mkdir(parents=True)
    (aside / "member" / "db").write_bytes(b"k" * (2 << 20))
    replaced = tmp_path / "etcd.replaced-20261201T000000Z"
    replaced.mkdir()
    (tmp_path / "etcd.other").mkdir()  # not hawizard's name: not listed
    r = subprocess.run(["sh", "-c", kept_aside_section(str(data))], capture_output=True,
                       text=True, timeout=30)  # fmt: skip
    found = dict(parse_kept_aside(sections(r.stdout)["kept_aside"]))
    assert set(found) >= {str(aside), str(replaced)} and str(tmp_path / "etcd.other") not in found
    assert found[str(aside)] >= 2048
    facts = {"n1": NodeFacts("n1", sections=sections(r.stdout))}
    plan = P.Plan(nodes=(P.Node("n1", "10.1.2.11"),))
    item = I.backups(plan, [], NOW, facts)
    line = next(e for e in item.evidence if str(aside) in e)
    assert "n1: old data dir kept aside" in line and "MiB" in line
    prune = line.split("prune it once the cluster is sound: ")[1]
    assert shlex.split(prune) == ["ssh", "n1", "sudo", "rm", "-rf", "--", str(aside)]


def test_scratch_left_by_a_killed_run_is_a_warning_with_its_fix():
    text = "@@hawizard kept_aside\n2048\t/var/lib/hawizard/tmp/snapshot.AbCdEfGh\n"
    facts = {"n1": NodeFacts("n1", sections=sections(text))}
    plan = P.Plan(nodes=(P.Node("n1", "10.1.2.11"),))
    found = [I.Backup(Path("/backups/x.db"), NOW, True, 3)]
    item = I.backups(plan, found, NOW, facts)
    assert item.verdict is I.Verdict.WARN
    assert any("left by a killed or disconnected run" in e for e in item.evidence)
    assert "hawizard etcd snapshot" in item.fix
