"""Shared fixtures: each lives in tests/fixtures/ and is loaded here for every test folder.

The test folders mirror the package (tests/plan/, tests/pki/, tests/etcd/, …), and a test
may reuse another folder's helpers by module name (`from test_pki import make_plan` in
tests/ops/). pytest puts a test file's own folder on `sys.path` only when it collects it, so
every test folder is put there up front: such an import then works whatever is collected
first, or alone. (Module names are unique across tests/, as pytest's import mode requires.)
"""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_FOLDERS = [
    str(d)
    for d in sorted(_HERE.iterdir())
    if d.is_dir() and d.name not in ("fixtures", "bench") and any(d.glob("test_*.py"))
]
sys.path.extend(d for d in _FOLDERS if d not in sys.path)

pytest_plugins = [
    f"fixtures.{name}"
    for name in ("lab", "sshd", "local_etcd")
    if __import__("importlib.util").util.find_spec(f"fixtures.{name}") is not None
]
