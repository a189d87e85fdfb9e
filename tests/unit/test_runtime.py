"""The allocator tuning the ``chaincut`` command applies at start-up."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
def test_tuning_the_allocator_takes_effect() -> None:
    # In a child process: the setting is process-wide and must not leak into the test run.
    code = (
        "import numpy as np\n"
        "from chaincut.runtime import tune_allocator\n"
        "assert tune_allocator() is True\n"
        "a = np.ones(50_000_000 // 8); del a\n"  # freed into the heap, kept for the next array
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
