"""The default path, whole (issue 23): the demo's own plan through every screen and command.

One 4-node lab and the plan exactly as `hawizard lab up` writes it — what
`NODES=4 ./scripts/demo.sh` opens (`vip` mode, every node etcd + control-plane; the fourth
node is what the recycled-node flow needs). Nothing in the plan is edited by the test except
what a command itself tells the user to change. Then, as a user:

1. the real `hawizard wizard --plan PLAN` in a tmux terminal (120x40), driven by its keys:
   Nodes → Preflight → Certificates → etcd → Control plane → Review → Readiness → Dashboard;
   no traceback on any screen, and the dashboard's load-balancer table shows exactly one VIP
   holder;
2. the CLI on the same cluster, each exit code as the README says: `apply` again (changes
   nothing) and `status`; `check`; `certs rotate --all`; `etcd backup run`; `patch --dry-run`;
   `monitoring export` (following its own advice when it refuses); `lab fault` on the VIP
   holder and `status` naming the new holder within 3 s; the recycled-node flow (`etcd add`,
   `remove`, `replace` of a stopped member onto the node the cluster removed earlier);
3. `lab up` again, as demo.sh runs it each time: the plan the journey changed stays.

Stages are the test functions, in file order, on one module-scoped lab that is always torn
down. On failure: the terminal's screens in order (`wizard.screens`) and every command's
output (`cli.log`) are in the folder the failure message names (HAWIZARD_JOURNEY_ARTIFACTS,
else pytest's tmp folder). A change of a default ships only with this test green (README).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.lab import lab_skip_reason, running_lab
from journey_support import Journey, hawizard_binary, sha256
from journey_terminal import EXIT_MARK, Terminal, tmux_missing

pytestmark = pytest.mark.lab

LAB = os.environ.get("HAWIZARD_JOURNEY_LAB", "journey")
NODES = 4
# what installing haproxy/keepalived with their units masked makes dpkg print: expected, no failure
DPKG_NOISE = re.compile(r"preset failed|policy-rc\.d denied")
FAILOVER_BOUND = 3.0  # seconds from the holder's power-off to `status` naming the new holder


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journey]:
    reason = lab_skip_reason() or tmux_missing()
    if reason:
        pytest.skip(reason)
    wanted = os.environ.get("HAWIZARD_JOURNEY_ARTIFACTS")
    artifacts = Path(wanted) if wanted else tmp_path_factory.mktemp("journey")
    artifacts.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with running_lab(LAB, NODES) as lab:
        # the plan's path exactly as demo.sh finds it
        status = subprocess.run(
            [hawizard_binary(), "lab", "status", "--name", LAB, "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        plan = Path(json.loads(status.stdout)["plan"])
        j = Journey(lab=lab, plan=plan, artifacts=artifacts)
        j.log(f"lab {LAB} up with {NODES} nodes; plan {plan}; artifacts {artifacts}")
        try:
            yield j
        finally:
            total = time.monotonic() - started
            lines = [f"{name:28} {s:6.1f} s" for name, s in j.timings.items()]
            j.log("timings:\n" + "\n".join(lines) + f"\ntotal (lab up to down) {total:.1f} s")


@pytest.fixture(scope="module")
def wizard(journey: Journey) -> Iterator[Terminal]:
    term = Terminal(f"hawizard-{LAB}-{os.getpid()}", journey.artifacts / "wizard.screens")
    env = {"TERM": "xterm-256color", "COLORTERM": "truecolor"}
    term.start([hawizard_binary(), "wizard", "--plan", str(journey.plan)], env=env)
    try:
        yield term
    finally:
        term.close()


# --- the plan as the lab writes it ----------------------------------------------------------


def test_lab_writes_the_demo_plan(journey: Journey) -> None:
    with journey.stage("plan"):
        doc = journey.hw_json("plan", "validate", str(journey.plan))
        assert doc["valid"], doc
        text = journey.plan.read_text()
        assert 'mode = "vip"' in text, text
        assert text.count("[[nodes]]") == NODES, text
        journey.plan_digest = sha256(journey.plan)


# --- 1. the wizard in a real terminal -------------------------------------------------------


def test_wizard_nodes(journey: Journey, wizard: Terminal) -> None:
    with journey.stage("wizard: nodes", needs=("plan",)):
        screen = wizard.wait_for("▶ 1 Nodes", 60, stage="Nodes")
        screen = wizard.wait_for(journey.node(NODES), 10, stage="Nodes")
        for name in journey.node_names:
            assert name in screen, screen
        assert "Preflight ▶" in screen, screen


def test_wizard_preflight(journey: Journey, wizard: Terminal) -> None:
    with journey.stage("wizard: preflight", needs=("wizard: nodes",)):
        wizard.keys("C-n")
        wizard.wait_for("▶ 2 Preflight", 10, stage="Preflight")
        wizard.keys("C-r")
        wizard.wait_for(f"all {NODES} nodes ready", 120, stage="Preflight", fail_on=["not ready:"])


def test_wizard_certificates(journey: Journey, wizard: Terminal) -> None:
    with journey.stage("wizard: certificates", needs=("wizard: preflight",)):
        wizard.keys("C-n")
        wizard.wait_for("▶ 3 Certificates", 10, stage="Certificates")
        wizard.keys("C-r")
        wizard.wait_for(
            re.compile(r"✔ \d+ created in "),
            60,
            stage="Certificates",
            fail_on=["problems found", "fix the plan first", "failed"],
        )


def test_wizard_etcd_rollout(journey: Journey, wizard: Terminal) -> None:
    with journey.stage("wizard: etcd", needs=("wizard: certificates",)):
        wizard.keys("C-n")
        wizard.wait_for("▶ 4 etcd", 10, stage="etcd")
        wizard.keys("C-r")
        screen = wizard.wait_for(
            "etcd rollout done:", 300, stage="etcd", fail_on=["etcd rollout stopped", "✖ "]
        )
        for name in journey.node_names:
            assert re.search(rf"{re.escape(name)}\s+done", screen), screen


def test_wizard_control_plane_in_vip_mode(journey: Journey, wizard: Terminal) -> None:
    with journey.stage("wizard: control plane", needs=("wizard: etcd",)):
        wizard.keys("C-n")
        screen = wizard.wait_for("▶ 5 Control plane", 10, stage="Control plane")
        assert "vip — keepalived" in screen, screen
        journey.frames_mark = len(wizard.frames)
        wizard.keys("C-r")
        wizard.wait_for(
            "control-plane rollout done:",
            300,
            stage="Control plane",
            fail_on=["control-plane rollout stopped", "✖ "],
        )


def test_wizard_control_plane_done_means_the_endpoint_answers(journey: Journey) -> None:
    """Issue 23 item 3: `status` the moment the wizard says done (the wizard still open) is 0,
    with exactly one node holding the VIP. Run before anything else can give keepalived time."""
    with journey.stage("wizard: endpoint at done", needs=("wizard: control plane",)):
        status = journey.hw("status", str(journey.plan), expect=None)
        assert status.returncode == 0 and len(_holders(status.stdout)) == 1, status.describe()


def test_wizard_control_plane_log_reads_as_success(journey: Journey, wizard: Terminal) -> None:
    """Issue 23 item 5: nothing failed, so no screen of the run shows dpkg's expected noise."""
    with journey.stage("wizard: quiet log", needs=("wizard: control plane",)):
        noise = [f for f in wizard.frames[journey.frames_mark :] if DPKG_NOISE.search(f)]
        assert not noise, f"{len(noise)} screens show it, e.g.:\n{noise[0]}"


