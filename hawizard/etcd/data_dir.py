"""Whose data is this? The member and cluster IDs an etcd data dir was written for.

Every WAL file etcd writes starts with a CRC record and then a metadata record holding the
member's ID and the cluster's ID (`etcdserverpb.Metadata{NodeID, ClusterID}`). Reading that
record tells a stale data dir of a member *this* cluster removed (safe to set aside, renamed,
when the node joins again) from another cluster's data (never touched). Only the first few
hundred bytes of one WAL file are read, over SSH with coreutils; nothing needs etcd on the node.

WAL framing (etcd `wal/encoder.go`): an 8-byte little-endian length field whose low 56 bits
are the record's length and whose top byte, when bit 7 is set, holds the padding (0-7 bytes
after the record, to 8-byte alignment); then a `walpb.Record{type=1, crc=2, data=3}`.
"""

from __future__ import annotations

import base64
import binascii
import shlex
from dataclasses import dataclass

HEAD_BYTES = 512  # the CRC and metadata records are well inside this
_METADATA = 1  # walpb record types: metadataType = 1, crcType = 4
_CRC = 4


@dataclass(frozen=True)
class DataOwner:
    """The member and the cluster a data dir belongs to (hex, as etcdctl prints IDs)."""

    member_id: str
    cluster_id: str


def head_script(data_dir: str) -> str:
    """Shell that prints `wal=<base64 of the first WAL file's head>` when there is one."""
    wal = shlex.quote(data_dir.rstrip("/") + "/member/wal")
    return (
        f"f=$(ls -1 {wal}/*.wal 2>/dev/null | head -n 1); "
        f'[ -n "$f" ] && echo "wal=$(head -c {HEAD_BYTES} "$f" | base64 -w0)"; true'
    )


def owner_from_script_output(text: str) -> DataOwner | None:
    for line in text.splitlines():
        if line.startswith("wal="):
            try:
                return parse_wal_head(base64.b64decode(line[4:], validate=True))
            except (binascii.Error, ValueError):
                return None
    return None


def parse_wal_head(head: bytes) -> DataOwner | None:
    """The owner from the start of a WAL file; None when it is not one etcd wrote."""
    try:
        return _owner(head)
    except ValueError:
        return None


def _owner(head: bytes) -> DataOwner | None:
    pos = 0
    for _ in range(4):  # the metadata record is the first or second one
        if pos + 8 > len(head):
            return None
        field = int.from_bytes(head[pos : pos + 8], "little")
        length = field & ((1 << 56) - 1)
        pad = (field >> 56) & 0x7 if field >> 63 else 0
        start, end = pos + 8, pos + 8 + length
        if end > len(head) or length == 0:
            return None
        record = _fields(head[start:end])
        kind = record.get(1, 0)
        if kind == _METADATA and isinstance(record.get(3), bytes):
            meta = _fields(record[3])
            member, cluster = meta.get(1), meta.get(2)
            if isinstance(member, int) and isinstance(cluster, int) and member and cluster:
                return DataOwner(f"{member:x}", f"{cluster:x}")
            return None
        if kind != _CRC:
            return None
        pos = end + pad
    return None


def _fields(buf: bytes) -> dict[int, int | bytes]:
    """A flat protobuf message: field number -> varint or bytes (the last one wins)."""
    out: dict[int, int | bytes] = {}
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            out[number], pos = _varint(buf, pos)
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ValueError("truncated field")
            out[number], pos = buf[pos : pos + size], pos + size
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
