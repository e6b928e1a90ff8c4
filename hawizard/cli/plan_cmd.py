"""`hawizard plan init | validate | show`: write, check and summarise a plan file."""

from __future__ import annotations

import argparse
from pathlib import Path

from hawizard.cli.output import console, esc, fail, load_plan, print_json, print_problems


def register(sub: argparse._SubParsersAction) -> None:
    plan = sub.add_parser("plan", help="write, validate and show a plan file")
    cmds = plan.add_subparsers(dest="plan_command", metavar="ACTION", required=True)

    init = cmds.add_parser(
        "init",
        help="write a new plan from node definitions",
        description="Write a valid plan. Each --node is NAME=ADDRESS[:ROLE+ROLE] "
        "(default roles etcd+control-plane).",
    )
    init.add_argument("-o", "--output", required=True, help="plan file to write")
    init.add_argument(
        "--node",
        action="append",
        default=[],
        metavar="NAME=ADDRESS[:ROLES]",
        help="a node, e.g. infra0=10.1.2.11 or lb0=10.1.2.10:control-plane (repeatable)",
    )
    init.add_argument("--name", default="hawizard", help="cluster name (default: hawizard)")
    init.add_argument("--endpoint", default="", metavar="HOST:PORT", help="control-plane endpoint")
    init.add_argument(
        "--balancer",
        choices=("vip", "single", "external"),
        help="how the endpoint is served (default: vip with 2 or more masters: keepalived "
        "moves the endpoint's host, a free address, between haproxy on every master)",
    )
    init.add_argument(
        "--subnet",
        default="",
        metavar="CIDR",
        help="the balancer nodes' network, so the VIP can be checked to be on it",
    )
    init.add_argument("--ssh-user", default="root", help="SSH login on every node")
    init.add_argument("--ssh-port", type=int, default=22, help="SSH port on every node")
    init.add_argument("--ssh-key", default="~/.ssh/id_ed25519", help="SSH private key path")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(func=cmd_init)

    validate = cmds.add_parser("validate", help="list every error and warning in a plan")
    validate.add_argument("plan", help="plan file")
    validate.add_argument("--json", action="store_true", help="machine-readable problems")
    validate.set_defaults(func=cmd_validate)

    show = cmds.add_parser("show", help="nodes, roles and the quorum table of a plan")
    show.add_argument("plan", help="plan file")
    show.set_defaults(func=cmd_show)


def parse_node_spec(spec: str):
    """`NAME=ADDRESS[:ROLE+ROLE]` -> Node; IPv6 addresses go in brackets: `n1=[fd00::1]:etcd`."""
    from hawizard.plan import DEFAULT_ROLES, Node, Role

    name, sep, rest = spec.partition("=")
    if not sep or not name or not rest:
        raise ValueError(f"--node {spec!r}: expected NAME=ADDRESS[:ROLE+ROLE], e.g. n1=10.1.2.11")
    if rest.startswith("["):
        address, _, tail = rest[1:].partition("]")
        roles_text = tail.removeprefix(":")
    elif rest.count(":") == 1:
        address, roles_text = rest.split(":")
    else:
        address, roles_text = rest, ""  # IPv4, or a bare IPv6 address without roles
    roles = DEFAULT_ROLES
    if roles_text:
        try:
            roles = tuple(Role(r) for r in roles_text.split("+"))
        except ValueError:
            raise ValueError(
                f"--node {spec!r}: roles are etcd and control-plane joined with '+', "
                "e.g. n1=10.1.2.11:etcd+control-plane"
            ) from None
    return Node(name=name, address=address, roles=roles)


