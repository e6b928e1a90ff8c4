"""Confirm a certificate rotation offered from the dashboard's certificate table.

What it says is what `hawizard certs rotate` will do; the cluster is judged again under the
plan lock when the rotation starts (refusals then show in the run panel), so the dialog itself
never blocks on the network.
"""

from __future__ import annotations

from hawizard.tui.screens.confirm_dialog import ConfirmDialog


def rotation_text(ca: str | None, all_leaves: bool, command: str) -> str:
    if ca:
        return (
            f"A new {ca} CA replaces the current one in three rolling phases, each member "
            "restarted one at a time and the cluster healthy again before the next:\n"
            "  1. every member and client trusts the old and the new CA;\n"
            "  2. every certificate is re-issued from the new CA and rolled out;\n"
            "  3. everyone trusts the new CA alone.\n"
            "The old CA key is kept on this machine, renamed. Refused while a member is down.\n\n"
            f"Same as: {command}"
        )
    which = "every etcd certificate" if all_leaves else "the etcd certificates that are due"
    return (
        f"Re-issue {which} (same names, new keys), then restart one member at a time: each "
        "must be healthy again and serve its new certificate before the next. A member that "
        f"is down is skipped, with a note.\n\nSame as: {command}"
    )


class RotateDialog(ConfirmDialog):
    """Dismisses with True to start the rotation."""

    def __init__(self, title: str, text: str) -> None:
        super().__init__(
            title, text, yes="Rotate", key="rotate", yes_id="rotate-go", no_id="rotate-cancel"
        )
