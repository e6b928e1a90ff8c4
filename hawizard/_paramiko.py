"""paramiko, imported without invoke: what lets `hawizard apply` send its first SSH bytes sooner.

paramiko's `config` module imports invoke at import time, only to run `Match exec` lines of an
ssh_config — which hawizard never reads (fabric is told not to load SSH configs). invoke pulls
in asyncio, unittest.mock and a YAML parser: close to half of paramiko's import time, all of it
before the first byte can leave. So paramiko is imported with invoke blocked; fabric's own
import brings invoke later (after the handshake has started), and `give_invoke_back` hands it
to `paramiko.config`, so nothing stays disabled.
"""

from __future__ import annotations

import sys

_blocked = "invoke" not in sys.modules
if _blocked:
    sys.modules["invoke"] = None  # type: ignore[assignment]  # `import invoke` raises ImportError
try:
    import paramiko
    import paramiko.config
finally:
    if _blocked and "invoke" in sys.modules and sys.modules["invoke"] is None:
        del sys.modules["invoke"]


def give_invoke_back() -> None:
    """Once invoke is imported (by fabric), paramiko's config module gets it after all."""
    invoke = sys.modules.get("invoke")
    if invoke is not None and paramiko.config.invoke is None:
        paramiko.config.invoke = invoke
        paramiko.config.invoke_import_error = None


__all__ = ["give_invoke_back", "paramiko"]
