"""The quorum and failure-tolerance hint: what the current etcd membership can survive."""

from __future__ import annotations

from textual.widgets import Static

from hawizard.plan import Plan, quorum, tolerance


def quorum_hint(members: int) -> tuple[str, str]:
    """(class, text): `-ok` for 3, 5, 7 members; `-warn` for counts that buy no safety."""
    if members == 0:
        return "-bad", "✖ no etcd member yet: give 3 or 5 nodes the etcd role"
    q, t = quorum(members), tolerance(members)
    head = (
        f"{members} etcd member{'s' if members != 1 else ''} · quorum {q} · "
        f"tolerates {t} failure{'s' if t != 1 else ''}"
    )
    if members < 3:
        return "-warn", f"▲ {head} — add members to survive a failure ({3 - members} more for 1)"
    if members % 2 == 0:
        return "-warn", f"▲ {head} — {members - 1} members tolerate as many, with less work"
    if members > 7:
        return "-warn", f"▲ {head} — more than 7 members only slows writes"
    return "-ok", f"✔ {head}"


class QuorumHint(Static):
    def show(self, plan: Plan) -> None:
        cls, text = quorum_hint(len(plan.etcd_nodes))
        self.set_classes(f"quorum-hint {cls}")
        self.update(text)
