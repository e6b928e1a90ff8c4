"""Confirm re-issuing certificates that no longer match the plan (the Certificates step).

The dialog names every certificate that would be replaced, with the first problem found in
it, and says what stays (the CAs). `ops.certs.reissue` then re-issues exactly those names, or
refuses if the PKI changed while the dialog was open.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hawizard.tui.screens.confirm_dialog import ConfirmDialog


def reissue_text(
    names: tuple[str, ...], reports: Mapping[str, Any], pki_dir: Path, plan_label: str
) -> str:
    """`reports`: the check's report per certificate name (for its status and problems)."""
    lines = ["New keys and certificates, from the CAs already in place, replace:"]
    for name in names:
        r = reports.get(name)
        why = f"{r.status.value}: {r.problems[0]}" if r is not None and r.problems else "not ok"
        lines.append(f"  • {name}  ({why})")
    lines += [
        "",
        f"In {pki_dir}. The CAs are kept as they are; nodes get the new",
        "certificates with the next rollout (etcd, control plane).",
        f"Same as: hawizard certs create {plan_label} --renew",
    ]
    return "\n".join(lines)


class ReissueDialog(ConfirmDialog):
    """Dismisses with True to re-issue; No (focused) and Escape change nothing."""

    def __init__(self, names: tuple[str, ...], text: str) -> None:
        plural = "s" if len(names) != 1 else ""
        super().__init__(
            f"Re-issue {len(names)} certificate{plural}?",
            text,
            yes="Re-issue",
            no="No",
            key="reissue",
        )
