"""Judge the whole PKI of a plan without changing anything (`hawizard certs check`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509

from hawizard.pki.inspection import CertReport, Status, ca_certificate, inspect_cert, worst
from hawizard.pki.layout import Layout, paths
from hawizard.pki.service_keys import (
    FileReport,
    inspect_encryption_config,
    inspect_sa_keys,
)
from hawizard.pki.specs import CA, ca_specs, leaf_specs, needs_kubernetes
from hawizard.plan import Plan


@dataclass(frozen=True)
class PKIReport:
    layout: Layout
    certificates: tuple[CertReport, ...]  # the two CAs first, then every leaf
    files: tuple[FileReport, ...]  # sa key pair, encryption config
    checked_at: dt.datetime

    @property
    def status(self) -> Status:
        return worst([r.status for r in (*self.certificates, *self.files)])

    @property
    def ok(self) -> bool:
        return not self.status.is_failure

    def certificate(self, name: str) -> CertReport:
        for r in self.certificates:
            if r.spec.name == name:
                return r
        raise KeyError(name)


def check(plan: Plan, now: dt.datetime | None = None) -> PKIReport:
    now = now or dt.datetime.now(dt.UTC)
    layout = paths(plan)
    reports: list[CertReport] = []
    ca_certs: dict[CA, x509.Certificate | None] = {}
    for ca, spec in ca_specs(plan).items():
        reports.append(inspect_cert(spec, None, None, now, plan.pki.ca_days))
        ca_certs[ca] = ca_certificate(spec)
    for spec in leaf_specs(plan):
        reports.append(
            inspect_cert(spec, ca_certs[spec.ca], plan.pki.key.value, now, plan.pki.cert_days)
        )
    files = (
        (inspect_sa_keys(layout), inspect_encryption_config(layout))
        if needs_kubernetes(plan)
        else ()
    )
    return PKIReport(layout, tuple(reports), files, now)


# --- JSON (`hawizard certs check --json`): every key is always present, null when unknown ----


def report_as_dict(report: PKIReport) -> dict:
    return {
        "pki_dir": str(report.layout.root),
        "checked_at": report.checked_at.isoformat(),
        "ok": report.ok,
        "status": report.status.value,
        "certificates": [_cert_as_dict(r, report.checked_at) for r in report.certificates],
        "files": [
            {
                "name": f.name,
                "path": str(f.path),
                "status": f.status.value,
                "problems": list(f.problems),
                "detail": f.detail,
            }
            for f in report.files
        ],
    }


def _cert_as_dict(r: CertReport, now: dt.datetime) -> dict:
    info = r.info
    spec = r.spec
    return {
        "name": spec.name,
        "ca": spec.ca.value,
        "is_ca": spec.is_ca,
        "cert_path": str(spec.paths.cert),
        "key_path": str(spec.paths.key),
        "status": r.status.value,
        "problems": list(r.problems),
        "expected_sans": list(spec.sans),
        "expected_usages": sorted(u.value for u in spec.usages),
        "chains_to_ca": r.chains_to_ca,
        "sans_match": r.sans_match,
        "subject": info.subject if info else None,
        "common_name": info.common_name if info else None,
        "organizations": list(info.organizations) if info else None,
        "issuer": info.issuer if info else None,
        "sans": list(info.sans) if info else None,
        "serial": f"{info.serial:x}" if info else None,
        "not_before": info.not_before.isoformat() if info else None,
        "not_after": info.not_after.isoformat() if info else None,
        "days_left": info.days_left(now) if info else None,
        "fingerprint_sha256": info.fingerprint_sha256 if info else None,
        "key_type": info.key_type if info else None,
        "key_usage": list(info.key_usage) if info else None,
        "extended_key_usage": list(info.extended_key_usage) if info else None,
    }
