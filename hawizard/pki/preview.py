"""The PKI a run would use, for a dry run: built in a private temp folder, never in `pki.dir`.

A dry run must write nothing locally, yet its steps compare the certificates they would
upload with the nodes' copies. So the existing PKI (if any) is copied into a fresh 0700 temp
folder, `create` fills in what is missing *there*, the dry run reads that, and the folder is
removed afterwards. Only regular files are copied (a FIFO in the PKI is refused, not read).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from hawizard.localfs import read_regular_bytes
from hawizard.pki.create import Outcome, create
from hawizard.plan import Plan

__all__ = ["preview"]


@contextmanager
def preview(plan: Plan) -> Iterator[tuple[Plan, list[Outcome]]]:
    """(the plan pointed at the temp PKI, what `create` did there); the temp PKI is removed
    when the block ends. Raises OSError when the real PKI cannot be read."""
    scratch = Path(tempfile.mkdtemp(prefix="hawizard-dry-run-"))  # 0700
    try:
        root = scratch / "pki"
        if os.path.lexists(plan.pki_dir):
            shutil.copytree(plan.pki_dir, root, symlinks=False, copy_function=_copy_regular)
        shown = replace(plan, pki=replace(plan.pki, dir=str(root)))
        yield shown, create(shown)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _copy_regular(src: str, dst: str) -> str:
    data = read_regular_bytes(src)
    mode = stat.S_IMODE(os.stat(src).st_mode) & 0o644
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode or 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return dst
