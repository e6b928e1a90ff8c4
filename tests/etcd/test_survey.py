"""The survey's parsers and the survivor's choice, without a node.

The WAL bytes here are framed as etcd's `wal/encoder.go` frames them (length field with the
padding in the top byte, `walpb.Record{type, crc, data}`); the lab test reads real WAL files.
"""

from __future__ import annotations

import base64
import gzip
import json

from hawizard.etcd.survey import NodeSurvey, WalState, choose, parse_survey, parse_wal


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _msg(**fields: int | bytes) -> bytes:
    out = b""
    for number, value in fields.items():
        num = int(number[1:])
        if isinstance(value, bytes):
            out += _varint(num << 3 | 2) + _varint(len(value)) + value
        else:
            out += _varint(num << 3) + _varint(value)
    return out


def _frame(kind: int, data: bytes) -> bytes:
    rec = _msg(f1=kind, f2=12345, f3=data)
    pad = (8 - len(rec) % 8) % 8
    field = len(rec) | ((0x80 | pad) << 56 if pad else 0)
    return field.to_bytes(8, "little") + rec + b"\0" * pad


def wal(member: int, cluster: int, states: list[tuple[int, int, int]]) -> bytes:
    raw = _frame(4, _msg(f1=0)) + _frame(1, _msg(f1=member, f2=cluster))
    for term, vote, commit in states:
        raw += _frame(2, _msg(f2=term, f3=commit))  # an entry: skipped
        raw += _frame(5, _msg(f1=commit + 100, f2=term))  # a snapshot record: not a state
        raw += _frame(3, _msg(f1=term, f2=vote, f3=commit))
    return raw + b"\0" * 4096  # the preallocated tail


def test_parse_wal_reads_the_last_hard_state():
    got = parse_wal(wal(0xA1, 0xC1, [(2, 0xA1, 10), (3, 0xB2, 57)]))
    assert got == WalState("a1", "c1", 3, "b2", 57)


def test_parse_wal_stops_at_a_torn_record():
    whole = wal(0xA1, 0xC1, [(2, 0, 10), (2, 0, 11)])[:-4096]
    torn = whole[:-10]  # the last state record cut short, as a crash mid-write leaves it
    assert parse_wal(whole).commit == 11
    got = parse_wal(torn)
    assert got is not None and got.member_id == "a1" and got.commit == 10


def test_parse_wal_refuses_what_is_not_a_wal():
    assert parse_wal(b"") is None
    assert parse_wal(b"not a wal file at all, just text") is None


def test_parse_survey_from_the_script_output():
    blob = base64.b64encode(gzip.compress(wal(0xA1, 0xC1, [(4, 0, 99)]))).decode()
    status = json.dumps({"hash": 1, "revision": 512, "totalKey": 3, "totalSize": 4096})
    s = parse_survey("n1", f"data=1\nactive=inactive\nwal={blob}\nstatus={status}\n")
    assert s.usable and s.revision == 512 and s.wal.commit == 99
    assert "commit 99" in s.describe() and "revision 512" in s.describe()
    empty = parse_survey("n2", "data=0\nactive=failed\n")
    assert not empty.usable and "no data dir" in empty.describe()
    bad = parse_survey("n3", "data=1\nactive=inactive\nwal=@@@\nstatus=Error: bad\n")
    assert not bad.usable and bad.revision is None and bad.problem


def _s(name: str, commit: int, term: int = 5, member: str = "", vote: str = "") -> NodeSurvey:
    w = WalState(member or name, "c1", term, vote, commit)
    return NodeSurvey(name, True, True, "inactive", w, commit)


def test_choose_the_highest_commit_then_term_then_the_last_leader():
    order = ["n1", "n2", "n3"]
    assert choose([_s("n1", 10), _s("n2", 12), _s("n3", 11)], order).name == "n2"
    assert choose([_s("n1", 12, 4), _s("n2", 12, 5)], order).name == "n2"
    # same commit and term: the member the others voted for led last
    tied = [_s("n1", 12, vote="n3"), _s("n2", 12, vote="n3"), _s("n3", 12, vote="n3")]
    assert choose(tied, order).name == "n3"
    # nothing else to go by: plan order
    assert choose([_s("n2", 12), _s("n1", 12)], order).name == "n1"
    assert choose([NodeSurvey("n1", True), NodeSurvey("n2", False)], order) is None
