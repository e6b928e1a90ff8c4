"""Messages posted from thread workers: the only way their results reach the widgets.

A worker never touches a widget; it posts one of these (thread-safe) and the screen's handler,
running on the UI thread, updates what is shown. Tests watch them with `run_test(message_hook=)`.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.message import Message
from textual.message_pump import MessagePump

from hawizard.plan import Plan


def poster(target: MessagePump) -> Callable[[Message], None]:
    """`target.post_message` for threads Textual did not start (e.g. the runner's pool).

    Call it on the UI thread. Textual's own thread workers may post directly; foreign threads
    lack the app's context, so their messages are handed to the event loop, which posts them
    in the UI's context.
    """
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()

    def post(message: Message) -> None:
        loop.call_soon_threadsafe(target.post_message, message, context=context)

    return post


class WorkerMessage(Message, bubble=False):
    """A result for the widget whose worker produced it; it does not bubble further."""


class PlanSaved(WorkerMessage, bubble=False):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path


# --- start screen ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LabPlan:
    name: str
    path: Path


class LabPlansFound(WorkerMessage, bubble=False):
    def __init__(self, plans: list[LabPlan]) -> None:
        super().__init__()
        self.plans = plans


class PlanOpened(WorkerMessage, bubble=False):
    """A plan file was read (or failed to be: `problems` then lists why)."""

    def __init__(self, path: Path, plan: Plan | None, problems: list[str]) -> None:
        super().__init__()
        self.path = path
        self.plan = plan
        self.problems = problems


# --- certificates ---------------------------------------------------------------------------


class CertificatesChecked(WorkerMessage, bubble=False):
    """`pki.check` finished; `outcomes` is set when it followed a `pki.create`."""

    def __init__(self, report: Any, outcomes: list[Any] | None = None) -> None:
        super().__init__()
        self.report = report  # hawizard.pki.PKIReport
        self.outcomes = outcomes  # list[hawizard.pki.Outcome] | None


class CertificatesFailed(WorkerMessage, bubble=False):
    """`keep_table`: the report shown is still true (a refused re-issue), only say why."""

    def __init__(self, error: str, *, keep_table: bool = False) -> None:
        super().__init__()
        self.error = error
        self.keep_table = keep_table


# --- dashboard ------------------------------------------------------------------------------


class HealthChecked(WorkerMessage, bubble=False):
    """One probe round finished: `health` is a `hawizard.health.ClusterHealth`, `apiservers`
    a list of `hawizard.control_plane.probe.ApiserverHealth` (empty without masters)."""

    def __init__(
        self, health: Any, apiservers: list[Any] | None = None, balancer: Any = None
    ) -> None:
        super().__init__()
        self.health = health
        self.apiservers = apiservers or []
        self.balancer = balancer  # hawizard.balancer.probe.BalancerHealth, or None


class EtcdChecked(WorkerMessage, bubble=False):
    """The etcd part of the dashboard's first round, posted before the round's slower probes
    (SSH to the balancer nodes, the apiservers) end: `health` is a `ClusterHealth`."""

    def __init__(self, health: Any) -> None:
        super().__init__()
        self.health = health


class HealthFailed(WorkerMessage, bubble=False):
    """The round could not even start (no client certificate, no etcd node, …)."""

    def __init__(self, error: str, hint: str = "") -> None:
        super().__init__()
        self.error = error
        self.hint = hint


# --- rollouts -------------------------------------------------------------------------------


class RunStarted(WorkerMessage, bubble=False):
    """The phases are built; `steps` is how many steps each node (or "(local)") will run."""

    def __init__(self, steps: dict[str, int], phases: list[str], dry_run: bool) -> None:
        super().__init__()
        self.steps = steps
        self.phases = phases
        self.dry_run = dry_run


class RunnerEvent(WorkerMessage, bubble=False):
    """One `hawizard.steps.Event`, forwarded from the runner's threads as it happens."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event


class RunFinished(WorkerMessage, bubble=False):
    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result  # hawizard.steps.RunResult


class RunNotStarted(WorkerMessage, bubble=False):
    """The run could not begin (certificates, binaries, an invalid plan…)."""

    def __init__(self, error: str, details: list[str] | None = None) -> None:
        super().__init__()
        self.error = error
        self.details = details or []


# --- preflight ------------------------------------------------------------------------------


class PreflightChecked(WorkerMessage, bubble=False):
    """One node answered; `checks` are `hawizard.etcd.preflight.Check`s."""

    def __init__(self, node: str, checks: list[Any]) -> None:
        super().__init__()
        self.node = node
        self.checks = checks


class PreflightUnreachable(WorkerMessage, bubble=False):
    """No usable SSH session: refused, timed out, login failed, or a changed host key."""

    def __init__(self, node: str, error: str) -> None:
        super().__init__()
        self.node = node
        self.error = error


@dataclass(frozen=True)
class HostKeyQuestion:
    node: str
    address: str
    port: int
    key_type: str
    fingerprint: str
    known_hosts: Path


class HostKeyUnknown(WorkerMessage, bubble=False):
    def __init__(self, question: HostKeyQuestion) -> None:
        super().__init__()
        self.question = question


# --- day 2: membership changes --------------------------------------------------------------


class ChangeChecked(WorkerMessage, bubble=False):
    """`hawizard.etcd.membership.assess` answered for `request` (op, node, old): an `Assessment`,
    or `error` (and `hint`) when the request could not be judged at all."""

    def __init__(
        self, request: tuple[str, str, str | None], assessment: Any, error: str = "", hint: str = ""
    ) -> None:
        super().__init__()
        self.request = request
        self.assessment = assessment  # hawizard.etcd.membership.Assessment | None
        self.error = error
        self.hint = hint


class ChangeDone(WorkerMessage, bubble=False):
    """`ops.change.change` returned: `outcome` is a `ChangeOutcome`, `change` the
    `MembershipChange` (its `plan_after`, `snapshot`, `warnings`, `notes`)."""

    def __init__(self, outcome: Any, change: Any) -> None:
        super().__init__()
        self.outcome = outcome
        self.change = change


class ChangeStopped(WorkerMessage, bubble=False):
    """The change did not run (plan locked, refused when checked again under the lock, the
    new member's certificates…) or stopped with an error; `details` fill the failure panel."""

    def __init__(self, error: str, details: list[str] | None = None) -> None:
        super().__init__()
        self.error = error
        self.details = details or []


class RestoreDone(WorkerMessage, bubble=False):
    """`ops.restore.execute` returned: `outcome` is the `RestoreOutcome`."""

    def __init__(self, outcome: Any) -> None:
        super().__init__()
        self.outcome = outcome


class RotationDone(WorkerMessage, bubble=False):
    """`ops.rotate.rotate` returned: `rotation` is the `Rotation` (its notes, names, state),
    `result` the run's `RunResult` (None when there was nothing to rotate)."""

    def __init__(self, rotation: Any, result: Any) -> None:
        super().__init__()
        self.rotation = rotation
        self.result = result
