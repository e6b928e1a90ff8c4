"""Whose data is this: member and cluster IDs read from a real etcd data dir's WAL."""

from __future__ import annotations

import base64
import json
import subprocess

from fixtures.local_etcd import LocalEtcd
from hypothesis import given
from hypothesis import strategies as st

from hawizard.etcd.data_dir import head_script, owner_from_script_output, parse_wal_head


def test_the_owner_of_a_real_data_dir_matches_what_etcdctl_says(tmp_path):
    with LocalEtcd(tmp_path / "a", members=1) as etcd:
        status = json.loads(etcd.etcdctl("endpoint", "status", "-w", "json").stdout)[0]
        header = status["Status"]["header"]
        data = etcd.base / "data" / "m1"
        script = head_script(str(data))
        out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    owner = owner_from_script_output(out.stdout)
    assert owner is not None
    assert owner.member_id == f"{header['member_id']:x}"
    assert owner.cluster_id == f"{header['cluster_id']:x}"


def test_no_wal_and_garbage_give_no_owner(tmp_path):
    script = head_script(str(tmp_path / "nothing"))
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout == "" and owner_from_script_output(out.stdout) is None
    assert owner_from_script_output("wal=not-base64!") is None
    assert owner_from_script_output("wal=" + base64.b64encode(b"\x00" * 64).decode()) is None


@given(st.binary(max_size=600))
def test_any_bytes_parse_to_an_owner_or_none_never_an_exception(head):
    owner = parse_wal_head(head)
    assert owner is None or (owner.member_id and owner.cluster_id)