def cmd_init(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from hawizard.plan import SSH, BalancerMode, Cluster, Plan, Severity, dump, validate

    out = Path(args.output)
    if "\0" in args.output:
        return fail("-o names a file with a NUL character", "give a plain file name")
    if out.exists() and not args.force:
        return fail(f"{out} already exists", "pass --force to overwrite it")
    if not args.node:
        return fail("no nodes given", "add one --node NAME=ADDRESS per machine")
    try:
        nodes = tuple(parse_node_spec(spec) for spec in args.node)
    except ValueError as exc:
        return fail(str(exc))
    ssh = SSH(user=args.ssh_user, port=args.ssh_port, key=args.ssh_key)
    nodes = tuple(replace(n, ssh=ssh) for n in nodes)
    plan = Plan(nodes=nodes, cluster=Cluster(name=args.name, control_plane_endpoint=args.endpoint))
    # An endpoint that survives any one node is the default once there are two masters to
    # fail over between; the mode is written out, so the plan says what it does.
    mode = args.balancer or (BalancerMode.VIP if len(plan.control_plane_nodes) >= 2 else "")
    plan = replace(
        plan, load_balancer=replace(plan.load_balancer, mode=str(mode), subnet=args.subnet)
    )
    problems = validate(plan)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors:
        print_problems(_as_flags(errors, args.node))
        return 2
    print_problems(_as_flags(problems, args.node))
    try:
        dump(plan, out)
    except OSError as exc:
        return fail(f"cannot write {out}: {exc.strerror}")
    console.print(f"[green]wrote[/] {esc(out)} ({len(nodes)} nodes)")
    return 0


def _as_flags(problems, specs: list[str]):
    """Problems found in flags name the flag the user typed, not the plan field."""
    from dataclasses import replace

    flag_for = {
        "cluster.control_plane_endpoint": "--endpoint",
        "cluster.name": "--name",
        "load_balancer.mode": "--balancer",
        "load_balancer.subnet": "--subnet",
    }
    out = []
    for p in problems:
        field = flag_for.get(p.field, p.field)
        if p.field.startswith("nodes["):
            index = int(p.field[6 : p.field.index("]")])
            field = f"--node {specs[index]}"
            if ".ssh." in p.field:
                field = "--ssh-" + p.field.rsplit(".", 1)[1]
        out.append(replace(p, field=field, source=""))
    return out


def cmd_validate(args: argparse.Namespace) -> int:
    from hawizard.plan import PlanError, Severity, load, validate

    try:
        plan = load(args.plan)
        from hawizard.localfs import read_regular_text

        problems = validate(plan, text=read_regular_text(args.plan), source=args.plan)
    except PlanError as exc:
        problems = exc.problems
    if args.json:
        print_json(
            {
                "valid": not any(p.severity is Severity.ERROR for p in problems),
                "problems": [
                    {
                        "severity": p.severity.value,
                        "field": p.field,
                        "line": p.line,
                        "message": p.message,
                    }
                    for p in problems
                ],
            }
        )
    else:
        print_problems(problems, to_stderr=False)
    if any(p.severity is Severity.ERROR for p in problems):
        if not args.json:
            console.print(f"[bold red]{esc(args.plan)} is not valid[/]")
        return 1
    if not args.json:
        console.print(f"[green]{esc(args.plan)} is valid[/]")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from rich.table import Table

    from hawizard.plan import quorum, tolerance

    plan = load_plan(args.plan)
    if plan is None:
        return 2
    nodes = Table(title=f"cluster {esc(plan.cluster.name)}", title_justify="left")
    for col in ("node", "address", "roles", "ssh"):
        nodes.add_column(col)
    for n in plan.nodes:
        ssh = f"{n.ssh.user}@{n.address}" + (f" -p {n.ssh.port}" if n.ssh.port != 22 else "")
        nodes.add_row(esc(n.name), esc(n.address), ", ".join(n.roles), esc(ssh))
    console.print(nodes)
    host, port = plan.endpoint_host_port
    from rich.markup import escape

    from hawizard.balancer.summary import balancer_description, endpoint_survival_line

    lb_mode = escape(plan.balancer_mode)

    console.print(
        f"control-plane endpoint: [bold]{escape(host)}:{port}[/] (load balancer: {lb_mode})"
    )
    console.print(f"  {escape(balancer_description(plan))}; {endpoint_survival_line(plan)}")

    members = len(plan.etcd_nodes)
    table = Table(title="etcd quorum", title_justify="left")
    for col in ("members", "quorum", "tolerates"):
        table.add_column(col, justify="right")
    for n in sorted({1, 3, 5, members} - {0}):
        style = "bold" if n == members else "dim"
        table.add_row(str(n), str(quorum(n)), str(tolerance(n)), style=style)
    console.print(table)
    console.print(
        f"this plan: {members} etcd member(s), quorum {quorum(members)}, "
        f"tolerates {tolerance(members)} failure(s)"
    )
    return 0
