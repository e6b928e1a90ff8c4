"""Test data must not name the machine it was recorded on.

CI runs from a fresh clone at another path; a recorded plan that kept the recording
checkout's absolute `etcd.binaries` path failed validation there (and only there, as long as
the recording checkout still existed). Recorded files use placeholders such as
`@ETCD_BINARIES@` instead.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Paths that exist only on the machine that wrote them: a virtualenv, a checkout.
MACHINE_PATHS = ("site-packages", "/.venv/lib/", str(ROOT) + "/")


def _tracked_test_files() -> list[Path]:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "tests"],
        capture_output=True,
        check=True,
    ).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_tracked_test_file_names_a_checkout_or_virtualenv_path():
    offenders = []
    for path in _tracked_test_files():
        if path == Path(__file__).resolve() or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        offenders += [
            f"{path.relative_to(ROOT)}: {needle}" for needle in MACHINE_PATHS if needle in text
        ]
    assert offenders == []
