"""Benchmark: plan → every etcd member healthy and marked `existing`, hawizard against a
hand-written parallel shell rollout of the same end state, measured in the same run.

Run as root: `.venv/bin/python tests/bench/bench_apply.py [--rounds N] [--lab NAME]`.

One lab of 5 nodes is brought up (untimed). Every measured rollout starts from fresh node
disks (`lab.reset`, untimed) and times one command from its start to its exit:

- hawizard: `python -m hawizard apply PLAN --yes --only etcd` (the real CLI: start-up, the
  local certificate check, preflight, upload, start, wait, flip to `existing`);
- shell: `sh rollout.sh`, what a careful person writes by hand (issue 30) — the binaries
  hashed once, then every node at once: one `ssh` carrying one tar stream (binaries,
  certificates, config, unit, hawizard's nftables table and its unit) into one remote script
  that checks sha256, installs with the right modes, checks and loads the table (`nft -c`,
  `enable --now` of its unit) and `enable --now --no-block`s etcd; then `etcdctl endpoint
  health` from the operator's machine every 50 ms until the cluster answers; then `existing`
  set on every node at once over the same SSH connections (ControlMaster). Its files are
  rendered by hawizard's renderers beforehand (a hand-written script would have them as
  templates). `verify` checks that both reach the same end state: healthy over mTLS,
  `existing`, and on every node the same files (path, mode, owner, group, sha256), the same
  units enabled and active, the same table loaded — the first rollout of each size sets it,
  every later one of either side must match it.

Cases run interleaved (3 members: hawizard, shell; 5 members: shell, hawizard; the order flips
every round), so machine load hits both sides alike; medians are printed with the ratios.
After each 3-member hawizard rollout, a re-apply is timed and must change nothing and restart
nothing. The first SSH byte is timed against a loopback listener posing as a node.

`--compare DIR` adds a third contender to every round: another checkout of hawizard (e.g. the
code before a change, from `git archive`), run with PYTHONPATH=DIR.

Targets (issues 13 and 30): hawizard ≤ 1.3× the shell for 3 and for 5 members; hawizard
5/3 ≤ 1.15×; re-apply ≤ 1.0 s with 0 changed; first SSH byte ≤ 0.15 s after the process
starts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from hawizard import firewall, pki
from hawizard.etcd import render
from hawizard.etcd.binaries import load_binaries
from hawizard.etcd.preflight import MARKER_PATH, marker_text
from hawizard.etcd.probe import wait_healthy
from hawizard.lab import Lab
from hawizard.lab.errors import LabError
from hawizard.lab.preflight import lab_unavailable
from hawizard.plan import Plan, dump

LAB_NAME = "hwbenchap"
SEEN: dict[tuple[str, int], dict] = {}  # the first end state of each size (`verify`)
TIMEOUT = 300  # seconds for one rollout; a hang is a failure, not a figure

# The remote half of the careful shell rollout (issue 30): $1 is the member's name, stdin one
# tar stream (uncompressed: on this network gzip costs more CPU than it saves). It installs,
# starts etcd without waiting, and returns: the operator's machine waits for health once.
REMOTE = r"""set -eu
d=$(mktemp -d /tmp/rollout.XXXXXXXX)
trap 'rm -rf "$d"' EXIT
tar -xif - -C "$d"
cd "$d"
sha256sum -c --quiet bin.sums node.sums
id -u etcd >/dev/null 2>&1 || useradd --system --user-group --no-create-home \
    --home-dir @DATA@ --shell /usr/sbin/nologin etcd
