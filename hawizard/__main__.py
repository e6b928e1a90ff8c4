"""`python -m hawizard` is the same as the `hawizard` command."""

from hawizard.cli import main

raise SystemExit(main())
