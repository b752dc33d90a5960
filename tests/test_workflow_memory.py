"""efficacy.workflow.retain_freed_memory: glibc malloc settings for job processes (issue #22)."""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_retain_freed_memory_applies_and_leaves_numbers_unchanged():
    """In a fresh process: the settings are applied, and a FIML CFA with standard errors gives the same
    bits before and after (only where memory comes from changes)."""
    code = textwrap.dedent("""
        import numpy as np, pandas as pd
        from efficacy.sem import sem
        from efficacy.workflow import retain_freed_memory
        rng = np.random.default_rng(4)
        f = rng.normal(size=(300, 2))
        X = np.column_stack([f[:, i // 3] + rng.normal(size=300) for i in range(6)])
        X[rng.random(X.shape) < 0.05] = np.nan
        d = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
        model = "a =~ x0 + x1 + x2\\nb =~ x3 + x4 + x5"
        before = sem(d, model, missing="fiml", auto="cfa").estimates
        assert retain_freed_memory() is True
        after = sem(d, model, missing="fiml", auto="cfa").estimates
        assert before.equals(after)
        assert all(before[c].to_numpy().tobytes() == after[c].to_numpy().tobytes()
                   for c in before if before[c].dtype.kind == "f")
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(SRC), "OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
