"""The Textual faces of hawizard: the setup wizard and the live dashboard.

`app.WizardApp` holds the one plan; `screens/` has one module per step, `widgets/` the pieces
they share, `messages.py` what thread workers post back. Everything slow runs in workers and
calls the engine (`hawizard.pki`, `hawizard.steps`, `hawizard.etcd`, `hawizard.control_plane`,
`hawizard.health`): the TUI holds no rollout or probe logic of its own.
"""
