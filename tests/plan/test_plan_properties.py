"""Property tests (issues 12, 23): plans generated from the schema, valid and hostile, through
the real commands in-process.

Plans are drawn with every section (`load_balancer` in each mode, `backup`, `monitoring`,
`control_plane.oidc`, `cluster.cni`, `etcd.packages`, `nodes[].etcd_install`) and node addresses
in IPv4, IPv6 and hostile forms (host names, `localhost`, `[::1]`, stray characters). For every
plan: `plan validate` and `plan show` return 0, 1 or 2 and never raise. A plan that does not
validate names a field in every error, and `certs check`, `monitoring export` and `apply
--dry-run` each refuse it with exit 2. A plan that validates goes through every renderer (etcd
config and units, control-plane units and kubeconfigs, haproxy, keepalived, backup units,
monitoring files, every phase `apply` builds), each one succeeding with one directive a line,
checked by parsing the text (a missing binary is the phase builder's one documented refusal);
then `certs create` and `certs check` agree, `monitoring export` writes its folder, and
`apply --dry-run` (loopback addresses, SSH port 1: nothing leaves the host) writes nothing.
CI runs a bounded number of examples (`HAWIZARD_PROPERTY_EXAMPLES`, default 40);
`tests/bench/bench_plan_properties.py` runs many more.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tempfile
import tomllib
import unicodedata
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from plan_strategies import plan_texts, write_plan

from hawizard import early_ssh
from hawizard import plan as P
from hawizard.cli import main

EXAMPLES = int(os.environ.get("HAWIZARD_PROPERTY_EXAMPLES", "40"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # capsys is only drained, never asserted on
    ],
    derandomize=os.environ.get("HAWIZARD_PROPERTY_RANDOM") is None,  # CI: reproducible
)

_UNIT_LINE = re.compile(r"(\[[A-Za-z]+\]|[A-Z][A-Za-z]+=\S.*|#.*|\s+\S.*|)")


def _control(line: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in line)


def assert_unit(text: str, what: str) -> None:
    """systemd syntax, strictly: sections, `Key=value`, comments, and `\\` continuations of
    ExecStart only; no control characters anywhere."""
    continued = False
    for line in text.split("\n"):
        assert not _control(line), (what, line)
        if continued:
            assert line.startswith("  --") or line.startswith("  "), (what, line)
        else:
            assert _UNIT_LINE.fullmatch(line), (what, line)
            assert not line.startswith(("ExecStartPre", "ExecStartPost", "ExecStop")), line
        continued = line.endswith(" \\")


def assert_yaml_lines(text: str, what: str) -> None:
    """hawizard's YAML: `key: <JSON scalar>` or `key:` heads with indented `key: <JSON>`."""
    for line in text.split("\n"):
        assert not _control(line), (what, line)
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.strip().partition(":")
        assert sep and re.fullmatch(r"[a-z-]+", key), (what, line)
        if value.strip():
            json.loads(value)  # one JSON scalar or list: nothing spills into a new key


_PEM = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"


def assert_lines(text: str, what: str) -> None:
    for line in text.split("\n"):
        assert not _control(line), (what, line)


def render_all(plan: P.Plan) -> None:
    """Every renderer of a plan that validated: each succeeds, one line per directive.

    Validation is the first wall and the renderers the second, so a valid plan never meets a
    renderer's refusal: one would be a gap in validation (a traceback for the operator)."""
    from hawizard.etcd import render as er
    from hawizard.etcd.binaries import BinariesError
    from hawizard.ops.apply import build_phases

    if plan.etcd_nodes:
        _render_etcd(plan)
    if plan.control_plane_nodes:
        _render_control_plane(plan)
    _render_balancer(plan)
    _render_backup(plan)
    _render_monitoring(plan)
    try:
        build_phases(plan)  # every phase and step `apply` would run, built (not run)
    except BinariesError as exc:  # its documented refusal: binaries the plan names are absent
        assert str(exc).startswith(("etcd.binaries", "control_plane.binaries")), exc
    assert er.cluster_token(plan)