def test_wizard_review(journey: Journey, wizard: Terminal) -> None:
    with journey.stage("wizard: review", needs=("wizard: control plane",)):
        wizard.keys("C-n")
        wizard.wait_for("▶ 6 Review", 10, stage="Review")
        screen = wizard.wait_for(
            f"endpoint survives the loss of {NODES - 1} balancer nodes", 10, stage="Review"
        )
        assert not re.search(r"^\s*✖ ", screen, re.M), screen  # warnings (▲) are fine


def test_wizard_readiness(journey: Journey, wizard: Terminal) -> None:
    with journey.stage("wizard: readiness", needs=("wizard: review",)):
        wizard.keys("C-n")
        wizard.wait_for("▶ 7 Readiness", 10, stage="Readiness")
        wizard.keys("c")
        screen = wizard.wait_for(re.compile(r"checked \S+ in [\d.]+ s"), 180, stage="Readiness")
        assert "etcd topology" in screen, screen


def test_wizard_dashboard_shows_one_vip_holder(journey: Journey, wizard: Terminal) -> None:
    with journey.stage("wizard: dashboard", needs=("wizard: readiness",)):
        wizard.keys("C-n")
        wizard.wait_for("hawizard dashboard", 10, stage="Dashboard")
        screen = wizard.wait_for(
            re.compile(rf"{NODES}/{NODES} healthy[\s\S]*VIP held by \S+"), 60, stage="Dashboard"
        )
        holder = re.search(r"VIP held by (\S+)", screen).group(1)  # type: ignore[union-attr]
        assert holder in journey.node_names, screen
        holder_rows = [line for line in screen.splitlines() if "● holder" in line]
        assert len(holder_rows) == 1, screen
        assert holder_rows[0].split()[0] == holder, screen
        wizard.keys("q")
        wizard.wait_for(f"{EXIT_MARK}0]", 20, stage="quit")
        wizard.assert_no_traceback("quit")
        # the whole walk needed no edit: the plan on disk is still the one `lab up` wrote
        assert sha256(journey.plan) == journey.plan_digest


