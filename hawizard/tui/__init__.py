"""The Textual faces of hawizard: the setup wizard and the live dashboard.

`app.WizardApp` holds the one plan; `screens/` has one module per step, `widgets/` the pieces
they share, `messages.py` what thread workers post back. Everything slow runs in workers and
calls the use cases in `hawizard.ops` (certificates, apply, change, restore, rotate, check),
reading the plan and the health model: the TUI holds no rollout or probe logic of its own.
Where a screen still reaches a domain directly, `tests/test_layers.py` lists it with its
reason.
"""
