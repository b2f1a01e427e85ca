"""``python -m promptlane``: the same command line as ``promptlane``."""
from promptlane.cli import main

raise SystemExit(main())
