"""One module per screen; `base.WizardScreen` gives each step its indicator, nav and footer."""
