"""``python -m syncd``."""

from syncd.cli import main

raise SystemExit(main())
