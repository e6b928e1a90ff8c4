"""The README's two commands work as root without sudo, and as a normal user through sudo.

`scripts/demo.sh` and `scripts/test.sh` start with `scripts/as-root.sh`; these tests run that
very file in a small script with the same first lines, as root with no sudo on PATH, and as
the `nobody` user with and without a sudo on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
HEAD = 'set -euo pipefail\nsource "$(dirname "$0")/as-root.sh"\nas_root "$@"\n'
ARGS = ["--nodes", "3", "two words", "it's"]

AS_NOBODY = [
    shutil.which("setpriv") or "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")


@pytest.mark.parametrize("name", ["demo.sh", "test.sh"])
def test_readme_scripts_become_root_before_anything_else(name):
    text = (SCRIPTS / name).read_text()
    body = text.split("\n", 1)[1].lstrip()
    lines = [line for line in body.splitlines() if line and not line.startswith("#")]
    assert "\n".join(lines[:3]) + "\n" == HEAD


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A folder the `nobody` user can read (pytest's tmp_path is 0700 root's)."""
    path = Path(tempfile.mkdtemp(prefix="hawizard-scripts-", dir="/tmp"))
    path.chmod(0o755)
    shutil.copy(SCRIPTS / "as-root.sh", path / "as-root.sh")
    probe = path / "probe.sh"
    probe.write_text("#!/usr/bin/env bash\n" + HEAD + 'echo "uid=$(id -u)"; printf "<%s>" "$@"\n')
    probe.chmod(0o755)
    (path / "bin").mkdir(mode=0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def _path_without_sudo(workdir: Path) -> str:
    """bash, id and coreutils from their own folders, no sudo anywhere on PATH."""
    tools = workdir / "tools"
    tools.mkdir(mode=0o755, exist_ok=True)
    for tool in ("bash", "id", "basename", "dirname", "env", "printf", "cat"):
        found = shutil.which(tool)
        if found:
            (tools / tool).symlink_to(found)
    return f"{workdir / 'bin'}:{tools}"


def _run(argv: list[str], path: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "HOME": "/", "LANG": "C.UTF-8"}
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)


@needs_root
def test_as_root_without_sudo_runs_directly_with_the_arguments(workdir):
    done = _run([str(workdir / "probe.sh"), *ARGS], _path_without_sudo(workdir))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "uid=0\n" + "".join(f"<{a}>" for a in ARGS)


@needs_root
def test_a_normal_user_without_sudo_is_told_what_to_do(workdir):
    done = _run([*AS_NOBODY, str(workdir / "probe.sh")], _path_without_sudo(workdir))
    assert done.returncode == 2
    assert "needs root" in done.stderr and "no sudo here" in done.stderr
    assert "uid=" not in done.stdout  # nothing past as_root ran


@needs_root
def test_a_normal_user_goes_through_sudo_with_the_same_arguments(workdir):
    # A stand-in for sudo, which records how it was called: exercising the real one would need
    # a sudoers rule for a test user on the host running the suite.
    record = workdir / "sudo-argv"
    record.touch(mode=0o666)
    record.chmod(0o666)
    sudo = workdir / "bin" / "sudo"
    sudo.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$@" > {record}\n')
    sudo.chmod(0o755)
    probe = str(workdir / "probe.sh")
    done = _run([*AS_NOBODY, probe, *ARGS], _path_without_sudo(workdir))
    assert done.returncode == 0, done.stderr
    assert "uid=" not in done.stdout  # the script itself went on only under sudo
    argv = record.read_text().splitlines()
    assert argv[-len(ARGS) - 2 :] == ["bash", probe, *ARGS]
    assert "--" in argv and argv[0].startswith("--preserve-env=")
