"""Foot-to-foot transit time and PWV label on synthetic beats with a known delay."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from simulators.hemodynamics.labels import foot_time, pulse_wave_velocity, transit_time
from tests.simulators.hemo_compare import DATA

J = 1024  # samples per beat, as simulate() uses for labels


def beat(shift: float, period: float = 0.8, dbp: float = 75.0, pp: float = 40.0,
         notch_depth: float = 0.0, rise: float = 0.08) -> torch.Tensor:
    """One periodic pressure beat [mmHg] whose upstroke starts ``shift`` s into the beat.

    Raised-cosine upstroke of ``rise`` s, exponential diastolic decay back to ``dbp`` at the
    next foot, optionally a narrow dicrotic notch (Gaussian dip ``notch_depth`` x pp, 4 ms
    wide) that is steeper than the upstroke but stays above the diastolic minimum.
    """
    t = torch.arange(J, dtype=torch.float64) * period / J
    s = torch.remainder(t - shift, period)
    tau = 0.3
    end = math.exp(-(period - rise) / tau)
    decay = (torch.exp(-(s - rise) / tau) - end) / (1 - end)
    shape = torch.where(s < rise, 0.5 * (1 - torch.cos(math.pi * s / rise)), decay)
    shape = shape - notch_depth * torch.exp(-(((s - rise - 0.22) / 0.004) ** 2))
    return dbp + pp * shape


def delay(prox: torch.Tensor, dist: torch.Tensor, period: float = 0.8) -> float:
    return float(transit_time(prox[None], dist[None], torch.tensor([period], dtype=torch.float64))[0])


@pytest.mark.parametrize("rise", [0.08, 0.01])
@pytest.mark.parametrize("shift", [0.0713, 0.07131, 0.0715, 0.35])
def test_transit_time_recovers_sub_sample_delays(shift, rise):
    """Delays that are not multiples of the sample spacing (0.78 ms) come out within 2 % of
    it, for a slow (80 ms) and a sharp (10 ms, 13 samples) upstroke."""
    start = 0.0101
    got = delay(beat(start, rise=rise), beat(start + shift, rise=rise))
    assert abs(got - shift) < 0.02 * 0.8 / J


def test_delays_beyond_half_a_beat_are_rejected():
    """A distal foot 0.56 of a beat later is as well 0.44 of a beat earlier: not a delay."""
    assert math.isnan(delay(beat(0.01), beat(0.01 + 0.45)))


def test_feet_of_different_pulse_amplitudes_agree():
    """The tangent construction depends on the shape, not on the pressure level or amplitude."""
    t0 = foot_time(beat(0.2)[None], torch.tensor([0.8]))
    t1 = foot_time(beat(0.2, dbp=60.0, pp=4.0)[None], torch.tensor([0.8]))
    assert abs(float(t0 - t1)) < 1e-9


@pytest.mark.parametrize("pp", [40.0, 3.0])
def test_steeper_dicrotic_notch_is_not_taken_for_the_upstroke(pp):
    b = beat(0.1, pp=pp, notch_depth=0.15)
    notch_rise = torch.diff(b).max()
    upstroke_rise = torch.diff(b[: int(0.25 * J)]).max()
    assert notch_rise > upstroke_rise  # the case the global steepest slope gets wrong
    clean = foot_time(beat(0.1, pp=pp)[None], torch.tensor([0.8]))
    notched = foot_time(b[None], torch.tensor([0.8]))
    assert abs(float(notched - clean)) < 1e-9
    assert abs(delay(b, beat(0.17, pp=pp, notch_depth=0.15)) - 0.07) < 0.02 * 0.8 / J


def test_beat_without_upstroke_and_negative_delays_give_nan():
    flat = torch.full((1, J), 80.0, dtype=torch.float64)
    assert torch.isnan(foot_time(flat, torch.tensor([0.8]))).all()
    starts_at_peak = torch.roll(beat(0.0), -int(0.08 * J / 0.8))  # no rise before the maximum
    assert torch.isnan(foot_time(starts_at_peak[None], torch.tensor([0.8]))).all()
    assert math.isnan(delay(beat(0.2), beat(0.15)))  # distal foot before the proximal one
    assert math.isnan(delay(beat(0.2), beat(0.2)))


def test_pwv_outside_the_plausible_range_is_nan():
    distance = torch.tensor([0.5, 0.5, 0.5, 0.5], dtype=torch.float64)
    delays = torch.tensor([0.07, 0.001, 0.9, float("nan")], dtype=torch.float64)
    pwv = pulse_wave_velocity(distance, delays)
    assert pwv[0] == pytest.approx(0.5 / 0.07)
    assert torch.isnan(pwv[1:]).all()


def test_batched_feet_match_one_at_a_time():
    shifts = [0.05, 0.3, 0.5]
    periods = torch.tensor([0.8, 0.7, 0.9], dtype=torch.float64)
    beats = torch.stack([beat(s, period=float(T)) for s, T in zip(shifts, periods, strict=True)])
    batched = foot_time(beats, periods)
    single = torch.cat([foot_time(beats[i:i + 1], periods[i:i + 1]) for i in range(3)])
    assert torch.equal(batched, single)


def test_beat_that_does_not_close_keeps_its_foot():
    """A beat converged to 1 mmHg can end 0.7 mmHg below its start: with a 10 mmHg pulse that
    jump is steeper than the upstroke, and a periodic reading puts the foot at the jump."""
    t = torch.arange(J, dtype=torch.float64) / J
    closed = beat(0.03, pp=10.0)
    drifting = closed + 0.7 * (1 - t)
    feet = foot_time(torch.stack([closed, drifting]), torch.tensor([0.8, 0.8]))
    assert abs(float(feet[1] - feet[0])) < 1e-3


def threshold_foot(p: np.ndarray, fs: float) -> float:
    """An independent foot: first sample 10 % of the way from the minimum up to the peak."""
    peak = int(p.argmax())
    low = int(p[: peak + 1].argmin())
    level = p[low] + 0.1 * (p[peak] - p[low])
    return (low + int(np.argmax(p[low: peak + 1] > level))) / fs


def test_low_pulse_simulated_subjects_have_positive_transit_times():
    """Two simulated PWDB-116 subjects with aortic PP 12 and 15 mmHg (see the data README)."""
    data = np.load(DATA / "low_pulse_beats.npz")
    fs = float(data["fs"])
    got = transit_time(torch.tensor(data["carotid"]), torch.tensor(data["femoral"]),
                       torch.tensor(data["period"]))
    for b in range(2):
        expected = (threshold_foot(data["femoral"][b], fs) - threshold_foot(data["carotid"][b], fs))
        assert 0.1 < float(got[b]) < 0.2
        assert abs(float(got[b]) - expected) < 3e-3, (b, float(got[b]), expected)
