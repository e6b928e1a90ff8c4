"""Day 2 membership changes of the etcd cluster: the record of the change in flight (`record`),
judging a request (`assess`), pure plan and config edits (`plan_edits`), preparing a node to
join as a new member, stale data set aside (`joining`: add and replace alike), and the change
as phases for the engine (`phases`). Running one, with the plan lock and the apiservers'
follow-up, is `hawizard.ops.change`: etcd never reaches into the control plane.
"""

from hawizard.etcd.membership.assess import (
    Assessment,
    BadRequest,
    assess,
    check_request,
    finished_before,
    plan_label,
    target_state,
)
from hawizard.etcd.membership.phases import MembershipChange
from hawizard.etcd.membership.plan_edits import (
    plan_with_etcd_members,
    with_membership,
    without_member,
)
from hawizard.etcd.membership.record import (
    ChangeFailed,
    PendingChange,
    clear_pending,
    command_for,
    pending_path,
    read_pending,
    write_pending,
)

__all__ = [
    "Assessment",
    "BadRequest",
    "ChangeFailed",
    "MembershipChange",
    "PendingChange",
    "assess",
    "check_request",
    "clear_pending",
    "command_for",
    "finished_before",
    "pending_path",
    "plan_label",
    "plan_with_etcd_members",
    "read_pending",
    "target_state",
    "with_membership",
    "without_member",
    "write_pending",
]
