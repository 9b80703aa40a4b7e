"""Trend agreement: four-quadrant concordance and per-record correlation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cardiosbi.diagnostics.trending import concordance, per_record_correlation, record_changes


def _series(records=3, windows=12, seed=0, noise=0.0):
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(records):
        reference = 5.0 + np.cumsum(rng.normal(0, 0.5, windows))
        estimate = 2.0 * reference + 3.0 + noise * rng.normal(size=windows)  # biased, scaled
        rows.append(pd.DataFrame({"record": f"r{r}", "start_s": 8.0 * np.arange(windows),
                                  "estimate": estimate, "reference": reference}))
    return pd.concat(rows, ignore_index=True)


def test_changes_pair_windows_of_one_record_at_least_the_gap_apart():
    table = _series(records=2, windows=6)
    changes = record_changes(table, "estimate", "reference", min_gap_s=16.0)
    # per record: pairs (i, j) with 8 * (j - i) >= 16 among 6 windows: 4 + 3 + 2 + 1 = 10
    assert len(changes) == 20
    assert set(changes["record"]) == {"r0", "r1"}
    np.testing.assert_allclose(changes["d_estimate"], 2.0 * changes["d_reference"])


def test_a_biased_but_trend_faithful_monitor_is_fully_concordant():
    changes = record_changes(_series(), "estimate", "reference", min_gap_s=8.0)
    value, n = concordance(changes["d_estimate"], changes["d_reference"], 0.1)
    assert value == 1.0 and n > 0
    r = per_record_correlation(_series(), "estimate", "reference")
    assert len(r) == 3 and np.allclose(r, 1.0)


def test_an_unrelated_monitor_is_near_chance():
    table = _series(records=20, windows=15, seed=1)
    table["estimate"] = np.random.default_rng(2).normal(size=len(table))
    changes = record_changes(table, "estimate", "reference", min_gap_s=8.0)
    value, n = concordance(changes["d_estimate"], changes["d_reference"], 0.2)
    se = np.sqrt(0.25 / n)
    assert abs(value - 0.5) < 4 * se * 3  # pairs within a record are dependent: wide margin


def test_exclusion_zone_drops_small_reference_changes():
    value, n = concordance([1.0, -1.0, 1.0], [0.05, -2.0, 3.0], exclusion=0.5)
    assert n == 2 and value == 1.0
    value, n = concordance([1.0], [0.01], exclusion=0.5)
    assert n == 0 and np.isnan(value)


@pytest.mark.parametrize("windows", [2, 4])
def test_short_records_have_no_correlation(windows):
    assert per_record_correlation(_series(windows=windows), "estimate", "reference").empty
