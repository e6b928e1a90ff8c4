"""`hawizard lab prove` on a lab of its own: the self-test must fail naming the deleted key,
and every operation must lose nothing (planned ones: not a single failed request).

The faults inside operations (`OP@kill`, `OP@poweroff`) strike at a random moment, so they
are not a CI test: tests/bench/bench_prove.py runs them (`--ops ...,rotate-ca@kill`).
`recover` loses 2 of 3 members for real (quorum lost: failed writes are allowed, lost ones not).

One run, one lab bring-up: `--self-test --ops …` gives the self-test row first, then one row
per operation; the exit code is 1 because the self-test row is (rightly) not ok.
The lab is named after HAWIZARD_TEST_LAB with a `p` (default `hwtestp`).
"""

from __future__ import annotations

import json
import os

import pytest

from hawizard.cli import main
from hawizard.lab.preflight import lab_unavailable
from hawizard.lab.prove.operations import PLANNED

pytestmark = pytest.mark.lab

LAB = os.environ.get("HAWIZARD_TEST_LAB", "hwtest")[:11] + "p"
OPS = ("upgrade", "leader-loss", "defrag", "rotate-ca", "replace", "patch", "recover", "restore")


def test_prove_self_test_and_operations(capsys):
    reason = lab_unavailable()
    if reason:
        pytest.skip(f"lab tests skipped: {reason}")
    code = main(["lab", "prove", "--name", LAB, "--self-test", "--ops", ",".join(OPS), "--json"])
    rows = json.loads(capsys.readouterr().out)["ops"]
    assert code == 1  # the self-test row is not ok: the checker can fail
    self_test, *ops = rows
    assert self_test["op"] == "self-test" and self_test["lost"] == 1
    victim = self_test["lost_keys"][0]
    assert victim.startswith("/prove/r1/self-test/") and f"deleted {victim}" in self_test["note"]
    assert self_test["verdict"] == "LOST 1"
    assert [r["op"] for r in ops] == list(OPS)
    for r in ops:
        assert r["lost"] == 0 and r["lost_keys"] == [], r
        assert r["phantom_keys"] == [] and r["stale_keys"] == [], r
        assert r["acked"] > 50, r
        if r["op"] in PLANNED:
            assert r["failed"] == 0, r
        assert r["verdict"] == "ok", r
