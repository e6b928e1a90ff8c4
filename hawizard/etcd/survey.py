"""What each etcd node's data dir holds, read without starting etcd as a member.

After a quorum loss the best survivor is the member whose data goes furthest. Each node is
surveyed over SSH, whether etcd runs there or not:

- **member and cluster ID, raft term and committed index** from the newest WAL file: it
  starts with a metadata record (`Metadata{NodeID, ClusterID}`) and every `HardState{Term,
  Vote, Commit}` etcd saves is a `stateType` record after it (a new WAL file starts with the
  current one), so the last state record in the newest file is the last commit the member
  knew of. The file (64 MiB preallocated, mostly zeros) travels gzip-compressed and is parsed
  here (`parse_wal`); nothing on the node needs more than coreutils and gzip. etcd 3.5 ships
  no `etcd-dump-logs` in its release, and `etcdutl` has no WAL reader, hence the parser.
- **the revision** from `etcdutl snapshot status` (etcd 3.4: `etcdctl snapshot status`) on a
  private *copy* of `member/snap/db` (a running etcd holds the file's lock).

The choice (`choose`): the highest committed index, then the highest term; a tie goes to the
member most of the surveyed members last voted for (the last leader), then to plan order.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import shlex
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from hawizard.etcd.data_dir import _fields

__all__ = ["NodeSurvey", "WalState", "choose", "parse_survey", "parse_wal", "survey_script"]

_METADATA, _STATE, _CRC = 1, 3, 4  # wal.go: metadata 1, entry 2, state 3, crc 4, snapshot 5


@dataclass(frozen=True)
class WalState:
    """What the newest WAL file says: IDs in hex, as etcdctl prints them."""

    member_id: str
    cluster_id: str
    term: int
    vote: str  # hex member ID this member voted for in `term` ("" when none)
    commit: int


def parse_wal(raw: bytes) -> WalState | None:
    """The metadata and the last HardState of one WAL file; None when it holds neither.
    Stops at the first zero length (the preallocated tail) or a torn record."""
    pos = 0
    member = cluster = ""
    term = commit = vote = 0
    while pos + 8 <= len(raw):
        field = int.from_bytes(raw[pos : pos + 8], "little")
        length = field & ((1 << 56) - 1)
        pad = (field >> 56) & 0x7 if field >> 63 else 0
        start, end = pos + 8, pos + 8 + length
        if length == 0 or end > len(raw):
            break
        try:
            record = _fields(raw[start:end])
            kind, data = record.get(1, 0), record.get(3)
            if kind == _METADATA and isinstance(data, bytes):
                meta = _fields(data)
                m, c = meta.get(1), meta.get(2)
                if isinstance(m, int) and isinstance(c, int):
                    member, cluster = f"{m:x}", f"{c:x}"
            elif kind == _STATE and isinstance(data, bytes):
                state = _fields(data)
                t, v, cm = state.get(1, 0), state.get(2, 0), state.get(3, 0)
                if isinstance(t, int) and isinstance(cm, int) and cm >= commit:
                    term, commit = t, cm
                    vote = v if isinstance(v, int) else 0
        except ValueError:
            break
        pos = end + pad
    if not member:
        return None
    return WalState(member, cluster, term, f"{vote:x}" if vote else "", commit)


def survey_script(data_dir: str, etcdutl: str, etcdctl: str) -> str:
    """Shell (run with sudo) printing `key=value` lines: data, active, wal (gzip+base64 of
    the newest WAL file), status (the db copy's `snapshot status -w json`)."""
    q = shlex.quote
    d = data_dir.rstrip("/")
    wal, db = q(d + "/member/wal"), q(d + "/member/snap/db")
    return (
        f"if [ -d {wal} ]; then echo data=1; else echo data=0; fi; "
        "echo active=$(systemctl is-active etcd 2>/dev/null); "
        f"f=$(ls -1 {wal}/*.wal 2>/dev/null | tail -n 1); "
        '[ -n "$f" ] && echo "wal=$(gzip -c "$f" | base64 -w0)"; '
        f'if [ -f {db} ]; then t=$(mktemp -d) && cp {db} "$t/db" && '
        f'if [ -x {q(etcdutl)} ]; then s=$({q(etcdutl)} snapshot status "$t/db" -w json 2>&1); '
        f'else s=$(ETCDCTL_API=3 {q(etcdctl)} snapshot status "$t/db" -w json 2>&1); fi; '
        'echo "status=$(echo "$s" | tr -d \'\\n\')"; rm -rf -- "$t"; fi; true'
    )


@dataclass
class NodeSurvey:
    """One node's answer. `reached` False: SSH failed (`problem` says why)."""

    name: str
    reached: bool
    has_data: bool = False
    active: str = ""
    wal: WalState | None = None
    revision: int | None = None
    problem: str = ""

    @property
    def usable(self) -> bool:
        return self.reached and self.has_data and self.wal is not None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["usable"] = self.usable
        return out

    def describe(self) -> str:
        if not self.reached:
            return f"{self.name}: not reachable ({self.problem})"
        if not self.has_data:
            return f"{self.name}: no data dir (etcd {self.active or 'unknown'})"
        if self.wal is None:
            return f"{self.name}: a data dir without a readable WAL ({self.problem or '?'})"
        w = self.wal
        rev = "?" if self.revision is None else str(self.revision)
        return (
            f"{self.name}: member {w.member_id} of cluster {w.cluster_id} · commit {w.commit} "
            f"term {w.term} · revision {rev} · etcd {self.active or 'unknown'}"
        )


def parse_survey(name: str, out: str) -> NodeSurvey:
    facts = dict(line.partition("=")[::2] for line in out.splitlines() if "=" in line)
    s = NodeSurvey(name, True, facts.get("data") == "1", facts.get("active", "").strip())
    if facts.get("wal"):
        try:
            s.wal = parse_wal(gzip.decompress(base64.b64decode(facts["wal"], validate=True)))
        except (binascii.Error, OSError, EOFError, ValueError) as exc:
            s.problem = f"WAL unreadable: {exc}"
    if facts.get("status"):
        try:
            s.revision = int(json.loads(facts["status"])["revision"])
        except (ValueError, KeyError, TypeError):
            s.problem = s.problem or f"snapshot status: {facts['status'][:200]}"
    return s


def choose(surveys: list[NodeSurvey], order: list[str]) -> NodeSurvey | None:
    """The survivor: highest commit, then term; ties to the last leader (the member most
    surveyed members voted for), then plan order. None when nobody has usable data."""
    usable = [s for s in surveys if s.usable]
    if not usable:
        return None
    votes = Counter(s.wal.vote for s in usable if s.wal and s.wal.vote)

    def rank(s: NodeSurvey) -> tuple[int, int, int, int]:
        assert s.wal is not None
        at = order.index(s.name) if s.name in order else len(order)
        return (s.wal.commit, s.wal.term, votes.get(s.wal.member_id, 0), -at)

    return max(usable, key=rank)
