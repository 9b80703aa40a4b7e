"""End to end with the real 1D solver (slow: minutes per subject on a CPU)."""

from __future__ import annotations

import numpy as np
import pytest

from cardiosbi.datasets.generate import Pipeline
from tests.datasets.conftest import small_spec


@pytest.mark.slow
def test_one_subject_through_the_1d_solver_gives_finite_windows_and_labels():
    spec = small_spec(1, 1, "simulator.dx=0.002", "simulator.max_cycles=8", "prior=pwdb",
                      simulator="hemodynamics")
    pipeline = Pipeline(spec, "cpu")
    out = pipeline.candidates([5], pipeline.theta_names)
    assert out["reasons"] == [""], out["reasons"]
    for channel in ("radial/P", "digital/PPG"):
        assert np.isfinite(out["windows"][channel]).all()
    hr = out["theta"][0, pipeline.theta_names.index("hr")]
    assert out["labels"]["hr"][0] == pytest.approx(hr, rel=2e-3)
    assert 40 < out["labels"]["map_radial"][0] < 160
    assert np.isfinite(out["labels"]["pwv_cf"][0])
