"""Health probes: ask every etcd member directly, over HTTPS, how it is doing.

From the operator's machine, with the operator's client certificate (`etcd-admin`) and the
etcd CA, one TLS connection per member carries three calls of etcd's JSON gateway:
`POST /v3/maintenance/status` (local facts: id, leader, raft term/index, DB size; its time
is the member's round trip), `POST /v3/cluster/member/list`, and `GET /health` (last: it needs
a quorum read, so it is the call that hangs on a sick member).

All members are probed at once; each gets one *total* deadline (connect + handshake + the
three calls), so a blackholed member costs its timeout, not three, and never delays the
others. The round also waits at most timeout + a short grace, then gives up on any straggler
and shuts its socket. The certificate each member serves is captured in the handshake (even
when it fails verification), so a stale or swapped cert shows up in `ClusterHealth`.

Optionally (`SshMode.FALLBACK`, `hawizard status --ssh-fallback`), a member the direct path
cannot reach is tried again through an SSH tunnel to its own host (`ssh_connector`); its row
then says `path = ssh`. TLS, the client cert and the three calls are the same on either path.

Only the standard library talks to the etcd members: `ssl` + `gateway_http` (paramiko only
carries the bytes on the SSH path).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import replace
from enum import StrEnum

# The probe of one member (`probe_member`) and its SSH path (`probe_tunnel`) live beside this
# module; their names stay importable from here, where every caller looks for them.
from hawizard.etcd.probe_member import (  # noqa: F401
    MAX_BODY,
    ROUND_GRACE,
    ClientTLS,
    Connector,
    Deadline,
    Target,
    TunnelError,
    _Handle,
    connect_direct,
    probe_member,
    targets,
)
from hawizard.etcd.probe_tunnel import ssh_connector
from hawizard.health import ClusterHealth, ProbePath, ProbeResult, build
from hawizard.pki import (
    CertInfo,
    ca_specs,
    describe_certificate,
    leaf_specs,
    load_certificate,
)
from hawizard.pki import paths as pki_paths
from hawizard.plan import Plan

# --- a round ----------------------------------------------------------------------------------


class SshMode(StrEnum):
    """When to use the SSH path: never, for members the direct path cannot reach, always."""

    OFF = "off"
    FALLBACK = "fallback"
    ALWAYS = "always"


def probe_round(
    members: Sequence[Target],
    tls: ClientTLS,
    timeout: float = 2.0,
    *,
    ssh: Connector | None = None,
    ssh_mode: SshMode = SshMode.OFF,
) -> list[ProbeResult]:
    """Probe every member concurrently; returns in the order given.

    Direct only, the round takes at most timeout + 0.5 s. With `ssh_mode` FALLBACK, members
    the direct path could not connect to at all (refused, no route, no TCP/TLS handshake in
    time) are tried again through `ssh`, concurrently, with a fresh timeout: such a member
    may cost up to twice its timeout. ALWAYS uses only the SSH path.
    """
    if not members:
        return []
    ctx = tls.context()
    unverified = tls.context(verify=False)
    if ssh_mode is SshMode.ALWAYS and ssh is not None:
        return _concurrently(members, ctx, unverified, timeout, ssh, ProbePath.SSH)
    results = _concurrently(members, ctx, unverified, timeout, connect_direct, ProbePath.DIRECT)
    if ssh_mode is SshMode.FALLBACK and ssh is not None:
        retry = [i for i, r in enumerate(results) if not r.connected and r.served_cert is None]
        if retry:
            again = _concurrently(
                [members[i] for i in retry], ctx, unverified, timeout, ssh, ProbePath.SSH
            )
            for i, r in zip(retry, again, strict=True):
                if r.connected or r.served_cert is not None:
                    results[i] = r
                else:
                    results[i] = replace(
                        results[i], error=f"{results[i].error}; over SSH: {r.error}"
                    )
    return results


def _concurrently(
    members: Sequence[Target],
    ctx: ssl.SSLContext,
    unverified: ssl.SSLContext,
    timeout: float,
    connect: Connector,
    path: ProbePath,
) -> list[ProbeResult]:
    handles = [_Handle() for _ in members]
    pool = ThreadPoolExecutor(max_workers=len(members), thread_name_prefix="etcd-probe")
    try:
        futures = [
            pool.submit(
                probe_member,
                t,
                ctx,
                timeout,
                unverified_ctx=unverified,
                handle=h,
                connect=connect,
                path=path,
            )
            for t, h in zip(members, handles, strict=True)
        ]
        done, _ = wait(futures, timeout=timeout + ROUND_GRACE)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    results = []
    for target, future, handle in zip(members, futures, handles, strict=True):
        if future in done:
            results.append(future.result())
        else:
            handle.abort()
            results.append(
                ProbeResult(
                    target.name,
                    target.endpoint,
                    target.host,
                    path=path,
                    elapsed_s=timeout + ROUND_GRACE,
                    error=f"no answer within {timeout:g}s",
                )
            )
    return results


# --- the cluster ------------------------------------------------------------------------------


def local_certificates(plan: Plan) -> tuple[dict[str, CertInfo], dict[str, CertInfo]]:
    """(every readable cert of the local PKI by PKI name, member name -> its server cert)."""
    layout = pki_paths(plan)
    server_of = {layout.etcd_server(n).cert: n.name for n in plan.etcd_nodes}
    local: dict[str, CertInfo] = {}
    served: dict[str, CertInfo] = {}
    for spec in (*ca_specs(plan).values(), *leaf_specs(plan)):
        try:
            info = describe_certificate(load_certificate(spec.paths.cert))
        except (OSError, ValueError):
            continue  # missing or broken: `hawizard certs check` is the place to say so
        local[spec.name] = info
        if spec.paths.cert in server_of:
            served[server_of[spec.paths.cert]] = info
    return local, served


def cluster_health(
    plan: Plan,
    timeout: float | None = None,
    *,
    tls: ClientTLS | None = None,
    ssh: SshMode = SshMode.OFF,
) -> ClusterHealth:
    """One probe round against every etcd node of the plan, judged into a `ClusterHealth`.

    `timeout` bounds each member (default `plan.etcd.probe_timeout`); the whole call takes
    at most about timeout + 0.5 s however many members are down (twice that for members
    retried over SSH with `ssh=SshMode.FALLBACK`). Each member row says which path answered.
    """
    timeout = plan.etcd.probe_timeout if timeout is None else timeout
    start = time.monotonic()
    connector = ssh_connector(plan) if ssh is not SshMode.OFF else None
    # the local PKI is read while the members answer: the files cost about as much as a round
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-certs") as pool:
        certs = pool.submit(local_certificates, plan)
        results = probe_round(
            targets(plan), tls or ClientTLS.for_plan(plan), timeout, ssh=connector, ssh_mode=ssh
        )
        local, expected = certs.result()
    return build(plan, results, local, expected, duration_s=time.monotonic() - start)


class ClusterNotHealthy(Exception):
    """`wait_healthy` gave up; `health` is the last round, `reason` says what was missing."""

    def __init__(self, reason: str, health: ClusterHealth) -> None:
        super().__init__(reason)
        self.reason = reason
        self.health = health


def wait_healthy(
    plan: Plan,
    timeout: float = 60.0,
    interval: float = 1.0,
    *,
    probe_timeout: float | None = None,
    on_round: Callable[[ClusterHealth], None] | None = None,
    tls: ClientTLS | None = None,
    ssh: SshMode = SshMode.OFF,
) -> ClusterHealth:
    """Poll until `ClusterHealth.converged` (every plan member healthy, one agreed leader,
    nobody unexpected), then return that health; raise `ClusterNotHealthy` after `timeout`.

    `on_round` sees every round (progress output). Rounds never overlap; the last round
    starts no later than `timeout`, so the call returns within about timeout + probe_timeout.
    """
    probe_timeout = plan.etcd.probe_timeout if probe_timeout is None else probe_timeout
    tls = tls or ClientTLS.for_plan(plan)
    deadline = time.monotonic() + timeout
    while True:
        health = cluster_health(plan, probe_timeout, tls=tls, ssh=ssh)
        if on_round is not None:
            on_round(health)
        if health.converged:
            return health
        left = deadline - time.monotonic()
        if left <= 0:
            raise ClusterNotHealthy(why_not_healthy(health, timeout), health)
        time.sleep(min(interval, left))


def why_not_healthy(health: ClusterHealth, timeout: float) -> str:
    findings = list(health.problems) or ["no member reports a leader"]
    return f"etcd is not healthy after {timeout:g}s ({health.summary}): " + "; ".join(findings[:5])
