"""`etcd.quota_backend_bytes` and the defragmentation's limits: defaults, round trip, and each
bad value refused with a message that names the field and the fix."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hawizard import plan as P
from hawizard.plan import Severity


def plan(**etcd) -> P.Plan:
    nodes = tuple(P.Node(f"infra{i}", f"10.1.2.{11 + i}") for i in range(3))
    return P.Plan(
        nodes=nodes,
        cluster=P.Cluster(name="prod", control_plane_endpoint="10.1.2.10:6443"),
        etcd=P.EtcdSettings(**etcd),
    )


def errors(p: P.Plan) -> list[P.Problem]:
    return [x for x in P.validate(p) if x.severity is Severity.ERROR]


def test_default_is_etcds_own_2_gib_and_not_written_out():
    p = plan()
    assert p.etcd.quota_backend_bytes == 2 * 1024**3 == P.DEFAULT_QUOTA_BACKEND_BYTES
    text = P.dumps(p)
    # a plan that leaves them alone reads the same as before the settings existed
    assert "quota_backend_bytes" not in text and "defrag_" not in text
    assert errors(p) == []


def test_a_set_quota_round_trips():
    p = plan(quota_backend_bytes=48 * 1024**2, defrag_keep_revisions=10, defrag_max_write_ms=250)
    text = P.dumps(p)
    assert f"quota_backend_bytes = {48 * 1024**2}" in text
    assert P.loads(text) == p


@pytest.mark.parametrize(
    "value, words",
    [
        (0, "positive"),
        (-1, "positive"),
        (9 * 1024**3, "8 GiB"),
        (1024, "16 MiB"),
    ],
)
def test_bad_quota_names_the_field_and_the_fix(value, words):
    found = [
        e for e in errors(plan(quota_backend_bytes=value)) if e.field == "etcd.quota_backend_bytes"
    ]
    assert len(found) == 1, found
    assert words in found[0].message
    assert "2 GiB" in found[0].message  # the fix: etcd's default


def test_the_recommended_maximum_is_accepted():
    assert errors(plan(quota_backend_bytes=P.MAX_QUOTA_BACKEND_BYTES)) == []


def test_quota_must_be_an_integer_in_the_file():
    text = P.dumps(plan()).replace("[etcd]\n", '[etcd]\nquota_backend_bytes = "2GiB"\n', 1)
    with pytest.raises(P.PlanError) as info:
        P.loads(text, "plan.toml")
    found = [p for p in info.value.problems if p.field == "etcd.quota_backend_bytes"]
    assert found and "integer" in found[0].message


@pytest.mark.parametrize(
    "field, value",
    [("defrag_keep_revisions", -1), ("defrag_max_write_ms", 0), ("defrag_max_write_ms", 10**6)],
)
def test_bad_defrag_limits_are_refused(field, value):
    found = [e for e in errors(plan(**{field: value})) if e.field == f"etcd.{field}"]
    assert len(found) == 1 and "default" in found[0].message


def test_quota_shown_against_the_plans_quota():
    from hawizard.health import ProbeResult, build

    p = replace(plan(quota_backend_bytes=64 * 1024**2))
    r = ProbeResult(
        "infra0",
        "https://10.1.2.11:2379",
        "10.1.2.11",
        connected=True,
        status={"dbSize": str(32 * 1024**2), "header": {"member_id": "1"}, "leader": "1"},
        health={"health": "true"},
    )
    h = build(p, [r])
    assert h.member("infra0").db_quota_pct == 50.0


# --- [maintenance]: the schedule and the defragmentation thresholds ------------------------


def with_maintenance(**settings) -> P.Plan:
    return replace(plan(), maintenance=P.MaintenanceSettings(**settings))


def test_maintenance_is_absent_by_default_and_round_trips_when_set():
    assert "[maintenance]" not in P.dumps(plan())
    p = with_maintenance(every="Sun *-*-* 03:00:00", defrag_above_mb=200, defrag_in_use_below=0.4)
    text = P.dumps(p)
    assert "[maintenance]" in text and 'every = "Sun *-*-* 03:00:00"' in text
    assert P.loads(text) == p
    assert errors(p) == []


@pytest.mark.parametrize(
    "every", ["daily", "weekly", "hourly", "*-*-* 02:30:00", "Mon..Fri 03:00", "Sat,Sun 4:00"]
)
def test_calendar_expressions_accepted(every):
    assert errors(with_maintenance(every=every)) == []


@pytest.mark.parametrize(
    "every, words",
    [
        ("daily\n", "not a systemd calendar expression"),
        ("every day", "not a systemd calendar expression"),
        ("%h", "not a systemd calendar expression"),
        ('daily"\nExecStart=/bin/sh', "not a systemd calendar expression"),
        ("Sun", "names days but no time"),
        ("*-*-* " + "0" * 70, "not a systemd calendar expression"),
    ],
)
def test_bad_calendar_named_with_an_example(every, words):
    found = errors(with_maintenance(every=every))
    mine = [x for x in found if x.field == "maintenance.every" and "calendar" in x.message]
    mine += [x for x in found if x.field == "maintenance.every" and "no time" in x.message]
    assert len(mine) == 1  # (a control character is named once more by the generic string check)
    assert words in mine[0].message and "Sun *-*-* 03:00:00" in mine[0].message


@pytest.mark.parametrize(
    "settings, field, words",
    [
        ({"defrag_above_mb": 0}, "maintenance.defrag_above_mb", "1-8192"),
        ({"defrag_above_mb": 9000}, "maintenance.defrag_above_mb", "1-8192"),
        ({"defrag_in_use_below": 0.0}, "maintenance.defrag_in_use_below", "0.05 and 0.95"),
        ({"defrag_in_use_below": 1.5}, "maintenance.defrag_in_use_below", "e.g. 0.5"),
        ({"defrag_in_use_below": float("nan")}, "maintenance.defrag_in_use_below", "share"),
    ],
)
def test_bad_thresholds_name_the_field_and_the_fix(settings, field, words):
    (problem,) = errors(with_maintenance(**settings))
    assert problem.field == field and words in problem.message


def test_a_wrong_type_in_the_toml_is_refused_naming_the_field():
    text = P.dumps(plan()) + '\n[maintenance]\ndefrag_above_mb = "lots"\n'
    with pytest.raises(P.PlanError) as exc:
        P.loads(text)
    assert "maintenance.defrag_above_mb" in str(exc.value)
