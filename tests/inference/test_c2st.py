"""The C2ST statistic itself: ~0.5 for identical distributions, Phi(delta/2) for a mean shift."""

from __future__ import annotations

import math

import pytest
import torch

from cardiosbi.diagnostics.c2st import c2st


def test_same_distribution_scores_about_one_half(seed):
    p = torch.randn(1000, 2)
    q = torch.randn(1000, 2)
    assert abs(c2st(p, q) - 0.5) < 0.05


def test_shifted_distribution_scores_near_the_bayes_accuracy(seed):
    # Two unit Gaussians whose means differ by 1 along one axis: the best classifier reaches
    # Phi(1/2) = 0.691.
    p = torch.randn(1000, 2)
    q = torch.randn(1000, 2) + torch.tensor([1.0, 0.0])
    bayes = 0.5 * (1 + math.erf(0.5 / math.sqrt(2)))
    assert c2st(p, q) == pytest.approx(bayes, abs=0.05)


def test_bad_samples_are_rejected():
    with pytest.raises(ValueError, match="NaN"):
        c2st(torch.zeros(10, 2), torch.full((10, 2), math.nan))
    with pytest.raises(ValueError, match="dimensions"):
        c2st(torch.zeros(10, 2), torch.zeros(10, 3))
