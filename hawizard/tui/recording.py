"""The live dashboard's flight recorder: each probe round appended to the plan's store, from
the probe worker's thread (never the UI's). A store that cannot be opened or written turns
recording off for the session with one log line; the dashboard goes on."""

from __future__ import annotations

import logging
import threading
from typing import Any

from hawizard.plan import Plan

log = logging.getLogger(__name__)


class RoundRecorder:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.error = ""  # why recording stopped, for the screen to say
        self._store: Any = None
        self._source: Any = None
        self._lock = threading.Lock()

    def record(self, plan: Plan, report: Any) -> None:
        if not self.enabled or plan.source is None:
            return
        from hawizard.ops.recording import open_store, record_report

        with self._lock:
            try:
                if self._store is None or self._source != plan.source:
                    self.close()
                    self._store = open_store(plan)
                    self._source = plan.source
                record_report(self._store, report)
            except Exception as exc:  # a witness, never a reason to stop the dashboard
                self.enabled = False
                self.error = f"recording stopped: {exc}"
                log.warning("recording stopped", exc_info=True)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
