"""The local half of rotation (`hawizard.pki.rotation`): the three CA states read from the
files alone, each move idempotent and finished by calling it again after a crash at any
point, the old CA key kept (renamed, 0600), and re-issued leaves with the same identity."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography import x509
from test_pki import make_plan

from hawizard import pki
from hawizard.pki import CA, Status, load_certificate
from hawizard.pki.rotation import (
    ca_files,
    chains_to_current,
    promote_next_ca,
    reissue,
    start_ca_rotation,
    stop_trusting_old_ca,
    trusted_ca_file,
)


@pytest.fixture
def plan(tmp_path):
    plan = make_plan(tmp_path)
    pki.create(plan)
    return plan


def pems(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def etcd_leaves(plan):
    return [s for s in pki.leaf_specs(plan) if s.ca is CA.ETCD]


def test_trust_is_the_ca_outside_a_rotation(plan):
    assert trusted_ca_file(plan) == pki.paths(plan).etcd_ca.cert
    assert pki.trusted_ca_pem(plan) == pki.paths(plan).etcd_ca.cert.read_bytes()


def test_three_states_of_a_ca_rotation(plan):
    files = ca_files(plan, CA.ETCD)
    old = load_certificate(files.current.cert)
    old_key = files.current.key.read_bytes()

    old_serial, new_serial = start_ca_rotation(plan, CA.ETCD)
    assert old_serial == old.serial_number != new_serial
    assert trusted_ca_file(plan) == files.trust
    assert [c.serial_number for c in pems(files.trust)] == [old_serial, new_serial]
    assert load_certificate(files.current.cert).serial_number == old_serial  # still signs
    assert oct(files.next.key.stat().st_mode & 0o777) == "0o600"
    assert start_ca_rotation(plan, CA.ETCD) == (old_serial, new_serial)  # no third CA

    promote_next_ca(plan, CA.ETCD, old_serial, new_serial)
    assert load_certificate(files.current.cert).serial_number == new_serial
    retired = files.retired(old_serial)
    assert retired.key.read_bytes() == old_key  # kept, renamed, never deleted
    assert oct(retired.key.stat().st_mode & 0o777) == "0o600"
    assert load_certificate(retired.cert).serial_number == old_serial
    assert not files.next.cert.exists() and not files.next.key.exists()
    assert trusted_ca_file(plan) == files.trust  # still both during phase 2
    promote_next_ca(plan, CA.ETCD, old_serial, new_serial)  # done before: nothing changes

    # the leaves no longer chain to ca.pem until re-issued from the new CA
    by = pki.rotation.issuer(files.current)
    for spec in etcd_leaves(plan):
        assert not chains_to_current(plan, spec)
        reissue(plan, spec, by)
        assert chains_to_current(plan, spec)

    stop_trusting_old_ca(plan, CA.ETCD)
    assert trusted_ca_file(plan) == files.current.cert
    report = pki.check(plan)
    assert report.ok, [(r.spec.name, r.problems) for r in report.certificates if r.problems]


@pytest.mark.parametrize("crash_after", ["link-cert", "link-key", "key-moved"])
def test_promote_finishes_after_a_crash_at_any_point(plan, crash_after):
    files = ca_files(plan, CA.ETCD)
    old_serial, new_serial = start_ca_rotation(plan, CA.ETCD)
    retired = files.retired(old_serial)
    old_key = files.current.key.read_bytes()
    new_key = files.next.key.read_bytes()
    # replay the moves of `promote_next_ca` up to the crash, by hand
    os.link(files.current.cert, retired.cert)
    if crash_after != "link-cert":
        os.link(files.current.key, retired.key)
    if crash_after == "key-moved":
        os.replace(files.next.key, files.current.key)
    promote_next_ca(plan, CA.ETCD, old_serial, new_serial)
    assert load_certificate(files.current.cert).serial_number == new_serial
    assert files.current.key.read_bytes() == new_key
    assert retired.key.read_bytes() == old_key


def test_reissue_keeps_the_identity_and_changes_key_and_serial(plan):
    spec = next(s for s in pki.leaf_specs(plan) if s.name == "etcd/server-infra0")
    before = load_certificate(spec.paths.cert)
    key_before = spec.paths.key.read_bytes()
    after = reissue(plan, spec, pki.rotation.issuer(pki.paths(plan).etcd_ca))
    assert after.serial_number != before.serial_number
    assert spec.paths.key.read_bytes() != key_before
    assert after.subject == before.subject
    san = x509.SubjectAlternativeName
    assert (
        after.extensions.get_extension_for_class(san).value
        == before.extensions.get_extension_for_class(san).value
    )
    assert pki.check(plan).certificate(spec.name).status is Status.OK
