"""Write the generated documents, or with ``--check`` tell whether they are current.

    python scripts/gen_docs.py          # rewrite every generated document
    python scripts/gen_docs.py --check  # exit 1 if one is out of date

Each generated document is one entry of ``GENERATORS``: its path (relative to
the repository root) and the function rendering it from the checkout.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable
from pathlib import Path

from syncd.docgen.api import api_markdown
from syncd.docgen.models import models_markdown
from syncd.docgen.pms import pms_markdown

ROOT = Path(__file__).resolve().parents[1]

#: Output path (relative to the repository root) -> renders it from the root.
GENERATORS: dict[str, Callable[[Path], str]] = {
    "docs/models.md": lambda root: models_markdown(root / "transforms"),
    "docs/pms.md": lambda root: pms_markdown(),
    "docs/api.md": lambda root: api_markdown(),
}

#: Diff lines shown per stale document: enough to see what changed.
_DIFF_LINES = 40


def _stale(path: str, current: str, wanted: str) -> None:
    print(f"{path} is out of date: run `python scripts/gen_docs.py`", file=sys.stderr)
    diff = list(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            wanted.splitlines(keepends=True),
            fromfile=f"{path} (in the checkout)",
            tofile=f"{path} (generated)",
        )
    )
    sys.stderr.writelines(diff[:_DIFF_LINES])
    if len(diff) > _DIFF_LINES:
        print(f"... ({len(diff) - _DIFF_LINES} more diff lines)", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Generate (or check) every document; the exit status for the shell."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a document is stale"
    )
    args = parser.parse_args(argv)
    stale = 0
    for relative, render in GENERATORS.items():
        target = ROOT / relative
        wanted = render(ROOT)
        current = target.read_text(encoding="utf-8") if target.is_file() else ""
        if current == wanted:
            continue
        if args.check:
            _stale(relative, current, wanted)
            stale += 1
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(wanted, encoding="utf-8")
            print(f"wrote {relative}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
