"""Every traceback class from the issue-12 audit is now one clear message and exit 2 (or 1
where a check found problems) — run in-process through `hawizard.cli.main`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hawizard import plan as P
from hawizard.cli import main
from hawizard.journal import journal_path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err


def plan_file(tmp_path: Path, **pki) -> Path:
    plan = P.Plan(
        nodes=(P.Node("n0", "127.0.77.1", ssh=P.SSH(port=1, key="id_none")),),
        cluster=P.Cluster(name="t", known_hosts=str(tmp_path / "known_hosts")),
        pki=P.PKISettings(dir=pki.get("dir", str(tmp_path / "pki"))),
    )
    path = tmp_path / "plan.toml"
    P.dump(plan, path)
    return path


@pytest.mark.parametrize("name", ["[/]", "[bold]x[/bold]", "[/x]"])
def test_markup_in_argv_values_is_printed_not_parsed(tmp_path, capsys, name):
    code, out, err = run(capsys, "plan", "validate", str(tmp_path / f"{name}.toml"))
    assert code == 1 and name in out + err  # printed literally
    code, _, err = run(capsys, "plan", "init", "-o", str(tmp_path / "p.toml"), "--name", name,
                       "--node", "n0=10.1.2.11")  # fmt: skip
    assert code == 2 and name in err


def test_plan_init_to_a_name_with_markup_writes_and_reports(tmp_path, capsys):
    (tmp_path / "[").mkdir()
    out = tmp_path / "[" / "]plan.toml"  # the path holds "[/]", which rich would parse
    code, stdout, _ = run(capsys, "plan", "init", "-o", str(out), "--node", "n0=10.1.2.11")
    assert code == 0 and out.exists() and "[/]plan.toml" in stdout


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1", "1e9"])
def test_non_finite_durations_are_usage_errors(tmp_path, capsys, value):
    path = plan_file(tmp_path)
    for argv in (
        ["status", str(path), "--timeout", value],
        ["status", str(path), "--watch", value],
        ["dashboard", str(path), "--interval", value],
    ):
        code, _, err = run(capsys, *argv[:-2], f"{argv[-2]}={argv[-1]}")  # `=`: "-1" too
        assert code == 2 and "seconds" in err, argv


def test_plan_that_is_a_fifo_is_refused_not_read(tmp_path, capsys):
    fifo = tmp_path / "plan.toml"
    os.mkfifo(fifo)
    for argv in (["plan", "validate"], ["plan", "show"], ["apply", "--dry-run"]):
        code, out, err = run(capsys, *argv, str(fifo))
        assert code in (1, 2) and "FIFO" in out + err, argv


@pytest.mark.parametrize("kind", ["file", "fifo", "dangling"])
def test_apply_with_an_unusable_pki_dir_is_a_clear_error(tmp_path, capsys, kind):
    target = tmp_path / "pki-target"
    if kind == "file":
        target.write_text("not a folder")
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
        target = tmp_path / "gone" / "pki"
    path = plan_file(tmp_path, dir=str(target))
    code, _, err = run(capsys, "apply", str(path), "--yes")
    assert code == 2 and "PKI" in err
    code, _, err = run(capsys, "certs", "create", str(path))
    assert code == 2


def test_corrupt_journal_is_an_error_not_a_traceback(tmp_path, capsys):
    path = plan_file(tmp_path)
    journal_path(path).write_text("[" * 100000)
    code, _, err = run(capsys, "apply", str(path), "--yes")
    assert code == 2 and "journal" in err


def test_dry_run_writes_nothing_locally_and_reports_failed_hosts(tmp_path, capsys):
    """Used to create the whole local PKI and say "nothing to change" with every host down."""
    path = plan_file(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run(capsys, "apply", str(path), "--dry-run", "--trust-new-hosts")
    assert code == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no pki/, no journal
    assert "nothing to change" not in out
    assert "failed" in err and "n0" in err


def test_dry_run_json_reports_the_failure(tmp_path, capsys):
    path = plan_file(tmp_path)
    code, out, _ = run(capsys, "apply", str(path), "--dry-run", "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["ok"] is False and doc["failures"] and not doc["interrupted"]


@pytest.mark.parametrize(
    "text", ["{", "[]", '{"op": 1}', "[" * 100000], ids=["cut", "list", "fields", "deep"]
)
def test_corrupt_change_record_is_an_error_not_a_traceback(tmp_path, capsys, text):
    from hawizard.etcd.membership import pending_path

    path = plan_file(tmp_path)
    pending_path(path).write_text(text)
    code, _, err = run(capsys, "apply", str(path), "--yes")
    assert code == 2 and "change" in err


def test_failures_print_remote_text_literally(capsys):
    """A failed step's node, step, error and output may hold anything a remote host said."""
    from types import SimpleNamespace

    from hawizard.cli.output import print_failures

    failure = SimpleNamespace(
        node="n[/1]", step="[bold]x", error="boom [/] [red]", output=["[/red] out"]
    )
    print_failures(SimpleNamespace(failures=[failure]), "re-run `hawizard x [/]`")
    err = capsys.readouterr().err
    assert "n[/1]: [bold]x: boom [/] [red]" in err
    assert "[/red] out" in err and "re-run `hawizard x [/]`" in err
