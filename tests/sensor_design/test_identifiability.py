"""The identifiability verdict on rows with known answers: calibrated and narrow counts,
overconfident or uninformative does not; the summary and figures say so."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from cardiosbi.sensor_design import (
    TARGETS,
    SensorDesign,
    Thresholds,
    design_summary,
    identifiability_table,
    plot_identifiability,
    prior_widths,
)

Z90 = 1.6449


def gaussian_rows(design: str, tone: str, half_width: float, sd_scale: float, n: int, rng) -> pd.DataFrame:
    """Rows of a Gaussian posterior N(mean, s^2) whose truth ~ N(mean, (sd_scale s)^2):
    sd_scale 1 is calibrated, > 1 overconfident. Every target gets the same posterior."""
    frames = []
    for target in TARGETS:
        mean = rng.normal(size=n)
        sd = half_width / Z90
        truth = mean + sd_scale * sd * rng.normal(size=n)
        frames.append(pd.DataFrame({
            "design": design, "skin_tone": tone, "perfusion": "normal", "noise_floor": 1e-5,
            "target": target, "truth": truth, "median": mean, "sd": sd,
            "lo90": mean - half_width, "hi90": mean + half_width}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(0)
    rows = pd.concat([
        gaussian_rows("sharp", "I-II", 0.2, 1.0, 2000, rng),        # narrow, calibrated
        gaussian_rows("sharp", "V-VI", 0.2, 3.0, 2000, rng),        # narrow, overconfident
        gaussian_rows("blunt", "I-II", 0.9, 1.0, 2000, rng),        # calibrated, too wide
        gaussian_rows("blunt", "V-VI", 0.9, 1.0, 2000, rng),
    ])
    widths = dict.fromkeys(TARGETS, 1.0)
    return identifiability_table(rows, widths, Thresholds(max_relative_width=0.5, min_coverage=0.8))


def cell(table, design, tone):
    return table[(table["design"] == design) & (table["skin_tone"] == tone)]


def test_calibrated_narrow_posterior_is_identifiable(table):
    sharp = cell(table, "sharp", "I-II")
    assert sharp["relative_width"].to_numpy() == pytest.approx(0.4)
    # 2,000 windows: coverage within 3 standard errors (0.0067) of 0.90
    assert np.all(np.abs(sharp["coverage90"] - 0.90) < 0.02)
    assert sharp["identifiable"].all()


def test_overconfident_or_wide_posterior_is_not(table):
    overconfident = cell(table, "sharp", "V-VI")
    # truth spread 3x the posterior's: P(|z| < 1.645 / 3) = 0.417
    assert np.all(np.abs(overconfident["coverage90"] - 0.417) < 0.04)
    assert not overconfident["identifiable"].any()
    assert not cell(table, "blunt", "I-II")["identifiable"].any()


def test_nrmse_of_a_calibrated_posterior_is_its_sd(table):
    sharp = cell(table, "sharp", "I-II")
    assert np.all(np.abs(sharp["nrmse"] - 0.2 / Z90) < 0.01)


def test_summary_names_what_each_design_keeps(table):
    designs = [SensorDesign("sharp", (660.0, 940.0)), SensorDesign("blunt", (530.0,))]
    text = design_summary(table, designs, Thresholds(), "normal")
    assert "| sharp | HR, LVET, SV, SpO2, melanin, blood frac., pulsatile frac., perfusion | none |" in text
    assert "| blunt | none | none |" in text
    assert "8 of 32 cells cover less than 0.80" in text
    assert "660, 940" in text


def test_heat_map_is_written(table, tmp_path):
    path = plot_identifiability(table, "normal", Thresholds(), tmp_path / "map.png")
    height, width, _ = matplotlib.image.imread(path).shape
    assert height > 200 and width > 600


def test_prior_widths_are_the_5_to_95_range():
    theta = np.tile(np.linspace(0, 100, 10001)[:, None], (1, len(TARGETS)))
    assert prior_widths(theta) == pytest.approx(dict.fromkeys(TARGETS, 90.0))
