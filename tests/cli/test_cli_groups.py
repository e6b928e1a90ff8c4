"""`hawizard COMMAND …` builds the parser of that command's group only (issue 30: a scripted
`status` need not import every other command); everything else sees the whole parser."""

from __future__ import annotations

import pytest

from hawizard.cli import GROUPS, build_parser, command_group, main


def _commands(parser) -> set[str]:
    sub = next(a for a in parser._actions if a.dest == "command")
    return set(sub.choices)


def test_the_group_of_a_command() -> None:
    assert command_group(["status", "plan.toml", "--json"]) == "status"
    assert command_group(["dashboard", "plan.toml"]) == "wizard"  # registered by wizard_cmd
    for argv in ([], ["--version"], ["-h"], ["nosuch"], ["plan.toml"]):
        assert command_group(argv) is None, argv


def test_one_group_parser_has_only_its_commands() -> None:
    assert _commands(build_parser("status")) == {"status"}
    assert _commands(build_parser("wizard")) == {"wizard", "dashboard"}
    assert set(GROUPS) <= _commands(build_parser())


def test_help_and_errors_still_see_every_command(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["nosuch"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert all(f"'{g}'" in err for g in GROUPS), err
    with pytest.raises(SystemExit) as exit_:
        main(["dashboard", "-h"])
    assert exit_.value.code == 0 and "--interval" in capsys.readouterr().out
