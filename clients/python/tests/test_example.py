"""examples/submit.py, run as a user runs it, against the session's `drover up`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "submit.py"


def test_the_example_prints_the_workflows_result(scheduler: str) -> None:
    finished = subprocess.run(
        [sys.executable, str(EXAMPLE), "--scheduler", scheduler],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    lines = finished.stdout.splitlines()
    assert lines[0].endswith(": TASK_STATE_SUCCEEDED"), finished.stdout
    assert "  rows: ['Anvil 120.00 4', 'Bellows 35.50 12', 'Chisel 8.25 40']" in lines, finished.stdout
    summary = next(line for line in lines if line.startswith("  summary: "))
    # The stand-in echoes the prompt's first words: the rows, so ${steps.rows.values} was resolved.
    assert summary.startswith("  summary: stand-in answer: "), summary
    assert 'Rows: ["Anvil 120.00' in summary, summary
