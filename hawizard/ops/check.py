"""`hawizard check PLAN`: the production checklist, read-only, in bounded time.

Gathers everything at once — one read-only SSH script per node (`readiness.facts`), one etcd
probe round (health, served certificates), each member's metrics listener, a TLS handshake
without a client certificate against every member's client and peer port, each apiserver's
/metrics with the monitoring certificate, the local snapshots — each with its own timeout,
then judges every item (`readiness.items`). Nothing is changed anywhere.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import json
import socket
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hawizard.plan import Node, Plan
from hawizard.readiness import items as judge
from hawizard.readiness.facts import UPDATES_TIMEOUT, NodeFacts, script, sections
from hawizard.readiness.items import Backup, Item, MetricsProbe, TLSProbe

JSON_SCHEMA = 1
HTTP_TIMEOUT = 3.0
APISERVER_PORT = 6443
PROMETHEUS_PORT = 9090
EXPORT_DIR = "monitoring"  # `hawizard monitoring export` default, next to the plan


@dataclass(frozen=True)
class Checklist:
    items: tuple[Item, ...]
    checked_at: str
    duration_s: float
    plan: str

    @property
    def exit_code(self) -> int:
        return judge.exit_code(self.items)

    def item(self, key: str) -> Item:
        return next(i for i in self.items if i.key == key)

    def to_json(self) -> dict[str, Any]:
        counts = {v.value: sum(i.verdict is v for i in self.items) for v in judge.Verdict}
        return {
            "schema": JSON_SCHEMA,
            "plan": self.plan,
            "checked_at": self.checked_at,
            "duration_s": round(self.duration_s, 2),
            "exit_code": self.exit_code,
            "counts": counts,
            "items": [i.to_json() for i in self.items],
        }


def run_check(plan: Plan, *, say: Callable[[str], None] | None = None) -> Checklist:
    """Every item of the checklist for `plan`'s live cluster."""
    from hawizard.etcd.probe import cluster_health

    say = say or (lambda _line: None)
    start = time.monotonic()
    now = dt.datetime.now(dt.UTC)
    members, masters = plan.etcd_nodes, plan.control_plane_nodes
    workers = min(32, 4 + 3 * len(plan.nodes))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        health_f = pool.submit(cluster_health, plan)
        facts_f = {n.name: pool.submit(read_node, plan, n) for n in plan.nodes}
        metrics_f = {m.name: pool.submit(etcd_metrics, plan, m) for m in members}
        tls_f = {m.name: pool.submit(tls_probe, plan, m) for m in members}
        api_f = {m.name: pool.submit(apiserver_metrics, plan, m) for m in masters}
        targets_f = pool.submit(target_list, plan)
        balancer_f = pool.submit(_balancer, plan)
        exposure_f = pool.submit(_exposure, plan)
        found = find_backups(plan)
        say("waiting for the nodes")
        try:
            health = health_f.result()
        except Exception as exc:  # a failed probe round is an unknown, not a crash
            say(f"etcd probe failed: {exc}")
            health = None
        facts = {name: f.result() for name, f in facts_f.items()}
        metrics = {name: f.result() for name, f in metrics_f.items()}
        tls = {name: f.result() for name, f in tls_f.items()}
        api = {name: f.result() for name, f in api_f.items()}
        targets = targets_f.result()
        balancer = balancer_f.result()
        exposure = exposure_f.result()
    checked = (
        judge.etcd_topology(plan, health, facts, tls, _growth(plan, health)),
        judge.control_plane(plan, facts, balancer),
        judge.authentication(plan, facts),
        judge.certificates(health, served_rows(api, now)),
        judge.backups(plan, found, now, facts, _offsite(plan, now)),
        judge.monitoring(plan, metrics, api, targets, exposure),
        judge.logs(plan, facts),
        judge.patching(plan, facts),
        judge.clock(plan, facts),
        judge.image_scanning(plan),
        judge.network_policy(plan),
    )
    return Checklist(
        checked,
        now.isoformat(timespec="seconds"),
        time.monotonic() - start,
        str(plan.source) if plan.source else "",
    )


def _balancer(plan: Plan):
    """The live endpoint (VIP holder, haproxy and keepalived on each balancer node)."""
    if not plan.control_plane_nodes:
        return None
    from hawizard.balancer.probe import probe_balancer

    try:
        return probe_balancer(plan)
    except Exception:  # an unknown, never a crash of the check
        return None


def _exposure(plan: Plan):
    """Which metrics ports answer nodes that are not scrapers (`ops.metrics_exposure`)."""
    from hawizard.ops.metrics_exposure import probe_exposure

    try:
        return probe_exposure(plan)
    except Exception:  # an unknown, never a crash of the check
        return None


# --- nodes over SSH --------------------------------------------------------------------------


