"""The cluster health model: one honest answer to "how is this etcd cluster right now?".

Pure data, no network: `build()` turns raw probe answers (`ProbeResult`, filled in by
`hawizard.etcd.probe`) plus the local PKI's certificates into one `ClusterHealth`. The
dashboard, `hawizard status`, the rollout's wait and every day-2 safety check read this model,
so they can never disagree about what "healthy" or "tolerates one more failure" means.

Rules, in one place:
- a member is *healthy* when it answered `/health` with `"health": "true"`; a learner is
  healthy when it answered its status without errors (learners refuse the quorum read behind
  `/health`);
- voters are the non-learner members of the member list (the leader's list when there is one),
  falling back to the plan's etcd nodes when no member answered at all;
- quorum is `quorum(voters)`; `tolerates` is how many more healthy voters may fail before
  quorum is lost (0 when it is already lost);
- state: QUORUM_LOST without quorum, else DEGRADED when anything is listed in `problems`
  (a member down, a leader or cluster-id disagreement, a member in the cluster but not in the
  plan, a served certificate that is not the member's own, an expired cert), else HEALTHY.
  A planned node that is not a member yet is a warning (with the `etcd add` command), not a
  problem: the cluster itself is fine, though not `converged`.

`ClusterHealth.to_json()` is the stable, documented JSON (see its docstring).
"""

from __future__ import annotations

from hawizard.health.build import build, hex_id
from hawizard.health.model import (
    BACKEND_QUOTA_BYTES,
    JSON_SCHEMA,
    QUOTA_WARN_PCT,
    CertExpiry,
    ClusterHealth,
    MemberHealth,
    MemberState,
    ProbePath,
    ProbeResult,
    State,
)

__all__ = [
    "BACKEND_QUOTA_BYTES",
    "JSON_SCHEMA",
    "QUOTA_WARN_PCT",
    "CertExpiry",
    "ClusterHealth",
    "MemberHealth",
    "MemberState",
    "ProbePath",
    "ProbeResult",
    "State",
    "build",
    "hex_id",
]
