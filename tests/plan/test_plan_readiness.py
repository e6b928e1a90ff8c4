"""The optional plan settings the production checklist reads: `[cluster] cni`,
`[control_plane.oidc]` (rendered into the apiserver's --oidc-* flags) and `[monitoring]`."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hawizard import pki
from hawizard import plan as P
from hawizard.control_plane import render
from hawizard.plan import Severity

OIDC = P.OIDCSettings(
    issuer_url="https://login.example.org/realms/ops",
    client_id="kubernetes",
    username_claim="email",
    groups_claim="groups",
    username_prefix="oidc:",
    groups_prefix="oidc:",
    ca_file="/etc/kubernetes/pki/oidc-ca.pem",
)


def three_nodes() -> P.Plan:
    nodes = tuple(P.Node(f"infra{i}", f"10.1.2.{11 + i}") for i in range(3))
    return P.Plan(
        nodes=nodes, cluster=P.Cluster(name="prod", control_plane_endpoint="10.1.2.10:6443")
    )


def errors_of(text: str) -> list[P.Problem]:
    with pytest.raises(P.PlanError) as info:
        P.loads(text, "plan.toml")
    return [p for p in info.value.problems if p.severity is Severity.ERROR]


def test_unused_optional_settings_are_not_written():
    text = P.dumps(three_nodes())
    assert "cni" not in text and "oidc" not in text and "[monitoring]" not in text


def test_round_trip_with_every_optional_setting():
    plan = replace(
        three_nodes(),
        cluster=replace(three_nodes().cluster, cni="cilium"),
        control_plane=P.ControlPlaneSettings(oidc=OIDC),
        monitoring=P.MonitoringSettings(
            enabled=True, install=True, prometheus_node="infra0", scrape_interval=5
        ),
    )
    text = P.dumps(plan)
    assert "[control_plane.oidc]" in text and "[monitoring]" in text
    again = P.loads(text)
    assert again == plan
    assert P.dumps(again) == text


def test_oidc_needs_issuer_and_client_id_with_lines():
    text = P.dumps(three_nodes()) + '\n[control_plane.oidc]\nusername_claim = "email"\nfoo = 1\n'
    errs = {p.field: p for p in errors_of(text)}
    assert "missing" in errs["control_plane.oidc.issuer_url"].message
    assert "missing" in errs["control_plane.oidc.client_id"].message
    assert "unknown key" in errs["control_plane.oidc.foo"].message
    assert errs["control_plane.oidc.foo"].line == text.splitlines().index("foo = 1") + 1


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("issuer_url", "http://login.example.org", "https://"),
        ("issuer_url", "https://a.org/x y", "https://"),
        ("issuer_url", "https://a.org/?q=1", "https://"),
        ("client_id", "", "client id"),
        ("client_id", "a b", "client id"),
        ("username_claim", "e mail", "claim"),
        ("groups_claim", "g$x", "claim"),
        ("username_prefix", "a b", "may hold"),
        ("ca_file", "relative.pem", "absolute path"),
        ("ca_file", "/etc/a b.pem", "absolute path"),
    ],
)
def test_bad_oidc_values_name_the_field_and_fix(field, value, says):
    plan = replace(
        three_nodes(), control_plane=P.ControlPlaneSettings(oidc=replace(OIDC, **{field: value}))
    )
    errs = [p for p in P.validate(plan) if p.severity is Severity.ERROR]
    assert [p.field for p in errs] == [f"control_plane.oidc.{field}"]
    assert says in errs[0].message


def test_oidc_flags_in_the_apiserver_unit():
    plan = replace(three_nodes(), control_plane=P.ControlPlaneSettings(oidc=OIDC))
    unit = render.render_apiserver_unit(plan, plan.nodes[0])
    for flag in (
        "--oidc-issuer-url=https://login.example.org/realms/ops",
        "--oidc-client-id=kubernetes",
        "--oidc-username-claim=email",
        "--oidc-groups-claim=groups",
        "--oidc-username-prefix=oidc:",
        "--oidc-groups-prefix=oidc:",
        "--oidc-ca-file=/etc/kubernetes/pki/oidc-ca.pem",
    ):
        assert flag in unit.split()
    bare = render.render_apiserver_unit(three_nodes(), three_nodes().nodes[0])
    assert "--oidc" not in bare
    minimal = replace(OIDC, groups_claim="", username_prefix="", groups_prefix="", ca_file="")
    flags = render.oidc_flags(replace(plan, control_plane=P.ControlPlaneSettings(oidc=minimal)))
    assert flags == [
        "--oidc-issuer-url=https://login.example.org/realms/ops",
        "--oidc-client-id=kubernetes",
        "--oidc-username-claim=email",
    ]


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_oidc_values_never_break_out_of_the_unit(value):
    """Validation and the renderer agree: a value validation passes renders as one token;
    anything else is refused by one of them and never reaches the unit file."""
    plan = replace(
        three_nodes(), control_plane=P.ControlPlaneSettings(oidc=replace(OIDC, client_id=value))
    )
    errs = [p for p in P.validate(plan) if p.severity is Severity.ERROR]
    try:
        flags = render.oidc_flags(plan)
    except ValueError:
        assert errs  # refused by the renderer => validation refused it too
        return
    if errs:
        return
    flag = f"--oidc-client-id={value}"
    assert flag in flags
    assert not any(c.isspace() or c in "\"'\\$%;" for c in value)


def test_monitoring_rules():
    base = three_nodes()

    def errs(**kw):
        plan = replace(base, monitoring=P.MonitoringSettings(**kw))
        return {p.field: p.message for p in P.validate(plan) if p.severity is Severity.ERROR}

    assert errs() == {}
    assert "1-3600" in errs(scrape_interval=0)["monitoring.scrape_interval"]
    assert "needs enabled" in errs(install=True, prometheus_node="infra0")["monitoring.install"]
    assert "required" in errs(enabled=True, install=True)["monitoring.prometheus_node"]
    assert "not a node" in errs(prometheus_node="nope")["monitoring.prometheus_node"]
    assert "out of range" in errs(node_exporter_port=0)["monitoring.node_exporter_port"]


def test_cni_must_be_a_name():
    plan = replace(three_nodes(), cluster=replace(three_nodes().cluster, cni="Cilium CNI"))
    assert [p.field for p in P.validate(plan)] == ["cluster.cni"]


def test_monitoring_certificate_is_issued_only_when_enabled(tmp_path):
    plan = replace(three_nodes(), pki=P.PKISettings(dir=str(tmp_path / "pki")))
    assert "kubernetes/monitoring" not in {s.name for s in pki.leaf_specs(plan)}
    plan = replace(plan, monitoring=P.MonitoringSettings(enabled=True))
    spec = pki.monitoring_spec(plan)
    assert spec in pki.leaf_specs(plan)
    pki.create(plan)
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cert = x509.load_pem_x509_certificate(spec.paths.cert.read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == pki.MONITORING_USER
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME) == []  # no group
    assert (spec.paths.key.stat().st_mode & 0o777) == 0o600


def test_an_etcd_only_plan_with_monitoring_issues_no_monitoring_certificate(tmp_path):
    nodes = tuple(P.Node(f"e{i}", f"10.1.3.{i}", roles=(P.Role.ETCD,)) for i in (1, 2, 3))
    plan = P.Plan(
        nodes=nodes,
        pki=P.PKISettings(dir=str(tmp_path / "pki")),
        monitoring=P.MonitoringSettings(enabled=True),
    )
    assert "kubernetes/monitoring" not in {s.name for s in pki.leaf_specs(plan)}
    assert not any(o.is_failure for o in pki.create(plan))
    from hawizard.ops.monitoring import export

    done = export(plan, tmp_path / "mon")  # etcd and node exporters only, no tls/
    assert not (tmp_path / "mon" / "tls").exists() and done.files
