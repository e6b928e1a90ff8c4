"""Make the files on disk match the plan: idempotent, and careful with what already exists.

- A missing CA is created; a present one (made by hawizard or imported by the operator) is
  never regenerated, whatever its state.
- A missing leaf is issued from its CA (this is also how a new member gets its certs).
- A leaf that is valid stays byte for byte as it is. One that is expired, expiring, does not
  match the plan or does not chain to its CA is *reported*, and re-issued only with `renew`.
- The service-account key and the encryption key are created once and never rotated.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from hawizard.localfs import tighten_file
from hawizard.pki.inspection import Status, ca_certificate, inspect_cert, load_certificate
from hawizard.pki.issuing import Issuer, issue, make_ca
from hawizard.pki.keys import (
    PrivateKey,
    generate_key,
    key_type_name,
    load_private_key,
    private_pem,
    same_public_key,
)
from hawizard.pki.layout import (
    SECRET_MODE,
    Layout,
    ensure_dirs,
    paths,
    write_public,
    write_secret,
)
from hawizard.pki.service_keys import (
    FileReport,
    create_encryption_config,
    create_sa_keys,
    inspect_encryption_config,
    inspect_sa_keys,
    write_sa_pub,
)
from hawizard.pki.specs import CA, CertSpec, ca_specs, leaf_specs, needs_kubernetes
from hawizard.plan import Plan

if TYPE_CHECKING:
    from collections.abc import Collection

    from hawizard.pki.check import PKIReport

# The service-account key pair's name in reports and outcomes (`pki.service_keys.inspect_sa_keys`).
SA_KEYS = "kubernetes/sa"


class Action(StrEnum):
    CREATED = "created"
    KEPT = "kept"
    RENEWED = "renewed"
    REPORTED = "reported"  # kept as it is although something is wrong (see `problems`)
    FAILED = "failed"  # needed issuing but could not be (its CA is unusable)


@dataclass(frozen=True)
class Outcome:
    """What `create` did with one item; `problems` are what was found before acting."""

    name: str
    path: Path
    action: Action
    status: Status  # the item's state after the run
    problems: tuple[str, ...] = ()

    @property
    def is_failure(self) -> bool:
        return self.action is Action.FAILED or self.status.is_failure


def create(
    plan: Plan,
    *,
    renew: bool = False,
    only: Collection[str] | None = None,
    now: dt.datetime | None = None,
) -> list[Outcome]:
    """Create what is missing under `plan.pki_dir`; with `renew`, re-issue leaves that are not ok
    (`only` these names, when given: what the operator confirmed, see `renewable`).

    Raises OSError when the folder cannot be written; every other problem is an `Outcome`.
    """
    now = now or dt.datetime.now(dt.UTC)
    layout = paths(plan)
    ensure_dirs(layout)
    outcomes: list[Outcome] = []
    issuers: dict[CA, Issuer | None] = {}
    ca_certs: dict[CA, x509.Certificate | None] = {}
    for ca, spec in ca_specs(plan).items():
        outcome, issuers[ca] = _ensure_ca(plan, spec, now)
        outcomes.append(outcome)
        ca_certs[ca] = issuers[ca].cert if issuers[ca] else ca_certificate(spec)

    def may_renew(name: str) -> bool:
        return renew and (only is None or name in only)

    for spec in leaf_specs(plan):
        ca_cert, issuer = ca_certs[spec.ca], issuers[spec.ca]
        outcomes.append(
            _ensure_leaf(plan, spec, ca_cert, issuer, renew=may_renew(spec.name), now=now)
        )
    if needs_kubernetes(plan):
        outcomes.append(_ensure_sa_keys(plan, layout, renew=may_renew(SA_KEYS)))
        outcomes.append(_ensure_encryption_config(layout))
    return outcomes


def renewable(report: PKIReport) -> tuple[str, ...]:
    """What `create(plan, renew=True)` would re-issue, by name, judged from `check(plan)`.

    A leaf that exists but is not ok (does not match the plan, expired or expiring, not signed
    by its CA), when its CA is in place and usable; and `sa.pub` when it no longer matches
    `sa.key`. Never a CA (hawizard never re-issues one), never a missing file (`create` makes
    those without asking), never a leaf whose only finding is a loose key mode (`create` fixes
    the mode in place).
    """
    usable = {r.spec.ca for r in report.certificates if r.spec.is_ca and not r.status.is_failure}
    names = [
        r.spec.name
        for r in report.certificates
        if not r.spec.is_ca
        and r.spec.ca in usable
        and r.status not in (Status.OK, Status.MISSING, Status.INSECURE)
    ]
    names += [f.name for f in report.files if f.name == SA_KEYS and f.status is Status.MISMATCH]
    return tuple(names)


def _ensure_ca(plan: Plan, spec: CertSpec, now: dt.datetime) -> tuple[Outcome, Issuer | None]:
    cert_path, key_path = spec.paths
    if not cert_path.exists():
        if key_path.exists():
            return _rebuild_ca(plan, spec, now)
        issuer = make_ca(spec, generate_key(plan.pki.key), plan.pki.ca_days, now)
        _write_pair(spec, issuer.key, issuer.cert)
        return _outcome(spec, Action.CREATED, Status.OK), issuer
    notes = _tighten(key_path)
    report = inspect_cert(spec, None, None, now, plan.pki.ca_days)
    problems = notes + report.problems
    if report.status.is_failure:
        problems.append("hawizard never re-creates a CA: fix it, or move the CA files away")
        return _outcome(spec, Action.REPORTED, report.status, problems), None
    issuer = Issuer(load_certificate(cert_path), load_private_key(key_path))
    return _outcome(spec, Action.KEPT, report.status, problems), issuer


def _rebuild_ca(plan: Plan, spec: CertSpec, now: dt.datetime) -> tuple[Outcome, Issuer | None]:
    """A CA key without its certificate: an interrupted `certs create` (key written, cert not).

    No certificate can have been issued by a CA that has no certificate, so making the CA
    certificate again from the same key loses nothing; a key that hawizard cannot use (not
    a key, or not the plan's key type: probably an operator's) is left alone and reported.
    """
    cert_path, key_path = spec.paths
    problem = (
        f"{key_path.name} exists without {cert_path.name}: put the CA certificate back, "
        "or move the key away to start a new CA"
    )
    try:
        key = load_private_key(key_path)
    except (OSError, ValueError):
        return _outcome(spec, Action.FAILED, Status.BROKEN, [problem]), None
    if key_type_name(key.public_key()) != plan.pki.key.value:
        return _outcome(spec, Action.FAILED, Status.BROKEN, [problem]), None
    _tighten(key_path)
    issuer = make_ca(spec, key, plan.pki.ca_days, now)
    write_public(cert_path, issuer.cert.public_bytes(Encoding.PEM))
    note = f"{cert_path.name} rebuilt from the existing {key_path.name} (an earlier run stopped)"
    return _outcome(spec, Action.CREATED, Status.OK, [note]), issuer


def _ensure_leaf(
    plan: Plan,
    spec: CertSpec,
    ca_cert: x509.Certificate | None,
    issuer: Issuer | None,
    *,
    renew: bool,
    now: dt.datetime,
) -> Outcome:
    """`ca_cert` checks the chain (even of a CA that can't sign); `issuer` signs, if usable."""
    notes = _tighten(spec.paths.key)
    report = inspect_cert(spec, ca_cert, plan.pki.key.value, now, plan.pki.cert_days)
    problems = notes + report.problems
    if report.status is Status.OK:
        return _outcome(spec, Action.KEPT, Status.OK, problems)
    if report.status is not Status.MISSING and not renew:
        return _outcome(spec, Action.REPORTED, report.status, problems)
    if issuer is None:
        problems.append(f"cannot issue: the {spec.ca} CA is unusable")
        return _outcome(spec, Action.FAILED, report.status, problems)
    key = generate_key(plan.pki.key)
    _write_pair(spec, key, issue(spec, key, issuer, plan.pki.cert_days, now))
    action = Action.CREATED if report.status is Status.MISSING else Action.RENEWED
    return _outcome(spec, action, Status.OK, [] if action is Action.CREATED else problems)


def _ensure_sa_keys(plan: Plan, layout: Layout, *, renew: bool) -> Outcome:
    notes = _tighten(layout.sa_key)
    report = inspect_sa_keys(layout)
    if report.status is Status.MISSING:
        create_sa_keys(layout, plan.pki.key)
        return _file_outcome(report, Action.CREATED, Status.OK, [])
    if report.status is Status.MISMATCH and renew:
        write_sa_pub(layout)
        return _file_outcome(report, Action.RENEWED, Status.OK, notes + report.problems)
    if report.status.is_failure:
        problems = notes + report.problems
        if report.status is not Status.MISMATCH:
            problems.append("hawizard never replaces sa.key (that would void every token)")
        return _file_outcome(report, Action.REPORTED, report.status, problems)
    return _file_outcome(report, Action.KEPT, report.status, notes + report.problems)


def _ensure_encryption_config(layout: Layout) -> Outcome:
    notes = _tighten(layout.encryption_config)
    report = inspect_encryption_config(layout)
    if report.status is Status.MISSING:
        create_encryption_config(layout)
        return _file_outcome(report, Action.CREATED, Status.OK, [])
    problems = notes + report.problems
    if report.status.is_failure:
        problems.append("never regenerated: a new key would make stored Secrets unreadable")
        return _file_outcome(report, Action.REPORTED, report.status, problems)
    return _file_outcome(report, Action.KEPT, report.status, problems)


def _write_pair(spec: CertSpec, key: PrivateKey, cert: x509.Certificate) -> None:
    """Key first, then cert: an interrupted run leaves a cert that fails the key check, loudly."""
    assert same_public_key(key, cert.public_key())
    write_secret(spec.paths.key, private_pem(key))
    write_public(spec.paths.cert, cert.public_bytes(Encoding.PEM))


def _tighten(path: Path) -> list[str]:
    """Secret files are 0600: fix a looser mode on the spot (nothing else changes).

    Only a regular file is tightened, never through a symlink (`tighten_file`): a link in
    the PKI folder pointing elsewhere is the operator's, and its target is not ours.
    """
    if not path.exists():
        return []
    old = tighten_file(path, SECRET_MODE)
    if old is not None:
        return [f"{path.name} had mode {old:04o}; set to 0600"]
    return []


def _outcome(
    spec: CertSpec, action: Action, status: Status, problems: list[str] | None = None
) -> Outcome:
    return Outcome(spec.name, spec.paths.cert, action, status, tuple(problems or ()))


def _file_outcome(
    report: FileReport, action: Action, status: Status, problems: list[str]
) -> Outcome:
    return Outcome(report.name, report.path, action, status, tuple(problems))
