"""The themes ship inside the wheel: an installed hawizard (no checkout on sys.path) starts the
wizard with each theme.

Builds the wheel from this checkout, installs it into a fresh venv (dependencies from the
package index or pip's cache), then runs the installed `hawizard wizard --theme NAME` in a real
pseudo-terminal from a folder outside the checkout, and reads the theme's background colour
off the screen it draws.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_NOT_SOURCE = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache")
THEMES = sorted(p.stem for p in (REPO / "themes").glob("*.toml"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with only the built wheel (and its dependencies) installed."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"  # a clean copy: no build/ left over from an earlier wheel can hide a gap
    shutil.copytree(REPO, src, symlinks=True, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "-w", str(work / "dist"), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if built.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{built.stderr[-2000:]}")
    (wheel,) = (work / "dist").glob("hawizard-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    done = subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "install", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        pytest.fail(f"installing the wheel failed:\n{done.stderr[-2000:]}")
    return venv


def test_the_wheel_carries_every_theme_and_the_stylesheet(installed, tmp_path):
    probe = (
        "import hawizard, importlib.resources as r; from hawizard.tui.theme import load_themes;"
        "print(hawizard.__file__); print(sorted(load_themes()));"
        "print((r.files('hawizard') / 'tui' / 'app.tcss').is_file())"
    )
    out = subprocess.run(
        [str(installed / "bin/python"), "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    assert out[0].startswith(str(installed))  # the installed copy, not this checkout
    assert eval(out[1]) == THEMES  # noqa: S307 - our own probe's printed list
    assert out[2] == "True"


@pytest.mark.parametrize("theme", THEMES)
def test_installed_wizard_starts_with_each_theme(installed, tmp_path, theme):
    background = tomllib.loads((REPO / "themes" / f"{theme}.toml").read_text())["background"]
    r, g, b = (int(background[i : i + 2], 16) for i in (1, 3, 5))
    wanted = f"48;2;{r};{g};{b}".encode()
    screen = _run_in_terminal(
        [str(installed / "bin/hawizard"), "wizard", "--theme", theme], tmp_path, wanted
    )
    assert wanted in screen, f"the {theme} background never appeared on screen"


def _run_in_terminal(argv: list[str], cwd: Path, wanted: bytes, timeout: float = 30) -> bytes:
    """Run a full-screen app in a pty until `wanted` is drawn, then quit it with ctrl+q."""
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "COLORTERM": "truecolor",
        "COLUMNS": "100",
        "LINES": "30",
        "HOME": str(cwd),
    }
    env.pop("NO_COLOR", None)
    main, child = pty.openpty()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=child, stdout=child, stderr=child)
    os.close(child)
    seen = b""
    try:
        deadline = time.monotonic() + timeout
        while wanted not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(main, 65536)
                except OSError:
                    break
        os.write(main, b"\x11")  # ctrl+q
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)
    return seen
