"""Use cases, one module each (apply, change, status, restore, rotate, check, ...).

UI-free: the CLI and the TUI call the same function here and differ only in how they ask and
show. A workflow that cannot go ahead raises `Refused(reason, hint)`, which each face renders.
"""

from hawizard.ops.refusal import Refused

__all__ = ["Refused"]
