"""`hawizard lab up | status | fault | down`: real systemd nodes on this host (root only)."""

from __future__ import annotations

import argparse

from hawizard.cli.output import console, err_console, esc, fail, print_json

FAULTS = ("kill-etcd", "stop", "start", "partition", "heal")


def register(sub: argparse._SubParsersAction) -> None:
    lab = sub.add_parser(
        "lab",
        help="a local test bed of systemd nodes to rehearse a rollout on (root)",
        description="Real systemd nodes (systemd-nspawn in network namespaces) on this host, "
        "with SSH, a ready plan and fault injection. Needs root.",
    )
    cmds = lab.add_subparsers(dest="lab_command", metavar="ACTION", required=True)

    up = cmds.add_parser(
        "up", help="bring a lab up (builds the base image and the package repository once)"
    )
    _name(up)
    up.add_argument(
        "--nodes", type=int, default=None, metavar="N", help="number of nodes, 1-9 (default 3)"
    )
    up.add_argument(
        "--subnet",
        default=None,
        metavar="CIDR",
        help="inside 198.18.0.0/15 (default: a /24 derived from the lab name)",
    )
    up.add_argument(
        "--package",
        action="append",
        default=[],
        metavar="NAME",
        help="also put this Debian package (and its dependencies) into the lab's local package "
        "repository; repeatable (default set: etcd-server, etcd-client, haproxy, keepalived, "
        "prometheus-node-exporter, prometheus)",
    )
    up.set_defaults(func=cmd_up)

    status = cmds.add_parser("status", help="nodes, addresses, running or not, and lab paths")
    _name(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)

    fault = cmds.add_parser(
        "fault",
        help="provoke a real failure on one node",
        description="kill-etcd: SIGKILL to etcd's main process (systemd restarts it). "
        "stop / start: power the node off / on again; its disk survives. "
        "partition / heal: drop every packet in and out of the node (nft, silent) / stop that.",
    )
    fault.add_argument("node", metavar="NODE", help="node name, e.g. lab-n2 (or just n2)")
    fault.add_argument("kind", choices=FAULTS, metavar="FAULT", help=" | ".join(FAULTS))
    _name(fault)
    fault.set_defaults(func=cmd_fault)

    down = cmds.add_parser("down", help="power off and remove everything the lab created")
    _name(down)
    down.add_argument("--purge", action="store_true", help="also delete node disks, keys, plan")
    down.set_defaults(func=cmd_down)


def _name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default="lab", metavar="LAB", help="lab name (default: lab)")


def _lab_error(exc) -> int:
    return fail(exc.message, exc.hint)


def cmd_up(args: argparse.Namespace) -> int:
    from hawizard.lab import Lab, LabError

    lab = None
    try:
        lab = Lab(args.name)
        status = lab.up(
            nodes=args.nodes,
            subnet=args.subnet,
            packages=tuple(args.package),
            progress=lambda msg: err_console.print(f"[dim]{esc(msg)}[/]"),
        )
    except LabError as exc:
        code = _lab_error(exc)
        if lab is not None and lab.exists:
            err_console.print(
                f"  [dim]→[/] to remove it: hawizard lab down --name {esc(args.name)}"
            )
        return code
    _print_status(status)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from hawizard.lab import Lab, LabError
    from hawizard.lab.preflight import require_root

    try:
        require_root()
        status = Lab(args.name).status()
    except LabError as exc:
        return _lab_error(exc)
    if args.json:
        print_json(status.to_json())
        return 0
    if not status.exists:
        return fail(f"lab {args.name!r} is not up", f"hawizard lab up --name {args.name}")
    _print_status(status)
    return 0


def cmd_fault(args: argparse.Namespace) -> int:
    from hawizard.lab import Lab, LabError
    from hawizard.lab.preflight import require_host

    try:
        require_host()
        message = Lab(args.name).fault(args.node, args.kind)
    except LabError as exc:
        return _lab_error(exc)
    console.print(esc(message))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from hawizard.lab import Lab, LabError

    try:
        existed = Lab(args.name).down(purge=args.purge)
    except LabError as exc:
        return _lab_error(exc)
    if not existed:
        console.print(f"no lab named {esc(args.name)}: nothing to do")
        return 0
    what = "removed with its disks" if args.purge else "down (disks kept; --purge deletes them)"
    console.print(f"lab {esc(args.name)} {what}")
    return 0


def _print_status(status) -> None:
    from rich.table import Table

    table = Table(title=f"lab {status.name} · {status.subnet}", title_justify="left")
    table.add_column("node")
    table.add_column("address")
    table.add_column("state")
    for n in status.nodes:
        state = "running" if n.running else "[red]off[/]"
        if n.partitioned:
            state += " [yellow](partitioned)[/]"
        table.add_row(n.name, n.address, state)
    console.print(table)
    for n in status.nodes:
        console.print(f"[dim]{esc(n.name)}:[/] {esc(n.ssh)}", soft_wrap=True)
    console.print(f"plan:        {esc(status.plan)}", soft_wrap=True)
    console.print(f"ssh key:     {esc(status.key)}", soft_wrap=True)
    console.print(f"known_hosts: {esc(status.known_hosts)}", soft_wrap=True)
