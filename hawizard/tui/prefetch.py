"""The dashboard's first probe round, started when the app is made, not when its screen is.

Opening `hawizard dashboard PLAN`, the interpreter spends ~0.3 s importing Textual and the
screens before the dashboard could ask its first question; the members' TLS handshakes (and
SSH to the balancer nodes) only wait on the network, so they run meanwhile in a thread of
their own (issue 30: the first full frame ≤ 0.5 s). The screen's first round then takes this
result — the etcd part as soon as it is in, the whole report when it is — instead of
probing again. Same backend, same round, same errors: only started earlier.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hawizard.plan import Plan
    from hawizard.tui.backend import Backend

__all__ = ["FirstRound"]


class FirstRound:
    def __init__(self, plan: Plan, backend: Backend) -> None:
        self.plan = plan
        self._backend = backend
        self.report: Future[Any] = Future()
        self.etcd: Future[Any] = Future()  # the etcd part, when the round reports it early
        self.taken = False
        threading.Thread(target=self._run, name="dashboard-first-round", daemon=True).start()

    def _run(self) -> None:
        def early(health: Any) -> None:
            if not self.etcd.done():
                self.etcd.set_result(health)

        try:
            report = self._backend.status_round(self.plan, early)
        except BaseException as exc:  # the screen's worker re-raises it as its own round would
            self.report.set_exception(exc)
            if not self.etcd.done():
                self.etcd.cancel()
            return
        self.report.set_result(report)
        if not self.etcd.done():
            self.etcd.cancel()  # it came with the whole report

    def take(self, plan: Plan) -> FirstRound | None:
        """This round, once, for the same plan (the operator may have edited it since)."""
        if self.taken or plan is not self.plan:
            return None
        self.taken = True
        return self
