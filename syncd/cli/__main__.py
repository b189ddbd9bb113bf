"""``python -m syncd.cli`` (the same as ``syncd``)."""

from syncd.cli import main

raise SystemExit(main())