def _render_etcd(plan: P.Plan) -> None:
    from hawizard.etcd import render as er
    from hawizard.etcd.restore import restore_script

    assert_unit(er.render_unit(plan), "etcd.service")
    for m in plan.etcd_nodes:
        assert_unit(er.render_unit(plan, m), f"etcd.service on {m.name}")
        for state in er.ClusterState:
            assert_yaml_lines(er.render_config(plan, m, state), "etcd.conf.yml")
        assert_lines(restore_script(plan, m, "0badc0de"), "restore script")


def _render_control_plane(plan: P.Plan) -> None:
    from hawizard.control_plane import render as cp

    for m in plan.control_plane_nodes:
        assert_unit(cp.render_apiserver_unit(plan, m), "kube-apiserver.service")
    assert_unit(cp.render_controller_manager_unit(plan), "controller-manager.service")
    assert_unit(cp.render_scheduler_unit(plan), "scheduler.service")
    yaml.safe_load(cp.render_audit_policy())
    local = f"https://127.0.0.1:{cp.APISERVER_PORT}"
    for user, server in (("admin", cp.endpoint_url(plan)), ("system:kube-scheduler", local)):
        text = cp.render_kubeconfig(
            cluster=plan.cluster.name,
            server=server,
            user=user,
            ca_pem=_PEM,
            cert_pem=_PEM,
            key_pem=_PEM,
        )
        cluster = yaml.safe_load(text)["clusters"][0]
        assert (cluster["name"], cluster["cluster"]["server"]) == (plan.cluster.name, server)


def _render_balancer(plan: P.Plan) -> None:
    from hawizard.balancer import render as lb

    if plan.control_plane_nodes:
        assert_lines(lb.render_haproxy_config(plan), "haproxy.cfg")
    if plan.balancer_mode == P.BalancerMode.VIP:
        for node in plan.balancer_nodes:
            assert_lines(lb.render_keepalived_config(plan, node, "eth0"), "keepalived.conf")


def _render_backup(plan: P.Plan) -> None:
    from hawizard.etcd import backup

    service = backup.render_service(plan, ["/usr/bin/python3", "-m", "hawizard"], user_unit=False)
    assert_unit(service, "backup.service")
    every = P.every_seconds(plan.backup.every) if plan.backup.every else 3600
    assert_unit(backup.render_timer(plan, every), "backup.timer")


def _render_monitoring(plan: P.Plan) -> None:
    from hawizard.monitoring import grafana, prometheus
    from hawizard.monitoring.rollout import monitoring_phases

    yaml.safe_load(prometheus.render_scrape_config(plan))
    yaml.safe_load(prometheus.render_alerts(plan))
    yaml.safe_load(prometheus.render_alert_tests(plan))
    json.loads(grafana.render_dashboard(plan))
    if plan.monitoring.install:
        monitoring_phases(plan)


def run_cli(*argv: str) -> int:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own exit: a usage error
        code = exc.code if isinstance(exc.code, int) else 2
    assert code in (0, 1, 2), (argv, code)
    return code


def dials_only_loopback(text: str) -> bool:
    """Whether every address `apply` may connect to (before or after validation) is a
    loopback IP: only then is `apply --dry-run` run, so no test ever leaves the host."""
    try:
        raw = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        return True  # text that is not TOML is never read for addresses
    nodes = raw.get("nodes")
    for node in nodes if isinstance(nodes, list) else ():
        address = node.get("address") if isinstance(node, dict) else None
        if not isinstance(address, str):
            continue
        try:
            if not ipaddress.ip_address(address).is_loopback:
                return False
        except ValueError:
            if early_ssh._plain_address(address):
                return False  # a host name would be looked up: never in a test
    return True


_WHOLE_FILE = ("not valid TOML", "nested too deeply", "not UTF-8", "cannot read")


def assert_names_fields(path: Path) -> None:
    """Every error names the field to fix, except those about the file as a whole."""
    with pytest.raises(P.PlanError) as refused:
        P.load(path)
    for problem in refused.value.problems:
        assert problem.field or problem.message.startswith(_WHOLE_FILE), problem


def refused_by_every_command(path: Path, folder: Path, *, apply: bool) -> None:
    """A plan that does not validate: every command that loads it stops with exit 2."""
    commands = [
        ("certs", "check", str(path)),
        ("monitoring", "export", str(path), str(folder / "mon")),
    ]
    if apply:
        commands.append(("apply", "--dry-run", str(path)))
    for argv in commands:
        assert run_cli(*argv) == 2, argv


