"""`hawizard etcd backup drill`: prove that the newest off-site backup restores (issue 28).

The drill takes the NEWEST backup on the target — by the time in its name, whatever its
record says; if that one is broken the drill fails naming it, it never falls back silently to
an older one — then checks, in order: its record's signature, the stored file's sha256, the
age decryption (`--identity`), the plaintext's sha256, `etcdutl snapshot status` (revision,
hash, key total against the record), and finally a throwaway one-member etcd (unix
sockets in a 0700 folder) restored from it (`etcd.throwaway`): it must answer at the
recorded revision with the key count recorded at snapshot time. The RTO reported is the
wall time from the start of the fetch to the first answered read of the restored member.

It changes nothing in the cluster; it runs under the plan lock (`operation.held`) so it never
races a backup run's retention removing the file it fetches.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hawizard.etcd import offsite
from hawizard.etcd.offsite_targets import StoreError, open_store
from hawizard.etcd.restore import BadSnapshot, _etcdutl_status
from hawizard.etcd.throwaway import ThrowawayFailed, restored
from hawizard.ops.refusal import Refused
from hawizard.pki.record_key import load_key
from hawizard.plan import Plan
from hawizard.plan.backup_targets import BadTarget

__all__ = ["DrillFailed", "DrillReport", "last_drill", "run_drill", "target_listing"]


class DrillFailed(Exception):
    """The newest backup did not prove itself; the message names the file and the check."""


@dataclass
class DrillReport:
    target: str
    file: str
    revision: int
    keys: int
    rto_s: float
    restore_s: float
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": True,
            "target": self.target,
            "file": self.file,
            "revision": self.revision,
            "keys": self.keys,
            "rto_s": round(self.rto_s, 2),
            "restore_s": round(self.restore_s, 2),
            "warnings": self.warnings,
        }


def run_drill(
    plan: Plan,
    target: str | None = None,
    identity: Path | None = None,
    *,
    say: Callable[[str], None] | None = None,
) -> DrillReport:
    say = say or (lambda line: None)
    if not plan.backup.targets:
        raise Refused("[backup] targets is empty", 'add one, e.g. targets = ["local:/srv/etcd"]')
    target = target or plan.backup.targets[0]
    if target not in plan.backup.targets:
        raise Refused(
            f"--target {target!r} is not one of [backup] targets",
            "give one of: " + ", ".join(plan.backup.targets),
        )
    identities = offsite.load_identities(identity) if identity else None
    try:
        report = _drill(plan, target, identities, say)
    except DrillFailed as exc:
        _record(plan, ok=False, target=target, file="", rto_s=None, error=str(exc))
        raise
    _record(plan, ok=True, target=target, file=report.file, rto_s=report.rto_s, error="")
    return report


def _record(plan: Plan, **outcome: Any) -> None:
    """The outcome beside the backups, for `status`, the dashboard and `backup list`."""
    from hawizard.etcd.backup import plan_folder
    from hawizard.etcd.drill_record import record_drill
    from hawizard.ops.backup import safe_folder
    from hawizard.pki.record_key import ensure_key

    try:
        safe_folder(plan_folder(plan))
        record_drill(plan, ensure_key(plan), **outcome)
    except (OSError, Refused):
        pass  # the drill's verdict stands; only its note for the dashboard is missing


def _drill(
    plan: Plan, target: str, identities: list | None, say: Callable[[str], None]
) -> DrillReport:
    started = time.monotonic()
    try:
        store = open_store(plan, target)
    except (BadTarget, StoreError) as exc:
        raise Refused(f"[backup] targets: {exc}", "fix the target in the plan") from None
    try:
        found = offsite.copies(store, plan.cluster.name, load_key(plan))
        if not found:
            raise DrillFailed(f"{target}: no backup of cluster {plan.cluster.name} there")
        newest = found[0]
        say(f"newest on {target}: {newest.name}")
        data = store.get(newest.name)
    except StoreError as exc:
        raise DrillFailed(str(exc)) from None
    finally:
        store.close()
    plain = _checked_plain(newest, data, identities, target)
    return _restore_and_compare(plan, target, newest, plain, started, say)


def _fail(target: str, name: str, why: str) -> DrillFailed:
    return DrillFailed(f"{target}/{name}: {why}")


def _checked_plain(copy: offsite.Copy, data: bytes, identities: list | None, target: str) -> bytes:
    meta = copy.meta
    if not copy.verified:
        raise _fail(target, copy.name, f"its record is not trusted ({copy.verdict})")
    digest = hashlib.sha256(data).hexdigest()
    if digest != meta.get("sha256"):
        raise _fail(
            target, copy.name, f"sha256 {digest} does not match its record ({meta.get('sha256')})"
        )
    if not meta.get("encrypted"):
        plain = data
    elif identities is None:
        raise _fail(target, copy.name, "is age-encrypted: give --identity FILE to drill it")
    else:
        try:
            plain = offsite.decrypt(data, identities)
        except ValueError as exc:
            raise _fail(target, copy.name, str(exc)) from None
    if hashlib.sha256(plain).hexdigest() != meta.get("plain_sha256"):
        raise _fail(target, copy.name, "the decrypted snapshot's sha256 does not match its record")
    return plain


def _restore_and_compare(
    plan: Plan,
    target: str,
    copy: offsite.Copy,
    plain: bytes,
    started: float,
    say: Callable[[str], None],
) -> DrillReport:
    meta = copy.meta
    with tempfile.TemporaryDirectory(prefix="hawizard-drill-") as tmp:
        snap = Path(tmp) / "snapshot.db"
        fd = os.open(snap, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(plain)
        try:
            status = _etcdutl_status(snap)
        except BadSnapshot as exc:
            raise _fail(target, copy.name, str(exc)) from None
        for key, name in (("revision", "revision"), ("hash", "hash"), ("totalKey", "total_keys")):
            if meta.get(name) is not None and status.get(key) != meta.get(name):
                raise _fail(
                    target,
                    copy.name,
                    f"etcdutl reads {key} {status.get(key)}, its record says {meta.get(name)}",
                )
        say("snapshot status matches its record; restoring it into a throwaway etcd")
        try:
            with restored(snap) as member:
                rto = time.monotonic() - started
                say(f"throwaway etcd (pid {member.pid}) answers at revision {member.revision}")
        except ThrowawayFailed as exc:
            raise _fail(target, copy.name, str(exc)) from None
    if meta.get("revision") is not None and member.revision != meta["revision"]:
        raise _fail(
            target, copy.name, f"restored at revision {member.revision}, not {meta['revision']}"
        )
    if meta.get("keys") is not None and member.keys != meta["keys"]:
        raise _fail(
            target, copy.name, f"restored {member.keys} keys, the record says {meta['keys']}"
        )
    warnings = offsite.key_mismatch(plan, meta)
    return DrillReport(
        target, copy.name, member.revision, member.keys, rto, member.seconds, warnings
    )


# --- what `backup list` shows of the targets and the drills ------------------------------------


def target_listing(plan: Plan) -> list[dict[str, Any]]:
    """Every `[backup] targets` entry with its copies (`offsite.Copy.to_json`: age, size,
    verdict), newest first; a target that cannot be read carries its error instead."""
    key = load_key(plan)
    out = []
    for target in plan.backup.targets:
        entry: dict[str, Any] = {"target": target, "backups": [], "error": ""}
        try:
            store = open_store(plan, target)
            try:
                entry["backups"] = [
                    c.to_json() for c in offsite.copies(store, plan.cluster.name, key)
                ]
            finally:
                store.close()
        except (StoreError, BadTarget) as exc:
            entry["error"] = str(exc)
        out.append(entry)
    return out


def last_drill(plan: Plan):
    """The last drill's signed outcome (`etcd.drill_record.LastDrill`), or None."""
    from hawizard.etcd.drill_record import last_drill as read

    return read(plan)
