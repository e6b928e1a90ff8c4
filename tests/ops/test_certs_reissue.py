"""`ops.certs`: what re-issue would replace is named first, and only those names are replaced.

The face asks the operator about `reissue_candidates`; `reissue` re-judges and refuses when
the PKI changed meanwhile. A CA is never among them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hawizard import plan as P
from hawizard.ops import Refused, certs

BOTH = (P.Role.ETCD, P.Role.CONTROL_PLANE)


def three_nodes(tmp_path: Path, first_address: str = "10.1.2.11") -> P.Plan:
    return P.Plan(
        nodes=(
            P.Node("infra0", first_address, BOTH),
            P.Node("infra1", "10.1.2.12", BOTH),
            P.Node("infra2", "10.1.2.13", (P.Role.ETCD,)),
        ),
        cluster=P.Cluster(control_plane_endpoint="10.1.2.10:8443"),
        pki=P.PKISettings(dir=str(tmp_path / "pki")),
    )


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_moved_member_is_named_and_nothing_else(tmp_path):
    certs.create_missing(three_nodes(tmp_path))
    moved = three_nodes(tmp_path, "10.1.2.21")  # infra0 got a new address
    names = certs.reissue_candidates(moved)
    # the member's own certificates and the apiserver's (it names every master's address)
    assert set(names) == {"etcd/server-infra0", "etcd/peer-infra0", "kubernetes/apiserver"}
    assert not any(n.endswith("/ca") for n in names)


def test_reissue_replaces_exactly_the_confirmed_names_and_keeps_the_cas(tmp_path):
    certs.create_missing(three_nodes(tmp_path))
    moved = three_nodes(tmp_path, "10.1.2.21")
    before = snapshot(moved.pki_dir)
    names = certs.reissue_candidates(moved)

    outcomes = certs.reissue(moved, names)

    renewed = {o.name for o in outcomes if o.action is certs.Action.RENEWED}
    assert renewed == set(names)
    after = snapshot(moved.pki_dir)
    changed = {k for k in before if before[k] != after.get(k)}
    assert changed == {f"{n}{s}.pem" for n in names for s in ("", "-key")}
    assert certs.check(moved).ok and certs.reissue_candidates(moved) == ()


def test_reissue_refuses_a_list_that_is_no_longer_true_and_changes_nothing(tmp_path):
    certs.create_missing(three_nodes(tmp_path))
    moved = three_nodes(tmp_path, "10.1.2.21")
    before = snapshot(moved.pki_dir)
    with pytest.raises(Refused) as info:
        certs.reissue(moved, ["etcd/server-infra0"])  # confirmed fewer than are due now
    assert "changed since they were confirmed" in info.value.reason
    assert "etcd/peer-infra0: now due" in info.value.details
    with pytest.raises(Refused):
        certs.reissue(moved, [])
    assert snapshot(moved.pki_dir) == before


def test_a_broken_ca_is_never_a_candidate_nor_re_made(tmp_path):
    plan = three_nodes(tmp_path)
    certs.create_missing(plan)
    ca_key = plan.pki_dir / "etcd" / "ca-key.pem"
    ca_key.write_bytes(b"not a key")
    moved = replace(plan, nodes=(replace(plan.nodes[0], address="10.1.2.21"), *plan.nodes[1:]))
    names = certs.reissue_candidates(moved)
    assert not any(n.startswith("etcd/") for n in names)  # their CA cannot sign: not offered
    assert names == ("kubernetes/apiserver",)
    certs.reissue(moved, names)
    assert ca_key.read_bytes() == b"not a key"


def test_a_plan_without_file_or_pki_dir_gets_no_pki_anywhere(tmp_path, monkeypatch):
    from hawizard.ops.apply import apply

    monkeypatch.chdir(tmp_path)
    plan = replace(three_nodes(tmp_path), pki=P.PKISettings())  # no file, no pki.dir
    for make in (certs.create_missing, certs.renew_all, lambda p: certs.reissue(p, ["x"])):
        with pytest.raises(Refused) as info:
            make(plan)
        assert "save the plan first" in info.value.hint
    with pytest.raises(Refused) as info:
        apply(plan, run=lambda p, phases: pytest.fail("ran"), command="test", plan_label="-")
    assert "no file yet" in info.value.reason
    assert list(tmp_path.iterdir()) == []
    saved = replace(plan, source=tmp_path / "prod.toml")
    certs.create_missing(saved)
    assert (tmp_path / "prod.pki" / "etcd" / "ca.pem").is_file()
