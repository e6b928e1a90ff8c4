"""The Nodes step: typing nodes in, the validator's messages on the form, the quorum hint."""

from __future__ import annotations

from textual.widgets import Button, Checkbox, DataTable, Input, Static
from tui_support import SIZE, fixed_plan, make_app, settle

from hawizard.plan import Plan, Role
from hawizard.tui.screens.nodes import NodesScreen


def message(app, field: str) -> str:
    line = app.screen.query_one(f"#m-{field}", Static)
    return str(line.render()) if line.display else ""


async def type_node(pilot, name: str, address: str, *, submit: bool = True) -> None:
    screen = pilot.app.screen
    screen.query_one("#f-name", Input).focus()
    await pilot.press("ctrl+u", *name, "tab", "ctrl+u", *address)
    if submit:
        await pilot.press("enter")
    await pilot.pause()


async def start_new_plan(pilot) -> None:
    await settle(pilot)
    await pilot.click("#new-plan")
    await pilot.pause()
    assert isinstance(pilot.app.screen, NodesScreen)


async def test_invalid_address_is_refused_with_its_message_then_accepted_when_fixed():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start_new_plan(pilot)
        await type_node(pilot, "infra0", "10.1.2.300")
        assert "'10.1.2.300' is not an IP address" in message(app, "address")
        assert message(app, "name") == ""
        assert app.plan.nodes == ()
        assert app.screen.query_one(DataTable).row_count == 0

        await type_node(pilot, "infra0", "10.1.2.11")
        assert message(app, "address") == ""
        assert [n.name for n in app.plan.nodes] == ["infra0"]
        assert app.plan.nodes[0].address == "10.1.2.11"
        assert app.plan.nodes[0].roles == (Role.ETCD, Role.CONTROL_PLANE)
        assert app.screen.query_one(DataTable).row_count == 1
        # the form is cleared for the next node
        assert app.screen.query_one("#f-name", Input).value == ""


async def test_message_appears_while_typing_before_submit():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start_new_plan(pilot)
        await type_node(pilot, "Infra_0", "", submit=False)
        assert "is not a valid node name" in message(app, "name")
        # an empty field is not scolded until the operator tries to submit
        assert message(app, "address") == ""
        await pilot.press("enter")
        await pilot.pause()
        assert "is not an IP address" in message(app, "address")
        assert app.plan.nodes == ()


async def test_duplicate_name_and_address_point_at_the_other_node():
    app = make_app(fixed_plan())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_node(pilot, "infra1", "10.1.2.11")
        assert "'infra1' is already used by nodes[1]" in message(app, "name")
        assert "10.1.2.11 is already used by nodes[0]" in message(app, "address")
        assert len(app.plan.nodes) == 3


async def test_roles_and_port_are_checked_before_the_plan():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start_new_plan(pilot)
        screen = app.screen
        screen.query_one("#f-etcd", Checkbox).value = False
        screen.query_one("#f-control-plane", Checkbox).value = False
        screen.query_one("#f-port", Input).value = ""
        await type_node(pilot, "infra0", "10.1.2.11")
        assert "choose etcd, control-plane or both" in message(app, "roles")
        assert "SSH port as a number" in message(app, "port")
        assert app.plan.nodes == ()


async def test_quorum_hint_follows_the_members():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start_new_plan(pilot)
        hint = app.screen.query_one("#quorum", Static)
        assert "no etcd member" in str(hint.render())
        assert hint.has_class("-bad")

        await type_node(pilot, "infra0", "10.1.2.11")
        assert "1 etcd member · quorum 1 · tolerates 0 failures" in str(hint.render())
        assert hint.has_class("-warn")

        await type_node(pilot, "infra1", "10.1.2.12")
        await type_node(pilot, "infra2", "10.1.2.13")
        assert "3 etcd members · quorum 2 · tolerates 1 failure" in str(hint.render())
        assert hint.has_class("-ok")

        # a control-plane-only node is not a member
        app.screen.query_one("#f-etcd", Checkbox).value = False
        await type_node(pilot, "worker0", "10.1.2.20")
        assert len(app.plan.nodes) == 4
        assert "3 etcd members" in str(hint.render())

        # removing a member from the table updates the hint
        table = app.screen.query_one(DataTable)
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("d")
        await pilot.pause()
        assert [n.name for n in app.plan.nodes] == ["infra1", "infra2", "worker0"]
        assert "2 etcd members · quorum 2 · tolerates 0 failures" in str(hint.render())
        assert hint.has_class("-warn")
        # said once: the hint, not again in the plan's problem list below it
        problems = str(app.screen.query_one("#plan-problems", Static).render())
        assert "etcd member" not in problems and "quorum" not in problems


async def test_edit_a_node_from_the_table_and_remove_it_from_the_form():
    app = make_app(fixed_plan())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        table.focus()
        table.move_cursor(row=1)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.query_one("#f-name", Input).value == "infra1"
        assert str(app.screen.query_one("#submit-node", Button).label) == "Save node"

        await type_node(pilot, "infra1", "10.1.2.99")
        assert app.plan.nodes[1].address == "10.1.2.99"
        assert len(app.plan.nodes) == 3

        table.focus()
        table.move_cursor(row=2)
        await pilot.press("e")
        await pilot.pause()
        await pilot.click("#remove-node")
        await pilot.pause()
        assert [n.name for n in app.plan.nodes] == ["infra0", "infra1"]


async def test_endpoint_field_is_validated_and_written_to_the_plan():
    app = make_app(fixed_plan())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        endpoint = app.screen.query_one("#endpoint", Input)
        assert endpoint.value == "10.1.2.10:6443"
        endpoint.focus()
        await pilot.press("ctrl+u")
        await pilot.pause()
        assert app.plan.cluster.control_plane_endpoint == ""
        assert "missing, but 3 nodes have the control-plane role" in message(app, "endpoint")

        await pilot.press(*"10.1.2.10")
        await pilot.pause()
        assert "must be HOST:PORT" in message(app, "endpoint")

        await pilot.press(*":6443")
        await pilot.pause()
        assert message(app, "endpoint") == ""
        assert app.plan.cluster.control_plane_endpoint == "10.1.2.10:6443"


async def test_plan_option_opens_on_nodes_with_the_plan_loaded():
    plan: Plan = fixed_plan()
    app = make_app(plan)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, NodesScreen)
        table = app.screen.query_one(DataTable)
        assert table.row_count == 3
        assert table.get_row_at(0)[:2] == ["infra0", "10.1.2.11"]