def check_text(text: str, folder: Path, *, apply: bool) -> None:
    path = write_plan(folder, text)
    valid = run_cli("plan", "validate", str(path)) == 0
    assert run_cli("plan", "show", str(path)) == (0 if valid else 2)
    apply = apply and dials_only_loopback(text)
    if not valid:
        assert_names_fields(path)
        refused_by_every_command(path, folder, apply=apply)
        return
    plan = P.load(path)
    render_all(plan)
    run_cli("certs", "check", str(path))
    before = sorted(p.name for p in folder.iterdir())
    if apply:
        run_cli("apply", str(path), "--dry-run", "--parallel", "4")
        # a dry run writes nothing next to the plan: no PKI, no journal, no known_hosts
        assert sorted(p.name for p in folder.iterdir()) == before
    # RSA keys take seconds to make; and only ever into the test's own folder
    quick_keys = plan.pki.key.value.startswith("ecdsa") and plan.pki_dir.is_relative_to(folder)
    if quick_keys:
        assert run_cli("certs", "create", str(path)) == 0
        assert run_cli("certs", "check", str(path)) == 0  # what was made is what is checked
    exported = run_cli("monitoring", "export", str(path), str(folder / "mon"))
    if quick_keys and (plan.monitoring.enabled or not plan.control_plane_nodes):
        assert exported == 0


@pytest.fixture(autouse=True, scope="module")
def own_home(tmp_path_factory):
    """`~` is a folder of this module's own: a plan whose `pki.dir` or `known_hosts` was
    mutated away falls back to a default under `~`, never the operator's real one."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(tmp_path_factory.mktemp("home")))
        yield


@SETTINGS
@given(text=plan_texts())
def test_generated_plans_never_escape_and_render_safely(text, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        check_text(text, Path(tmp), apply=False)
    capsys.readouterr()


@settings(SETTINGS, max_examples=max(EXAMPLES // 4, 5))
@given(text=plan_texts())
def test_generated_plans_survive_apply_dry_run_on_loopback(text, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        check_text(text, Path(tmp), apply=True)
    capsys.readouterr()


@pytest.mark.parametrize(
    "raw",
    [
        b'version = 1\n[cluster]\nname = "caf\xe9"\n',  # not UTF-8
        b"version = 1\nx = " + b"[" * 5000 + b"]" * 5000 + b"\n",
        b'version = 1\n[pki]\nkey = "dsa"\n[[nodes]]\nname = "a"\naddress = "127.0.0.1"\n',
        b'version = 1\n[cluster]\ncontrol_plane_endpoint = "127.0.0.1:\xc2\xb2"\n'
        b'[[nodes]]\nname = "a"\naddress = "127.0.0.1"\n',
    ],
)
def test_known_crashers_are_plan_errors(raw, tmp_path, capsys):
    path = write_plan(tmp_path, raw)
    for argv in (["plan", "validate"], ["plan", "show"], ["certs", "check"], ["apply"]):
        assert run_cli(*argv, str(path)) in (1, 2)
    assert "Traceback" not in capsys.readouterr().err


def test_short_lived_certificates_are_exported(tmp_path, capsys):
    """Found by the property run: with `cert_days = 1` every fresh certificate is `expiring`
    (still valid; `certs check` passes it) and `monitoring export` refused it, advising
    `certs create`, which changed nothing: the advice looped."""
    path = write_plan(
        tmp_path,
        'version = 1\n[pki]\ncert_days = 1\ndir = "pki"\n[monitoring]\nenabled = true\n'
        '[cluster]\nknown_hosts = "known_hosts"\n[[nodes]]\nname = "n0"\n'
        'address = "127.0.77.1"\nroles = ["etcd", "control-plane"]\n',
    )
    assert run_cli("certs", "create", str(path)) == 0
    assert run_cli("certs", "check", str(path)) == 0
    assert run_cli("monitoring", "export", str(path), str(tmp_path / "mon")) == 0
    assert (tmp_path / "mon" / "prometheus.yml").is_file()
    capsys.readouterr()