def read_node(plan: Plan, node: Node) -> NodeFacts:
    """The node's clock offset (one round trip), then the read-only facts script."""
    from hawizard.remote import Host, RemoteError, Timeouts

    facts = NodeFacts(node.name)
    timeouts = Timeouts(connect=5.0, banner=5.0, auth=5.0, command=UPDATES_TIMEOUT + 30.0)
    host = Host.from_plan(plan, node, timeouts=timeouts)
    try:
        host.connect()
        t0 = time.time()
        r = host.probe("date +%s.%N", sudo=False, timeout=10)
        t1 = time.time()
        try:
            facts.clock_offset_s = float(r.stdout.strip()) - (t0 + t1) / 2
            facts.clock_uncertainty_s = (t1 - t0) / 2
        except ValueError:
            pass
        out = host.probe(script(plan.etcd.data_dir), sudo=True, timeout=UPDATES_TIMEOUT + 30.0)
        facts.sections = sections(out.stdout)
        if not facts.sections:
            facts.error = f"no answer from the facts script (exit {out.exited})"
    except RemoteError as exc:
        facts.error = exc.message
    except OSError as exc:
        facts.error = str(exc) or type(exc).__name__
    finally:
        host.close()
    return facts


# --- HTTP ------------------------------------------------------------------------------------


def _http_get(
    host: str,
    port: int,
    path: str,
    *,
    context: ssl.SSLContext | None = None,
    peer: list[bytes] | None = None,
) -> tuple[int, str]:
    """GET with a timeout; `peer` receives the server's certificate (DER) over TLS."""
    cls = http.client.HTTPSConnection if context else http.client.HTTPConnection
    kwargs: dict[str, Any] = {"timeout": HTTP_TIMEOUT}
    if context:
        kwargs["context"] = context
    conn = cls(host, port, **kwargs)
    try:
        conn.request("GET", path)
        if peer is not None and isinstance(conn.sock, ssl.SSLSocket):
            der = conn.sock.getpeercert(binary_form=True)
            if der:
                peer.append(der)
        resp = conn.getresponse()
        return resp.status, resp.read(4 << 20).decode(errors="replace")
    finally:
        conn.close()


def _why(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer within {HTTP_TIMEOUT:g} s"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def etcd_metrics(plan: Plan, member: Node) -> MetricsProbe:
    """The member's plain metrics listener, as Prometheus would scrape it."""
    try:
        status, body = _http_get(member.address, plan.etcd.metrics_port, "/metrics")
    except (OSError, http.client.HTTPException) as exc:
        return MetricsProbe(False, _why(exc))
    if status != 200:
        return MetricsProbe(False, f"HTTP {status}")
    for line in body.splitlines():
        if line.startswith("etcd_server_has_leader"):
            return MetricsProbe(True, line.strip())
    return MetricsProbe(False, "answered without etcd_server_has_leader")


def tls_probe(plan: Plan, member: Node) -> TLSProbe:
    """Handshake + request on the client and peer ports *without* a client certificate."""
    from hawizard.pki import paths

    try:
        ctx = ssl.create_default_context(cafile=str(paths(plan).etcd_ca.cert))
    except (OSError, ssl.SSLError) as exc:
        return TLSProbe(None, None, f"no etcd CA certificate: {exc}")
    ctx.check_hostname = False  # only client-cert enforcement is judged here

    def refused(port: int, path: str) -> bool | None:
        try:
            status, _ = _http_get(member.address, port, path, context=ctx)
        except ssl.SSLError:
            return True  # handshake failed: certificate required
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
            return True  # TLS 1.3: the server's alert arrives as a reset/close after finish
        except (OSError, http.client.HTTPException):
            return None
        return status in (401, 403) or False

    return TLSProbe(
        refused(plan.etcd.client_port, "/health"), refused(plan.etcd.peer_port, "/members")
    )


def apiserver_metrics(plan: Plan, node: Node) -> MetricsProbe:
    """GET /metrics with the monitoring certificate (never admin's)."""
    from hawizard.pki import monitoring_spec, paths

    spec = monitoring_spec(plan)
    if not spec.paths.cert.exists():
        return MetricsProbe(False, "no monitoring certificate ([monitoring] enabled = true)", True)
    try:
        ctx = ssl.create_default_context(cafile=str(paths(plan).kubernetes_ca.cert))
        ctx.load_cert_chain(str(spec.paths.cert), str(spec.paths.key))
    except (OSError, ssl.SSLError) as exc:
        return MetricsProbe(False, f"monitoring certificate unusable: {exc}", True)
    peer: list[bytes] = []
    try:
        status, body = _http_get(node.address, APISERVER_PORT, "/metrics", context=ctx, peer=peer)
    except ConnectionRefusedError:
        return MetricsProbe(False, "kube-apiserver not running", True)
    except (OSError, http.client.HTTPException) as exc:
        return MetricsProbe(False, _why(exc))
    served = _describe(peer[0]) if peer else None
    if status != 200:
        return MetricsProbe(
            False, f"HTTP {status} (is monitoring-rbac.yaml applied?)", served_cert=served
        )
    samples = sum(1 for ln in body.splitlines() if ln[:1] != "#")
    return MetricsProbe(True, f"{samples} samples", served_cert=served)


def _describe(der: bytes):
    from cryptography import x509

    from hawizard.pki import describe_certificate

    try:
        return describe_certificate(x509.load_der_x509_certificate(der))
    except ValueError:
        return None


def served_rows(api: dict[str, MetricsProbe], now: dt.datetime) -> list:
    """The apiservers' served certificates as `health.CertExpiry` rows for item 4."""
    from hawizard.health import CertExpiry

    rows = []
    for name, p in api.items():
        i = p.served_cert
        if i is not None:
            rows.append(
                CertExpiry(
                    f"{name} apiserver (served)",
                    "served",
                    i.common_name,
                    i.not_after,
                    i.days_left(now),
                    i.fingerprint_sha256,
                )
            )
    return rows


def target_list(plan: Plan) -> str | None:
    """Where Prometheus's targets are: the plan's Prometheus node, or an exported config."""
    node = plan.monitoring.prometheus_node
    if plan.monitoring.install and node:
        addr = plan.node(node).address
        try:
            status, body = _http_get(addr, PROMETHEUS_PORT, "/api/v1/targets?state=active")
            active = json.loads(body)["data"]["activeTargets"] if status == 200 else []
        except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError):
            active = None
        if active is not None:
            up = sum(t.get("health") == "up" for t in active)
            return f"Prometheus on {node}: {up}/{len(active)} targets up"
    exported = export_dir(plan) / "prometheus.yml"
    if exported.is_file():
        return f"{exported} (hawizard monitoring export)"
    return None


