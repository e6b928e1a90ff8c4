"""The lab: real systemd nodes (nspawn + netns + overlay) on one host, for rehearsals and tests.

Root only. `Lab` is the API; `hawizard lab …` is its command line. Modules, one job each:
`rootfs` (cached base image), `layout` (names and addresses), `network` (bridge, veths,
partitions), `node` (disk, boot, poweroff, exec), `state` (what was created), `plan_writer`
(the lab's plan), `preflight` (root and tools), `status` (what `Lab.status()` reports), `lab`
(orchestration).
"""

from hawizard.lab.errors import LabError
from hawizard.lab.lab import DEFAULT_NAME, Fault, Lab
from hawizard.lab.status import LabNode, LabStatus, NodeStatus

__all__ = ["DEFAULT_NAME", "Fault", "Lab", "LabError", "LabNode", "LabStatus", "NodeStatus"]
