"""The plan model: TOML round trip and every validation rule, with the message it gives."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hawizard import plan as P
from hawizard.plan import Severity


def three_nodes(**cluster) -> P.Plan:
    nodes = tuple(P.Node(f"infra{i}", f"10.1.2.{11 + i}") for i in range(3))
    return P.Plan(nodes=nodes, cluster=P.Cluster(name="prod", **cluster))


def errors_of(text: str) -> list[P.Problem]:
    with pytest.raises(P.PlanError) as info:
        P.loads(text, "plan.toml")
    return [p for p in info.value.problems if p.severity is Severity.ERROR]


def valid_text(**cluster) -> str:
    return P.dumps(three_nodes(control_plane_endpoint="10.1.2.10:6443", **cluster))


def test_round_trip_is_identity():
    plan = three_nodes(control_plane_endpoint="10.1.2.10:6443")
    plan = replace(
        plan,
        nodes=(*plan.nodes[:2], replace(plan.nodes[2], roles=(P.Role.ETCD,))),
        pki=P.PKISettings(key=P.KeyType.RSA_4096, cert_days=90),
        etcd=P.EtcdSettings(client_port=12379),
        control_plane=P.ControlPlaneSettings(
            install="download",
            sha256={b: "a" * 64 for b in P.KUBE_BINARIES},
            start=False,
        ),
    )
    text = P.dumps(plan)
    again = P.loads(text)
    assert again == plan
    assert P.dumps(again) == text


def test_ssh_compress_is_written_only_when_off_and_must_be_a_boolean():
    plan = three_nodes(control_plane_endpoint="10.1.2.10:6443")
    assert "compress" not in P.dumps(plan)  # the default (gzip) is not spelled out
    fast = replace(plan.nodes[0], ssh=replace(plan.nodes[0].ssh, compress=False))
    text = P.dumps(plan.with_nodes((fast, *plan.nodes[1:])))
    assert text.count("compress = false") == 1
    assert P.loads(text).nodes[0].ssh.compress is False
    assert P.loads(text).nodes[1].ssh.compress is True
    bad = text.replace("compress = false", 'compress = "no"')
    (problem,) = [p for p in errors_of(bad) if p.field == "nodes[0].ssh.compress"]
    assert "true or false" in problem.message


def test_design_example_loads_with_inline_ssh_table():
    text = """
version = 1
[cluster]
name = "prod"
control_plane_endpoint = "10.1.2.10:6443"

[[nodes]]
name = "infra0"
address = "10.1.2.11"
roles = ["etcd", "control-plane"]
ssh = { user = "root", port = 22, key = "~/.ssh/id_ed25519" }