def export_dir(plan: Plan) -> Path:
    base = plan.source.parent if plan.source is not None else Path.cwd()
    return base / EXPORT_DIR


# --- backups ---------------------------------------------------------------------------------


def _offsite(plan: Plan, now) -> list:
    """Per `[backup] targets` entry, the newest copy's age (from the signed local records)."""
    from hawizard.etcd.backup import offsite_ages

    try:
        return offsite_ages(plan, now)
    except OSError:
        return []


def find_backups(plan: Plan) -> list[Backup]:
    """Snapshots in the folder `hawizard etcd snapshot` writes to by default, each verified
    against its record (sha256 of the file, revision read by etcdutl when it was taken).

    Small on purpose: when `hawizard etcd backup list` exists, this is what it replaces."""
    from hawizard.etcd import backup as scheduled
    from hawizard.etcd.backup_folder import is_regular
    from hawizard.etcd.snapshot import default_path
    from hawizard.pki.record_key import load_key, verify

    key = load_key(plan)
    folder = default_path(plan).parent
    found: list[Backup] = []
    for db in sorted(folder.glob("*.db")) if folder.is_dir() else []:
        if (info := is_regular(db)) is None:
            continue  # a FIFO or a symlink named like a snapshot: never read
        try:
            meta = scheduled.load_record(db)
            taken = dt.datetime.fromisoformat(meta["taken_at"])
            digest = hashlib.sha256()
            with db.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            verified = (
                verify(key, meta) == "ok"
                and digest.hexdigest() == meta.get("sha256")
                and meta.get("revision") is not None
            )
            found.append(Backup(db, taken, verified, meta.get("revision")))
        except (OSError, ValueError, KeyError, TypeError):
            mtime = dt.datetime.fromtimestamp(info.st_mtime, dt.UTC)
            found.append(Backup(db, mtime, False))
    # and the scheduled backups (`hawizard etcd backup`), verified by the run that took them
    for x in scheduled.backups(scheduled.plan_folder(plan), plan.cluster.name, key):
        found.append(Backup(x.path, x.taken_at, x.verified, x.meta.get("revision")))
    return found


def _growth(plan: Plan, health: Any) -> Any:
    """The in-use size's trend across the maintenance runs' readings (kept in the record
    beside the plan, one per `etcd defrag` run, daily with the timer) and this check's own:
    a `hawizard.forecast.QuotaForecast`, or None when it says nothing trustworthy."""
    from hawizard.forecast import quota_forecast
    from hawizard.ops.maintenance import in_use_readings

    if plan.source is None or health is None:
        return None
    now = [m.db_size_in_use for m in health.members if m.in_plan and m.db_size_in_use]
    series = in_use_readings(plan.source)
    if now:
        series.append((health.checked_at.timestamp(), float(max(now))))
    return quota_forecast(series, plan.etcd.quota_backend_bytes)