install -m 0755 bin/* /usr/local/bin/
install -d -m 0700 -o etcd -g etcd @DATA@ @CERTS@
install -d -m 0755 /etc/etcd
for f in ssl/*; do
    case $f in
        *-key.pem) install -m 0600 -o etcd -g etcd "$f" @CERTS@/ ;;
        *) install -m 0644 "$f" @CERTS@/ ;;
    esac
done
install -m 0640 -g etcd etcd.conf.yml /etc/etcd/etcd.conf.yml
install -m 0644 hawizard-cluster @MARKER@
install -m 0644 etcd.service /etc/systemd/system/etcd.service
install -d -m 0755 /etc/hawizard
nft -c -f firewall.nft
install -m 0644 firewall.nft /etc/hawizard/firewall.nft
install -m 0644 hawizard-firewall.service /etc/systemd/system/hawizard-firewall.service
systemctl enable --quiet --now hawizard-firewall.service
systemctl enable --now --no-block etcd
"""
FLIP = (
    "sed -i "
    + shlex.quote('s/^initial-cluster-state: "new"$/initial-cluster-state: "existing"/')
    + " /etc/etcd/etcd.conf.yml"
)

LOCAL = r"""#!/bin/sh
# usage: rollout.sh KEY KNOWN_HOSTS NAME=ADDRESS...  (run in the staging folder)
# every node at once: one ssh each, one tar stream and one script; then `etcdctl endpoint
# health` from here until the whole cluster answers; then `existing` on every node, over the
# same ssh connections (ControlMaster), again all at once
set -eu
key=$1 known=$2
shift 2
sha256sum bin/* > bin.sums
ctl=$(mktemp -d /tmp/rollout-ssh.XXXXXXXX)
trap 'for h in $hosts; do ssh -o ControlPath="$ctl/%h" -O exit "root@$h" 2>/dev/null; done
      rm -rf "$ctl"' EXIT
opts="-i $key -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$known
      -o ConnectTimeout=10 -o ControlMaster=auto -o ControlPath=$ctl/%h -o ControlPersist=60"
pids="" hosts="" endpoints=""
for spec in "$@"; do
    name=${spec%%=*} addr=${spec#*=}
    hosts="$hosts $addr" endpoints="$endpoints${endpoints:+,}https://$addr:$PORT"
    (cd "nodes/$name" && sha256sum ssl/* etcd.conf.yml hawizard-cluster etcd.service \
        firewall.nft hawizard-firewall.service > node.sums)
    { tar -cf - bin bin.sums; tar -C "nodes/$name" -cf - .; } |
        ssh $opts "root@$addr" "$REMOTE $name" &
    pids="$pids $!"
done
rc=0
for p in $pids; do wait "$p" || rc=1; done
[ $rc = 0 ] || exit $rc
until "$ETCDCTL" --endpoints="$endpoints" --cacert="$CA" --cert="$CERT" --key="$KEY" \
        --command-timeout=1s endpoint health >/dev/null 2>&1; do
    sleep 0.05
done
pids=""
for h in $hosts; do
    ssh $opts "root@$h" "$FLIP" &
    pids="$pids $!"
done
for p in $pids; do wait "$p" || rc=1; done
exit $rc
"""


def stage_shell(plan: Plan, folder: Path, operator: str) -> Path:
    """The shell rollout's inputs: binaries, each member's rendered files, the script.
    `operator`: this machine's address as the nodes see it (the lab's gateway), which the
    firewall table lets reach the metrics port, as hawizard's does."""
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "bin").mkdir(parents=True)
    for b in load_binaries(plan.resolve(plan.etcd.binaries)):
        path = folder / "bin" / b.name
        path.write_bytes(b.data)
        path.chmod(0o755)
    layout = pki.paths(plan)
    for m in plan.etcd_nodes:
        node = folder / "nodes" / m.name
        (node / "ssl").mkdir(parents=True)
        shutil.copy(layout.etcd_ca.cert, node / "ssl" / "ca.pem")
        for kind, pair in (("server", layout.etcd_server(m)), ("peer", layout.etcd_peer(m))):
            shutil.copy(pair.cert, node / "ssl" / f"{kind}-{m.name}.pem")
            shutil.copy(pair.key, node / "ssl" / f"{kind}-{m.name}-key.pem")
        config = render.render_config(plan, m, render.ClusterState.NEW)
        (node / "etcd.conf.yml").write_text(config)
        (node / "hawizard-cluster").write_text(marker_text(plan))
        (node / "etcd.service").write_text(render.render_unit(plan))
        (node / "firewall.nft").write_text(firewall.render_nft(plan, m, operator))
        (node / "hawizard-firewall.service").write_text(firewall.render_firewall_unit())
    remote = REMOTE
    for key, value in {
        "@DATA@": plan.etcd.data_dir,
        "@CERTS@": plan.etcd.cert_dir,
        "@MARKER@": MARKER_PATH,
        "@PORT@": str(plan.etcd.client_port),
    }.items():
        remote = remote.replace(key, shlex.quote(value))
    command = shlex.join(["sh", "-c", remote, "rollout"])
    layout = pki.paths(plan)
    exports = {
        "REMOTE": command,
        "FLIP": FLIP,
        "PORT": str(plan.etcd.client_port),
        "ETCDCTL": str(Path(sys.executable).parent / "etcdctl"),
        "CA": str(layout.etcd_ca.cert),
        "CERT": str(layout.etcd_admin.cert),
        "KEY": str(layout.etcd_admin.key),
    }
    lines = "".join(f"{k}={shlex.quote(v)}\n" for k, v in exports.items())
    script = LOCAL.replace("set -eu\n", f"set -eu\n{lines}", 1)
    (folder / "rollout.sh").write_text(script)
    return folder / "rollout.sh"


def fresh(lab: Lab, plan: Plan) -> None:
    """Fresh disks for the plan's nodes (untimed). On a machine this busy a node may miss its
    boot deadline: try again rather than lose the whole run."""
    for attempt in range(3):
        try:
            lab.reset(*(n.name for n in plan.etcd_nodes))
            return
        except LabError as exc:
            print(f"  (reset failed, attempt {attempt + 1}: {exc})", flush=True)
    raise SystemExit("the lab's nodes would not come back")


class Timer:
    """Wall seconds and local CPU seconds (user + sys of the children: hawizard, or sh with
    its ssh, tar and gzip processes) of one command: CPU time hardly depends on how many other
    programs share the machine, wall time does."""

    def __enter__(self) -> Timer:
        self.wall = time.perf_counter()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu = usage.ru_utime + usage.ru_stime
        return self

    def __exit__(self, *exc: object) -> None:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.wall = time.perf_counter() - self.wall
        self.cpu = usage.ru_utime + usage.ru_stime - self.cpu


def shell_seconds(lab: Lab, plan: Plan, script: Path) -> Timer:
    fresh(lab, plan)
    argv = [
        "sh",
        str(script),
        str(plan.resolve(plan.etcd_nodes[0].ssh.key)),
        str(plan.resolve(plan.cluster.known_hosts)),
        *(f"{m.name}={m.address}" for m in plan.etcd_nodes),
    ]
    with Timer() as timer:
        done = subprocess.run(argv, cwd=script.parent, capture_output=True, timeout=TIMEOUT)
    if done.returncode != 0:
        raise SystemExit(f"shell rollout failed:\n{done.stderr.decode(errors='replace')}")
    verify(lab, plan, "shell", SEEN)
    return timer


def apply_cli(
    plan_path: Path, *extra: str, code: Path | None = None
) -> tuple[Timer, subprocess.CompletedProcess]:
    """`hawizard apply`; `code`: another checkout of hawizard to run instead of this one."""
    argv = [sys.executable, "-m", "hawizard", "apply", str(plan_path), "--yes", "--only", "etcd"]
    with Timer() as timer:
        done = subprocess.run(
            [*argv, *extra], capture_output=True, text=True, timeout=TIMEOUT, **code_env(code)
        )
    if done.returncode != 0:
        raise SystemExit(f"hawizard apply failed:\n{done.stdout}\n{done.stderr}")
    return timer, done


REPO = Path(__file__).resolve().parents[2]


def code_env(code: Path | None) -> dict:
    """Run `python -m hawizard` from `code` (default: this checkout), whatever the caller's
    working directory: `-m` puts the working directory first on sys.path, so a bench started
    from a checkout would otherwise run that checkout's hawizard for every contender."""
    return {
        "env": {**os.environ, "PYTHONPATH": str(code or REPO)},
        "cwd": tempfile.gettempdir(),
    }


def hawizard_seconds(lab: Lab, plan: Plan, code: Path | None = None) -> Timer:
    fresh(lab, plan)
    assert plan.source is not None
    Path(f"{plan.source}.journal.json").unlink(missing_ok=True)
    timer, _ = apply_cli(plan.source, code=code)
    verify(lab, plan, f"hawizard ({code or REPO})", SEEN)
    return timer


def reapply_seconds(lab: Lab, plan: Plan, code: Path | None = None) -> Timer:
    """A second apply on the cluster just converged: nothing changed, nobody restarted."""
    assert plan.source is not None
    before = main_pids(lab, plan)
    timer, done = apply_cli(plan.source, "--json", code=code)
    changed = sum(n["changed"] for n in json.loads(done.stdout)["nodes"].values())
    if changed or main_pids(lab, plan) != before:
        raise SystemExit(f"re-apply changed {changed} step(s) or restarted a member")
    return timer


def main_pids(lab: Lab, plan: Plan) -> dict[str, str]:
    show = ["systemctl", "show", "-p", "MainPID", "--value", "etcd"]
    return {m.name: lab.exec(m.name, show).stdout.strip() for m in plan.etcd_nodes}


def verify(lab: Lab, plan: Plan, who: str, seen: dict[tuple[str, int], dict]) -> None:
    """The end state both rollouts must reach (untimed): healthy over mTLS with the
    operator's certificate, `existing` on every member, and the same `end_state` on every
    node — the first rollout of each size sets it, every later one (of either side) must
    match it exactly."""
    health = wait_healthy(plan, timeout=30)
    if health.healthy_count != len(plan.etcd_nodes):
        raise SystemExit(f"{who}: not every member is healthy: {health.summary}")
    for m in plan.etcd_nodes:
        text = lab.exec(m.name, ["cat", render.CONFIG_PATH]).stdout
        if render.config_state(text) is not render.ClusterState.EXISTING:
            raise SystemExit(f"{who}: {m.name}: config not flipped to existing")
    state = end_state(lab, plan)
    key = ("end state", len(plan.etcd_nodes))
    if key not in seen:
        seen[key] = {"who": who, "state": state}
        return
    first = seen[key]
    for node, lines in state.items():
        theirs = first["state"][node]
        if lines != theirs:
            diff = sorted(set(lines) ^ set(theirs))
            raise SystemExit(
                f"{who} and {first['who']} left {node} in different states:\n" + "\n".join(diff)
            )


def end_state(lab: Lab, plan: Plan) -> dict[str, list[str]]:
    """Per node: every file a rollout puts there (path, mode, owner, group, sha256), the
    units' enablement and state, and the loaded nftables table (without its counters)."""
    from hawizard.etcd.rollout import EtcdRollout

    rollout = EtcdRollout(plan)
    units = ["etcd", firewall.FIREWALL_SERVICE]
    states = {}
    for m in plan.etcd_nodes:
        paths = [f.path for f in rollout._files(m)]
        paths += [firewall.NFT_DIR, firewall.NFT_FILE, firewall.FIREWALL_UNIT]
        paths += [render.CONFIG_PATH, MARKER_PATH]
        quoted = " ".join(shlex.quote(p) for p in sorted(set(paths)))
        script = (
            f'for p in {quoted}; do echo "$(stat -c \'%n %a %U %G\' -- "$p") '
            f'$([ -f "$p" ] && sha256sum < "$p" | cut -c1-64)"; done; '
            f"for u in {' '.join(units)}; do "
            'echo "$u $(systemctl is-enabled "$u") $(systemctl is-active "$u")"; done; '
            f"nft -s list table {firewall.TABLE}"
        )
        out = lab.exec(m.name, ["sh", "-c", script]).stdout
        states[m.name] = [line.rstrip() for line in out.splitlines() if line.strip()]
    return states


def first_byte_seconds(
    plan: Plan, folder: Path, code: Path | None = None, lab: Lab | None = None
) -> tuple[float, float]:
    """Process start → the first byte an SSH server receives, against a loopback listener
    posing as the only node (it never answers; the process is stopped once the byte came):
    (wall seconds, CPU seconds the process had used by then — what load hardly changes)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    (folder / "pki").mkdir(mode=0o700, parents=True)
    if code is not None and lab is not None:
        plan_written_by(code, lab, 3, folder / "pki", folder / "plan.toml", port)
    else:
        node = plan.nodes[0]
        node = replace(node, address="127.0.0.1", ssh=replace(node.ssh, port=port))
        fake = replace(plan.with_nodes((node,)), pki=replace(plan.pki, dir=str(folder / "pki")))
        dump(fake, folder / "plan.toml")
        pki.create(fake)  # certificates exist, as on any re-run (untimed)
    got: list[float] = []

    cpu: list[float] = []
    pid: list[int] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            if conn.recv(1):
                got.append(time.perf_counter())
                cpu.append(process_cpu(pid[0]))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    argv = [sys.executable, "-m", "hawizard", "apply", str(folder / "plan.toml"), "--yes"]
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **code_env(code)
    )
    pid.append(proc.pid)
    thread.join(timeout=30)
    proc.kill()
    proc.wait()
    listener.close()
    if not got:
        raise SystemExit("no SSH byte reached the listener")
    return got[0] - start, cpu[0]


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a running process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def plan_written_by(code: Path, lab: Lab, n: int, pki_dir: Path, path: Path, port: int = 0) -> Path:
    """The same lab plan written by another checkout's own code: an older one may not know
    plan sections added since (its loader refuses unknown keys). `port`: the first node only,
    at 127.0.0.1:port, with its certificates made (for `first_byte_seconds`)."""
    script = (
        "import sys\n"
        "import dataclasses\n"
        "from dataclasses import replace\n"
        "from pathlib import Path\n"
        "from hawizard import pki\n"
        # an older checkout's lab record has fewer fields than the lab running now
        "import hawizard.lab.state as st\n"
        "_record = st.LabRecord\n"
        "_known = {f.name for f in dataclasses.fields(_record)}\n"
        "st.LabRecord = lambda **kw: _record(**{k: v for k, v in kw.items() if k in _known})\n"
        "from hawizard.lab import Lab\n"
        "from hawizard.plan import dump\n"
        "plan = Lab(sys.argv[1]).plan(nodes=int(sys.argv[2]), pki_dir=sys.argv[3])\n"
        "port = int(sys.argv[5])\n"
        "if port:\n"
        "    n = plan.nodes[0]\n"
        "    n = replace(n, address='127.0.0.1', ssh=replace(n.ssh, port=port))\n"
        "    plan = plan.with_nodes((n,))\n"
        "    pki.create(plan)\n"
        "dump(replace(plan, source=Path(sys.argv[4])), Path(sys.argv[4]))\n"
    )
    argv = [sys.executable, "-c", script, lab.name, str(n), str(pki_dir), str(path), str(port)]
    subprocess.run(argv, check=True, timeout=120, capture_output=True, **code_env(code))
    return path


def machine() -> str:
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{platform.node()}: {os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (≥ 3)")
    parser.add_argument("--lab", default=LAB_NAME, help="lab name (≤ 12 characters)")
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="DIR",
        help="also time another hawizard checkout (e.g. `git archive` of the code before a "
        "change), run with PYTHONPATH=DIR, in the same interleaved rounds",
    )
    args = parser.parse_args()
    if reason := lab_unavailable():
        print(f"error: {reason}", file=sys.stderr)
        return 2
    # Byte-compiled, as `pip install` leaves a package (scripts/setup.sh does it for this
    # checkout): with PYTHONDONTWRITEBYTECODE set, each start would compile every module.
    for code in (REPO, args.compare):
        if code is not None:
            subprocess.run(
                [sys.executable, "-m", "compileall", "-q", str(code / "hawizard")], check=False
            )
    lab = Lab(args.lab)
    lab.down(purge=True)
    keys = ["h3", "s3", "h5", "s5", "re"]
    if args.compare:
        keys += ["b3", "b5", "bre"]
    times: dict[str, list[float]] = {k: [] for k in [*keys, "byte", "bbyte"]}
    cpu: dict[str, list[float]] = {k: [] for k in [*keys, "byte", "bbyte"]}

    def record(key: str, timer: Timer) -> None:
        times[key].append(timer.wall)
        cpu[key].append(timer.cpu)

    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        for attempt in range(3):  # a node may miss its boot deadline on a busy machine
            try:
                lab.up(nodes=5)
                break
            except LabError as exc:
                print(f"  (lab up failed, attempt {attempt + 1}: {exc})", flush=True)
                lab.down(purge=True)
        else:
            raise SystemExit("the lab would not come up")
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            plans, scripts, compare_plans = {}, {}, {}
            for n in (3, 5):
                (work / f"pki{n}").mkdir(mode=0o700)
                plan = lab.plan(nodes=n, pki_dir=work / f"pki{n}")
                plan = replace(plan, source=work / f"plan{n}.toml")
                dump(plan, plan.source)
                pki.create(plan)  # local certificates are not what we measure
                plans[n] = plan
                scripts[n] = stage_shell(plan, work / f"shell{n}", lab.status().gateway)
                if args.compare:
                    path = work / f"compare{n}.toml"
                    plan_written_by(args.compare, lab, n, work / f"pki{n}", path)
                    compare_plans[n] = replace(plan, source=path)
            for r in range(args.rounds):
                wall, used = first_byte_seconds(plans[3], work / f"byte{r}")
                times["byte"].append(wall)
                cpu["byte"].append(used)
                if args.compare:
                    wall, used = first_byte_seconds(plans[3], work / f"bbyte{r}", args.compare, lab)
                    times["bbyte"].append(wall)
                    cpu["bbyte"].append(used)
                for n, first in ((3, "h"), (5, "s")):
                    order = [first, "s" if first == "h" else "h"]
                    if args.compare:
                        order.insert(1, "b")
                    if r % 2:
                        order.reverse()
                    for who in order:
                        if who in ("h", "b"):
                            code = args.compare if who == "b" else None
                            which = compare_plans if who == "b" else plans
                            record(f"{who}{n}", hawizard_seconds(lab, which[n], code))
                            if n == 3:
                                re_key = "re" if who == "h" else "bre"
                                record(re_key, reapply_seconds(lab, which[3], code))
                        else:
                            record(f"s{n}", shell_seconds(lab, plans[n], scripts[n]))
                print(
                    f"round {r + 1} (load {os.getloadavg()[0]:.1f}): "
                    + ", ".join(
                        f"{k} {v[-1]:.2f}s" + (f" (cpu {cpu[k][-1]:.2f}s)" if k in cpu else "")
                        for k, v in times.items()
                        if v
                    ),
                    flush=True,
                )
    finally:
        lab.down(purge=True)
    med = {k: statistics.median(v) for k, v in times.items() if v}
    mcpu = {k: statistics.median(v) for k, v in cpu.items() if v}
    load_after = os.getloadavg()
    print(f"\n{started} on {machine()}")
    print(
        f"load average (1/5/15 min) before {' '.join(f'{x:.2f}' for x in load_before)}, "
        f"after {' '.join(f'{x:.2f}' for x in load_after)}"
    )
    print(f"medians of {args.rounds} interleaved rounds:")
    for n in (3, 5):
        ratio = med[f"h{n}"] / med[f"s{n}"]
        print(
            f"  {n} members: hawizard {med[f'h{n}']:.2f} s, shell {med[f's{n}']:.2f} s, "
            f"hawizard / shell = {ratio:.2f}x (target <= 1.3x)"
        )
        print(
            f"             local CPU: hawizard {mcpu[f'h{n}']:.2f} s, shell {mcpu[f's{n}']:.2f} s"
        )
    print(
        f"  5 / 3 members: hawizard {med['h5'] / med['h3']:.2f}x (target <= 1.15x), "
        f"shell {med['s5'] / med['s3']:.2f}x"
    )
    print(
        f"  re-apply, 3 members, 0 changed, 0 restarts: {med['re']:.2f} s (target <= 1.0 s), "
        f"local CPU {mcpu['re']:.2f} s"
    )
    print(
        f"  first SSH byte after process start: {med['byte']:.3f} s (target <= 0.15 s), "
        f"CPU used by then {mcpu['byte']:.3f} s"
    )
    if args.compare:
        print(f"  {args.compare} in the same rounds:")
        for n in (3, 5):
            print(
                f"    {n} members: {med[f'b{n}']:.2f} s (local CPU {mcpu[f'b{n}']:.2f} s), "
                f"/ shell = {med[f'b{n}'] / med[f's{n}']:.2f}x"
            )
        print(
            f"    5 / 3 members: {med['b5'] / med['b3']:.2f}x; re-apply {med['bre']:.2f} s "
            f"(local CPU {mcpu['bre']:.2f} s); first SSH byte {med['bbyte']:.3f} s "
            f"(CPU by then {mcpu['bbyte']:.3f} s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
