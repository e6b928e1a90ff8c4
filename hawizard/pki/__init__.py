"""Certificates for etcd and Kubernetes, made with `cryptography` alone (no openssl process).

One module per job:
- `layout`     where each file lives under `pki.dir` (`paths(plan).etcd_server("infra0")`)
               and how it is written (atomic, 0600 keys, 0644 certs, 0700 dirs);
- `specs`      which certs the plan needs, with their exact subject, SANs and usages;
- `keys`       key generation and serialization for the plan's key type;
- `issuing`    building a CA and signing leaves (pure, no files);
- `inspection` reading a cert back (`describe_certificate`) and judging it against its spec;
- `service_keys` the service-account key pair and the encryption-at-rest config;
- `create`     making the disk match the plan, idempotently;
- `check`      judging everything without changing anything;
- `rotation`   re-issuing leaves and swapping a CA for `certs rotate`, and which CA file
               clients trust meanwhile (`trusted_ca_file`);
- `served`     the certificate a TLS endpoint serves (did a rotation take effect?).
"""

from hawizard.pki.check import PKIReport, check, report_as_dict
from hawizard.pki.create import Action, Outcome, create
from hawizard.pki.inspection import (
    CertInfo,
    CertReport,
    Status,
    chains_to,
    describe_certificate,
    load_certificate,
)
from hawizard.pki.issuing import Issuer
from hawizard.pki.keys import load_private_key
from hawizard.pki.layout import CertKey, Layout, paths
from hawizard.pki.rotation import trusted_ca_file, trusted_ca_pem
from hawizard.pki.service_keys import FileReport, render_encryption_config
from hawizard.pki.specs import (
    CA,
    MONITORING_USER,
    CertSpec,
    Usage,
    apiserver_sans,
    ca_specs,
    leaf_specs,
    monitoring_spec,
)

__all__ = [
    "CA",
    "MONITORING_USER",
    "Action",
    "CertInfo",
    "CertKey",
    "CertReport",
    "CertSpec",
    "FileReport",
    "Issuer",
    "Layout",
    "Outcome",
    "PKIReport",
    "Status",
    "Usage",
    "apiserver_sans",
    "ca_specs",
    "chains_to",
    "check",
    "create",
    "describe_certificate",
    "leaf_specs",
    "load_certificate",
    "load_private_key",
    "monitoring_spec",
    "paths",
    "render_encryption_config",
    "report_as_dict",
    "trusted_ca_file",
    "trusted_ca_pem",
]