# --- 2. the CLI on the same cluster ---------------------------------------------------------

CLUSTER = "wizard: control plane"  # the stages below need the cluster the wizard built


def _holders(text: str) -> list[str]:
    """The nodes `status` names as VIP holders ("VIP held by n1" / "… by nobody")."""
    match = re.search(r"VIP held by ([^\n]*)", text)
    assert match, text
    names = [h.strip() for h in match.group(1).split(",")]
    return [h for h in names if h and h != "nobody"]


def test_cli_apply_again_changes_nothing_and_status_is_0(journey: Journey) -> None:
    with journey.stage("cli: apply + status", needs=(CLUSTER,)):
        run = journey.hw("apply", str(journey.plan), "--yes", timeout=180)
        assert "converged: nothing to change" in run.stdout, run.describe()
        status = journey.hw("status", str(journey.plan))  # right after apply: exit 0
        assert len(_holders(status.stdout)) == 1, status.describe()


def test_cli_check_exit_code_follows_the_verdicts(journey: Journey) -> None:
    with journey.stage("cli: check", needs=(CLUSTER,)):
        doc = journey.hw_json("check", str(journey.plan), expect=None)
        verdicts = {i["verdict"] for i in doc["items"]}
        expected = 2 if "fail" in verdicts else 1 if "warn" in verdicts else 0
        assert doc["exit_code"] == expected, doc
        journey.hw("check", str(journey.plan), expect=expected)


def test_cli_certs_rotate_all(journey: Journey) -> None:
    with journey.stage("cli: certs rotate", needs=(CLUSTER,)):
        before = {m["name"]: m["served_cert"] for m in journey.status_json()["members"]}
        journey.hw("certs", "rotate", str(journey.plan), "--all", "--yes", timeout=240)
        after = {m["name"]: m["served_cert"] for m in journey.status_json()["members"]}
        for name in journey.node_names:
            fp_before = before[name]["fingerprint_sha256"]
            assert after[name]["fingerprint_sha256"] != fp_before, (name, before, after)


def test_cli_backup_run(journey: Journey) -> None:
    with journey.stage("cli: backup run", needs=(CLUSTER,)):
        run = journey.hw("etcd", "backup", "run", str(journey.plan), timeout=120)
        assert "verified backup" in run.stdout, run.describe()
        doc = journey.hw_json("check", str(journey.plan), expect=None)
        backups = next(i for i in doc["items"] if i["key"] == "backups")
        assert backups["verdict"] == "ok", backups


def test_cli_patch_dry_run_changes_nothing(journey: Journey) -> None:
    with journey.stage("cli: patch --dry-run", needs=(CLUSTER,)):
        digest = sha256(journey.plan)
        run = journey.hw("patch", str(journey.plan), "--dry-run", timeout=180)
        assert "dry run" in run.output, run.describe()
        assert sha256(journey.plan) == digest
        journey.hw("status", str(journey.plan))


