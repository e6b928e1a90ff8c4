"""The engine's runner as every use case builds it: one host pool for the plan, the plan's
journal (so a failed run resumes, and `once` steps are skipped in a dry run too), the sudo
password asked the face's way, and events to the face's listener."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hawizard.plan import Plan
    from hawizard.remote import HostPool, SudoPassword
    from hawizard.steps import Event, Runner


def make_pool(
    plan: Plan,
    *,
    dry_run: bool,
    ask_password: Callable[[str], str],
    trust_new: bool = False,
    sudo_password: SudoPassword | None = None,
) -> HostPool:
    """The hosts of one run. A face may make it early and `prewarm` it, so SSH handshakes
    overlap the local work before the run (certificates, binaries). `sudo_password`: one
    already asked for (a survey before the run), so the operator is asked once."""
    from hawizard.remote import HostPool, SudoPassword

    return HostPool(
        plan,
        dry_run=dry_run,
        trust_new=trust_new,
        sudo_password=sudo_password or SudoPassword(ask=ask_password),
    )


def make_runner(
    plan: Plan,
    *,
    dry_run: bool,
    listener: Callable[[Event], None] | None,
    ask_password: Callable[[str], str],
    parallel: int = 10,
    trust_new: bool = False,
    pool: HostPool | None = None,
) -> Runner:
    from hawizard.journal import Journal
    from hawizard.steps import Runner

    if pool is None:
        pool = make_pool(plan, dry_run=dry_run, ask_password=ask_password, trust_new=trust_new)
    journal = Journal.for_plan(plan) if plan.source is not None else None
    return Runner(pool, parallel=parallel, journal=journal, listener=listener)
