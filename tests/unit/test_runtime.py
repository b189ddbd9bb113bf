"""The interpreter settings a syncd process starts with."""

from __future__ import annotations

import subprocess
import sys

from syncd.runtime import GC_YOUNG_THRESHOLD


def test_start_up_is_frozen_and_young_garbage_is_collected_less_often() -> None:
    # In a fresh interpreter that has loaded the CLI, as `syncd run` has.
    code = (
        "import gc\n"
        "import syncd.cli\n"
        "from syncd.runtime import tune_gc\n"
        "before = (gc.get_freeze_count(), gc.get_threshold()[0])\n"
        "tune_gc()\n"
        "print(*before, gc.get_freeze_count(), gc.get_threshold()[0], int(gc.isenabled()))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    frozen_before, young_before, frozen, young, enabled = (int(x) for x in out)
    assert frozen_before == 0 and frozen > 10_000
    assert young_before == 700 and young == GC_YOUNG_THRESHOLD
    # Cycles are still collected, only less often.
    assert enabled == 1
