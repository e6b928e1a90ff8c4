"""Ask whether to trust an SSH host key the plan's known_hosts does not hold yet."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType

from hawizard.tui.messages import HostKeyQuestion
from hawizard.tui.screens.confirm_dialog import ConfirmDialog


class HostKeyDialog(ConfirmDialog):
    """Shows the fingerprint to compare out of band; dismisses with True to trust it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "no", "Reject")]

    def __init__(self, question: HostKeyQuestion) -> None:
        q = self.question = question
        super().__init__(
            f"▲ Unknown SSH host key: {q.node}",
            f"{q.address} port {q.port} presents a host key that is not in "
            f"{q.known_hosts}.\n\n"
            f"  {q.key_type}\n  {q.fingerprint}\n\n"
            "Compare it with the machine's own, from its console:\n"
            "  ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\n"
            "Trust it only if they match: it is then added to known_hosts.",
            yes="Trust",
            no="Reject",
            key="hostkey",
            yes_id="trust",
            no_id="reject",
        )
