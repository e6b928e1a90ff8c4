"""The plan's PKI on this machine: check it, create what is missing, re-issue what is not ok.

Both faces call this: `hawizard certs create [--renew]` and the wizard's Certificates screen.
Creating is safe without asking (a missing file is made, a valid one kept byte for byte, a CA
never replaced). Re-issuing replaces certificates the nodes may be using, so it is split in two:
`renewable` names what would be re-issued, the face asks the operator about exactly those
names, and `reissue` re-issues them, only them, after judging the PKI again: if the names no
longer match what was confirmed (someone edited the PKI or the plan meanwhile), it refuses
instead of re-issuing something the operator never saw. A CA is never among them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from hawizard.ops.refusal import Refused
from hawizard.pki import CA, Action, Outcome, PKIReport, Status, check, report_as_dict
from hawizard.pki.create import create, renewable
from hawizard.plan import Plan

# The faces read the reports' types and the read-only check from here too, so neither needs
# the PKI package itself.
__all__ = [
    "CA",
    "Action",
    "Outcome",
    "PKIReport",
    "Status",
    "check",
    "create_missing",
    "reissue",
    "reissue_candidates",
    "renew_all",
    "report_as_dict",
    "require_pki_home",
]


def require_pki_home(plan: Plan) -> None:
    """Refuse to make a PKI for a plan that has neither a file nor `pki.dir`.

    Its certificates belong beside its file (`<plan-stem>.pki/`), which it does not have yet:
    any folder picked now (say `./plan.pki/`) may be another plan's, whose CAs would then be
    silently reused — the very sharing the per-plan default exists to prevent.
    """
    if not plan.pki.dir and plan.source is None:
        raise Refused(
            "this plan has no file yet, and its certificates are kept beside it",
            "save the plan first (ctrl+s in the wizard), or give a PKI folder (pki.dir)",
        )


def create_missing(plan: Plan) -> list[Outcome]:
    """Make every missing CA, certificate and key; report (never touch) the rest.
    Raises `Refused` for a plan with no home for its PKI, OSError when the folder cannot be
    written."""
    require_pki_home(plan)
    return create(plan)


def renew_all(plan: Plan) -> list[Outcome]:
    """`hawizard certs create --renew`: the flag is the operator's confirmation, for every
    leaf that is not ok (never a CA)."""
    require_pki_home(plan)
    return create(plan, renew=True)


def reissue_candidates(plan: Plan, report: PKIReport | None = None) -> tuple[str, ...]:
    """The names `reissue` would re-issue now (a face shows them and asks)."""
    return renewable(report if report is not None else check(plan))


def reissue(
    plan: Plan, confirmed: Collection[str], *, now: dt.datetime | None = None
) -> list[Outcome]:
    """Re-issue exactly the `confirmed` names (and create what is missing, as `create_missing`).

    Raises `Refused` when nothing was confirmed, or when the PKI judged now would re-issue a
    different set than the one confirmed; OSError when the folder cannot be written.
    """
    require_pki_home(plan)
    wanted = set(confirmed)
    if not wanted:
        raise Refused("nothing to re-issue was confirmed")
    current = set(reissue_candidates(plan))
    if current != wanted:
        changed = sorted(current ^ wanted)
        raise Refused(
            "the certificates to re-issue changed since they were confirmed",
            "check the certificates again and confirm the new list",
            [f"{name}: {'now due' if name in current else 'no longer due'}" for name in changed],
        )
    return create(plan, renew=True, only=frozenset(wanted), now=now)