def test_cli_monitoring_export_following_its_advice(journey: Journey) -> None:
    with journey.stage("cli: monitoring export", needs=(CLUSTER,)):
        out = journey.plan.parent / "monitoring"
        first = journey.hw("monitoring", "export", str(journey.plan), expect=None)
        if first.returncode != 0:
            assert first.returncode == 2, first.describe()  # refused: bad input, as the README says
            # the advice names the setting and the command; follow exactly that
            assert "enabled = true" in first.stderr and "[monitoring]" in first.stderr, (
                first.describe()
            )
            command = re.search(r"`(hawizard certs create [^`]+)`", first.stderr)
            assert command, first.describe()
            text = journey.plan.read_text()
            assert "[monitoring]" not in text  # the lab's plan has no such section to edit
            journey.plan.write_text(text + "\n[monitoring]\nenabled = true\n")
            journey.hw(*shlex.split(command.group(1))[1:])
            second = journey.hw("monitoring", "export", str(journey.plan))
        else:
            second = first
        for name in ("prometheus.yml", "etcd-alerts.yml", "grafana-dashboard.json"):
            assert (out / name).is_file(), second.describe()
        advice = re.search(r"check: (promtool check config \S+)", second.output)
        if advice and shutil.which("promtool"):
            proc = subprocess.run(
                shlex.split(advice.group(1)), capture_output=True, text=True, timeout=60
            )
            assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cli_vip_moves_when_its_holder_powers_off(journey: Journey) -> None:
    with journey.stage("cli: VIP failover", needs=(CLUSTER,)):
        doc = journey.status_json()
        holders = doc["load_balancer"]["holders"]
        assert len(holders) == 1, doc["load_balancer"]
        old = holders[0]
        journey.hw("lab", "fault", old, "stop", "--name", journey.name)
        off_at = time.monotonic()
        try:
            while True:
                # the holder's etcd member is down too: degraded, exit 1 (README)
                run = journey.hw("status", str(journey.plan), expect=1, timeout=30)
                now = _holders(run.stdout)
                if now and now != [old]:
                    break
                assert time.monotonic() - off_at < FAILOVER_BOUND, (
                    f"status still names {now or 'nobody'} {FAILOVER_BOUND:g} s after {old} "
                    f"powered off\n{run.describe()}"
                )
            journey.log(f"VIP: {old} → {now} in {time.monotonic() - off_at:.2f} s")
            assert len(now) == 1 and now[0] in journey.node_names, run.describe()
        finally:
            journey.hw("lab", "fault", old, "start", "--name", journey.name)
        _wait_status_0(journey, 90)


def test_cli_recycled_node_add_remove_replace(journey: Journey) -> None:
    """Issue 23 item 4: a node this cluster removed earlier takes a stopped member's place."""
    with journey.stage("cli: recycled node", needs=(CLUSTER,)):
        plan = str(journey.plan)
        spare, victim = journey.node(4), journey.node(2)
        journey.hw("etcd", "remove", plan, spare, "--yes", timeout=180)
        add = journey.hw("etcd", "add", plan, spare, "--yes", timeout=180)
        assert "renamed aside" in add.output or "kept as" in add.output, add.describe()
        _wait_status_0(journey, 60)
        journey.hw("etcd", "remove", plan, spare, "--yes", timeout=180)
        journey.hw("lab", "fault", victim, "stop", "--name", journey.name)
        try:
            # expected: ~10 s; a bound far below the promote step's 300 s wait
            journey.hw("etcd", "replace", plan, victim, spare, "--yes", timeout=120)
        finally:
            journey.hw("lab", "fault", victim, "start", "--name", journey.name)
        doc = _wait_status_0(journey, 60)
        members = doc["members"]
        voters = sorted(m["name"] for m in members if m["in_cluster"] and not m["is_learner"])
        assert voters == sorted(n for n in journey.node_names if n != victim), doc["members"]
        kept = journey.in_node(spare, "sh", "-c", "ls -d /var/lib/etcd.replaced-*")
        assert len(kept.split()) == 2, kept  # the add's and the replace's old data, both kept


def test_demo_again_keeps_the_changed_plan(journey: Journey) -> None:
    """demo.sh runs `lab up` each time: the plan the journey changed (the `[monitoring]`
    section, the membership the changes wrote) must survive it."""
    with journey.stage("demo again", needs=("cli: monitoring export",)):
        before = journey.plan.read_bytes()
        run = journey.hw("lab", "up", "--name", journey.name, "--nodes", str(NODES), timeout=180)
        assert journey.plan.read_bytes() == before, run.describe()
        assert (journey.plan.parent / "plan.lab.toml").is_file(), run.describe()


def _wait_status_0(journey: Journey, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        doc = journey.status_json(expect=None)
        if doc["exit_code"] == 0:
            journey.hw("status", str(journey.plan))  # and the human form agrees
            return doc
        if time.monotonic() > deadline:
            pytest.fail(f"status did not return to exit 0 within {timeout:g} s: {doc['summary']}")
        time.sleep(1)
