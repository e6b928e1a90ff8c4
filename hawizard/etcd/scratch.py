"""Private scratch space on a node for files that hold a whole keyspace (issue 25).

A snapshot being saved and a snapshot uploaded for a restore are full copies of etcd's data.
They used to sit in `/var/tmp` and stay there when a run was killed or its SSH connection
dropped. Now they live under `SCRATCH` (root's, 0700), and every snapshot or restore first
sweeps what an earlier run left: a snapshot folder whose owning shell is gone (its PID is in
the folder), an uploaded restore snapshot older than `STALE_MINUTES` (not the current one), and
the same names an older hawizard left in `/var/tmp` (root's only). It prints `removed=PATH`
for each, so the run names what it removed.
"""

from __future__ import annotations

import shlex

__all__ = ["SCRATCH", "STALE_MINUTES", "removed", "sweep_script"]

SCRATCH = "/var/lib/hawizard/tmp"
STALE_MINUTES = 60


def sweep_script(keep: str = "") -> str:
    """Shell text (run as root): make `SCRATCH` private, then remove what killed runs left.
    `keep` is a path never removed (the current restore's upload, which a resume reuses)."""
    q = shlex.quote
    keep_test = f"! -path {q(keep)} " if keep else ""
    return (
        f's={q(SCRATCH)}; mkdir -p -m 700 /var/lib/hawizard "$s"; chmod 700 "$s"; '
        'for d in "$s"/snapshot.*; do [ -d "$d" ] || continue; '
        'pid=$(cat "$d/owner" 2>/dev/null || true); '
        'if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then continue; fi; '
        'rm -rf -- "$d" && echo "removed=$d"; done; '
        f'find "$s" /var/tmp -maxdepth 1 -user 0 \\( -name "restore-*.db" '
        '-o -name "hawizard-restore-*.db" -o -name "hawizard-snapshot.*" \\) '
        f"-mmin +{STALE_MINUTES} {keep_test}"
        "-printf 'removed=%p\\n' -exec rm -rf -- {} + 2>/dev/null; true"
    )


def removed(stdout: str) -> list[str]:
    """The paths a sweep reported removing."""
    return [
        line.removeprefix("removed=").strip()
        for line in stdout.splitlines()
        if line.startswith("removed=")
    ]