[pki]
key = "ecdsa-p256"
"""
    plan = P.loads(text)
    assert plan.nodes[0].ssh == P.SSH("root", 22, "~/.ssh/id_ed25519")
    assert plan.pki.key is P.KeyType.ECDSA_P256
    assert plan.endpoint_host_port == ("10.1.2.10", 6443)


def test_all_problems_reported_at_once_with_lines():
    text = (
        valid_text()
        .replace('"10.1.2.12"', '"10.1.2.300"')
        .replace('"infra2"', '"Infra_2"')
        .replace("client_port", "clinet_port")
    )
    errors = errors_of(text)
    fields = {p.field for p in errors}
    assert {"nodes[1].address", "nodes[2].name", "etcd.clinet_port"} <= fields
    line_of = {p.field: p.line for p in errors}
    lines = text.splitlines()
    assert "10.1.2.300" in lines[line_of["nodes[1].address"] - 1]
    assert "clinet_port" in lines[line_of["etcd.clinet_port"] - 1]
    rendered = str(next(p for p in errors if p.field == "nodes[1].address"))
    assert rendered.startswith(f"plan.toml:{line_of['nodes[1].address']} nodes[1].address:")
    assert "is not an IP address" in rendered and "e.g." in rendered


def test_unknown_key_suggests_the_intended_one():
    (problem,) = errors_of(valid_text().replace("cert_days", "cert_dayz"))
    assert problem.field == "pki.cert_dayz"
    assert "did you mean 'cert_days'" in problem.message


@pytest.mark.parametrize("address", ["10.1.2.300", "node1", "10.1.2", "fd00::zz", ""])
def test_invalid_addresses(address):
    plan = three_nodes(control_plane_endpoint="10.1.2.10:6443")
    bad = replace(plan.nodes[0], address=address)
    problems = P.validate(plan.with_nodes((bad, *plan.nodes[1:])))
    assert any(p.field == "nodes[0].address" and "not an IP address" in p.message for p in problems)


def test_ipv6_addresses_are_accepted_and_bracketed_in_urls():
    plan = three_nodes(control_plane_endpoint="[fd00::10]:6443")
    v6 = replace(plan.nodes[0], address="fd00::11")
    plan = plan.with_nodes((v6, *plan.nodes[1:]))
    assert [p for p in P.validate(plan) if p.severity is Severity.ERROR] == []
    assert v6.url_host == "[fd00::11]"
    assert plan.endpoint_host_port == ("fd00::10", 6443)


@pytest.mark.parametrize("name", ["Infra0", "infra_0", "-infra", "infra-", "a" * 64, ""])
def test_node_name_must_be_rfc1123_label(name):
    plan = three_nodes(control_plane_endpoint="10.1.2.10:6443")
    bad = replace(plan.nodes[0], name=name)
    problems = P.validate(plan.with_nodes((bad, *plan.nodes[1:])))
    assert any(
        p.field == "nodes[0].name" and "not a valid node name" in p.message for p in problems
    )


def test_duplicate_names_and_addresses():
    plan = three_nodes(control_plane_endpoint="10.1.2.10:6443")
    dup = replace(plan.nodes[2], name="infra0", address="10.1.2.11")
    problems = P.validate(plan.with_nodes((*plan.nodes[:2], dup)))
    messages = {p.field: p.message for p in problems}
    assert "already used by nodes[0]" in messages["nodes[2].name"]
    assert "already used by nodes[0]" in messages["nodes[2].address"]


def test_duplicate_address_written_differently_is_caught():
    plan = three_nodes(control_plane_endpoint="[fd00::10]:6443")
    a = replace(plan.nodes[0], address="fd00::1")
    b = replace(plan.nodes[1], address="fd00:0::0001")
    problems = P.validate(plan.with_nodes((a, b, plan.nodes[2])))
    assert any(p.field == "nodes[1].address" and "already used" in p.message for p in problems)


def test_unknown_role():
    errors = errors_of(valid_text().replace('"control-plane"', '"master"', 1))
    (problem,) = [p for p in errors if p.field == "nodes[0].roles"]
    assert "unknown role 'master'" in problem.message


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("port = 22\n", "port = 0\n", "nodes[0].ssh.port"),
        ("client_port = 2379", "client_port = 70000", "etcd.client_port"),
        ("peer_port = 2380", "peer_port = -1", "etcd.peer_port"),
    ],
)
def test_port_out_of_range(old, new, field):
    errors = errors_of(valid_text().replace(old, new, 1))
    assert any(p.field == field and "out of range" in p.message for p in errors)


def test_endpoint_port_out_of_range():
    problems = P.validate(three_nodes(control_plane_endpoint="10.1.2.10:99999"))
    assert any("out of range" in p.message for p in problems)


def test_same_port_twice_is_an_error():
    errors = errors_of(valid_text().replace("peer_port = 2380", "peer_port = 2379"))
    assert any(
        p.field == "etcd.peer_port" and "already etcd.client_port" in p.message for p in errors
    )


def test_missing_endpoint_with_two_masters():
    problems = P.validate(three_nodes())
    (problem,) = [p for p in problems if p.field == "cluster.control_plane_endpoint"]
    assert problem.severity is Severity.ERROR
    assert "3 nodes have the control-plane role" in problem.message


def test_single_master_needs_no_endpoint():
    plan = three_nodes()
    nodes = (plan.nodes[0], *(replace(n, roles=(P.Role.ETCD,)) for n in plan.nodes[1:]))
    assert [p for p in P.validate(plan.with_nodes(nodes)) if p.severity is Severity.ERROR] == []
    assert plan.with_nodes(nodes).endpoint_host_port == ("10.1.2.11", 6443)


@pytest.mark.parametrize("version", ["2", '"1"', "0"])
def test_unsupported_version(version):
    errors = errors_of(valid_text().replace("version = 1", f"version = {version}", 1))
    assert any(p.field == "version" and "not a supported plan version" in p.message for p in errors)


def test_missing_version():
    errors = errors_of(valid_text().replace("version = 1\n", "", 1))
    assert any(p.field == "version" and "missing" in p.message for p in errors)


@pytest.mark.parametrize(("members", "tolerates"), [(1, 0), (2, 0), (4, 1), (6, 2)])
def test_even_or_single_member_counts_warn_with_tolerance(members, tolerates):
    nodes = tuple(P.Node(f"n{i}", f"10.1.2.{11 + i}", (P.Role.ETCD,)) for i in range(members))
    problems = P.validate(P.Plan(nodes=nodes))
    (warning,) = problems
    assert warning.severity is Severity.WARNING
    assert f"quorum is {P.quorum(members)}" in warning.message
    assert f"tolerates {tolerates} failure" in warning.message


@pytest.mark.parametrize("members", [3, 5, 7])
def test_odd_member_counts_are_quiet(members):
    nodes = tuple(P.Node(f"n{i}", f"10.1.2.{11 + i}", (P.Role.ETCD,)) for i in range(members))
    assert P.validate(P.Plan(nodes=nodes)) == []


def test_quorum_and_tolerance():
    assert [(P.quorum(n), P.tolerance(n)) for n in (1, 2, 3, 4, 5)] == [
        (1, 0),
        (2, 0),
        (2, 1),
        (3, 1),
        (3, 2),
    ]


def test_a_private_key_in_the_plan_is_refused():
    text = valid_text().replace(
        'key = "~/.ssh/id_ed25519"', 'key = "-----BEGIN OPENSSH PRIVATE KEY-----abc"', 1
    )
    errors = errors_of(text)
    assert any("never key material" in p.message for p in errors)


def test_dumped_plan_holds_no_secret_fields():
    text = valid_text()
    for word in ("password", "token", "BEGIN", "secret"):
        assert word not in text.lower().replace("begin", "BEGIN")


def test_wrong_types_name_the_expected_type():
    errors = errors_of(valid_text().replace("cert_days = 365", 'cert_days = "365"'))
    (problem,) = errors
    assert problem.field == "pki.cert_days" and "must be an integer" in problem.message


def test_not_toml_at_all():
    errors = errors_of("version = 1\n[[nodes]\nname=")
    assert "not valid TOML" in errors[0].message


def test_upload_needs_binaries_that_exist(tmp_path):
    plan = three_nodes(control_plane_endpoint="10.1.2.10:6443")
    plan = replace(plan, etcd=P.EtcdSettings(install="upload"))
    assert any(p.field == "etcd.binaries" for p in P.validate(plan))
    plan = replace(plan, etcd=P.EtcdSettings(install="upload", binaries=str(tmp_path / "nope")))
    assert any("does not exist" in p.message for p in P.validate(plan))
    plan = replace(plan, etcd=P.EtcdSettings(install="upload", binaries=str(tmp_path)))
    assert not any(p.field == "etcd.binaries" for p in P.validate(plan))


def test_download_needs_checksums():
    plan = replace(
        three_nodes(control_plane_endpoint="10.1.2.10:6443"),
        control_plane=P.ControlPlaneSettings(install="download"),
    )
    (problem,) = [p for p in P.validate(plan) if p.field == "control_plane.sha256"]
    assert "kube-apiserver" in problem.message


def test_load_balancer_must_be_a_node_and_not_clash_with_apiserver():
    plan = three_nodes(control_plane_endpoint="10.1.2.11:6443")
    lb = replace(plan, control_plane=P.ControlPlaneSettings(load_balancer="nope"))
    assert any("not a node in this plan" in p.message for p in P.validate(lb))
    clash = replace(plan, control_plane=P.ControlPlaneSettings(load_balancer="infra0"))
    assert any("both listen on :6443" in p.message for p in P.validate(clash))


def test_relative_paths_resolve_against_the_plan_folder(tmp_path):
    path = tmp_path / "plan.toml"
    plan = replace(
        three_nodes(control_plane_endpoint="10.1.2.10:6443"), pki=P.PKISettings(dir="pki")
    )
    P.dump(plan, path)
    loaded = P.load(path)
    assert loaded.pki_dir == tmp_path / "pki"


def test_load_missing_file_is_a_plan_error(tmp_path):
    with pytest.raises(P.PlanError) as info:
        P.load(tmp_path / "missing.toml")
    assert "cannot read the plan" in str(info.value)


def test_first_service_ip():
    assert P.ControlPlaneSettings(service_cidr="10.96.0.0/12").first_service_ip == "10.96.0.1"


def test_per_node_install_and_package_names_round_trip(tmp_path):
    plan = three_nodes(control_plane_endpoint="10.1.2.10:6443")
    plan = replace(
        plan,
        nodes=(*plan.nodes[:2], replace(plan.nodes[2], etcd_install="upload")),
        etcd=P.EtcdSettings(packages=("etcd-server", "etcd-client"), binaries=str(tmp_path)),
    )
    text = P.dumps(plan)
    assert text.count("etcd_install") == 1  # written only where a node differs
    again = P.loads(text)
    assert again == plan
    assert [again.etcd_install(n) for n in again.nodes] == ["package", "package", "upload"]


def test_mixed_install_paths_warn_that_versions_may_differ(tmp_path):
    plan = three_nodes(control_plane_endpoint="10.1.2.10:6443")
    mixed = replace(
        plan,
        nodes=(replace(plan.nodes[0], etcd_install="upload"), *plan.nodes[1:]),
        etcd=P.EtcdSettings(binaries=str(tmp_path)),
    )
    problems = P.validate(mixed)
    assert not [p for p in problems if p.severity is Severity.ERROR]
    [warning] = [p for p in problems if "may differ in version" in p.message]
    assert "packages on infra1, infra2 and uploaded to infra0" in warning.message
    assert not [p for p in P.validate(plan) if "may differ" in p.message]


def test_an_uploading_node_needs_binaries_even_when_the_cluster_uses_packages():
    plan = three_nodes(control_plane_endpoint="10.1.2.10:6443")
    mixed = replace(plan, nodes=(replace(plan.nodes[0], etcd_install="upload"), *plan.nodes[1:]))
    fields = [p.field for p in P.validate(mixed) if p.severity is Severity.ERROR]
    assert fields == ["etcd.binaries"]


def test_bad_node_install_and_package_names_are_errors():
    text = (
        valid_text().replace('name = "infra0"', 'name = "infra0"\netcd_install = "apt"', 1) + "\n"
    )
    text = text.replace("[etcd]\n", '[etcd]\npackages = ["etcd-server", "Bad Name"]\n')
    found = {p.field: p.message for p in errors_of(text)}
    assert "not an install method" in found["nodes[0].etcd_install"]
    assert "'Bad Name' is not a package name" in found["etcd.packages[1]"]
    shape = errors_of(valid_text().replace("[etcd]\n", '[etcd]\npackages = "etcd"\n'))
    assert shape[0].field == "etcd.packages" and "list of package names" in shape[0].message


def test_etcd_sha256_pins_are_validated_and_round_trip():
    """Issue 25: `etcd.sha256` (optional, for install = "upload") like control_plane.sha256."""
    from hawizard.plan import PlanError, dumps, loads

    base = (
        'version = 1\n[cluster]\nname = "t"\n'
        '[[nodes]]\nname = "a"\naddress = "10.0.0.1"\nroles = ["etcd"]\n'
        '[etcd]\ninstall = "{install}"\nbinaries = "."\nsha256 = {{ {pins} }}\n'
    )
    good = "a" * 64
    plan = loads(base.format(install="upload", pins=f'etcd = "{good}"'))
    assert plan.etcd.sha256 == {"etcd": good}
    assert loads(dumps(plan)).etcd.sha256 == {"etcd": good}
    unpinned = dumps(loads(base.format(install="upload", pins="").replace("sha256 = {  }\n", "")))
    assert "etcd.sha256" not in unpinned and "[etcd]\n" in unpinned
    assert "sha256" not in unpinned.split("[etcd]\n")[1].split("\n[")[0]  # not written unused
    for install, pins, field in (
        ("upload", 'etcd = "AB"', "etcd.sha256.etcd"),
        ("upload", f'kube-apiserver = "{good}"', "etcd.sha256.kube-apiserver"),
        ("package", f'etcd = "{good}"', "etcd.sha256"),
    ):
        try:
            loads(base.format(install=install, pins=pins))
        except PlanError as exc:
            assert field in {p.field for p in exc.problems}, exc.problems
        else:
            raise AssertionError(f"{pins} with {install} was accepted")


def test_monitoring_scrape_from_is_validated_and_round_trips():
    """Issue 25 item 3: `[monitoring] scrape_from` names who may scrape the metrics ports."""
    base = three_nodes(control_plane_endpoint="10.1.2.10:6443")
    good = replace(
        base, monitoring=P.MonitoringSettings(scrape_from=("10.9.0.5", "10.8.0.0/16", "fd00::1"))
    )
    text = P.dumps(good)
    assert "scrape_from = [" in text
    assert P.loads(text).monitoring.scrape_from == ("10.9.0.5", "10.8.0.0/16", "fd00::1")
    assert "scrape_from" not in P.dumps(base)  # an unused setting is not written
    bad = text.replace('"10.9.0.5"', '"10.9.0.300"')
    [problem] = errors_of(bad)
    assert problem.field == "monitoring.scrape_from[0]" and "10.9.0.300" in problem.message
    [wrong] = errors_of(text.replace('"10.9.0.5",', "5,"))
    assert wrong.field == "monitoring.scrape_from"
