"""The box-to-R bijection: invertible, correct log-determinant, safe at the bounds."""

from __future__ import annotations

import math

import pytest
import torch

from cardiosbi.errors import ConfigError
from cardiosbi.inference.bijection import BoxToStandard, check_bounds

LOW = torch.tensor([40.0, -math.inf, 0.5], dtype=torch.float64)
HIGH = torch.tensor([200.0, math.inf, 3.0], dtype=torch.float64)
MEAN = torch.tensor([0.3, -1.0, 0.1], dtype=torch.float64)
STD = torch.tensor([1.7, 4.0, 0.6], dtype=torch.float64)


def _transform():
    return BoxToStandard(LOW, HIGH, MEAN, STD)


def _inside(n, generator):
    u = torch.rand(n, 3, generator=generator, dtype=torch.float64)
    theta = LOW + (HIGH - LOW) * u
    theta[:, 1] = 10 * torch.randn(n, generator=generator, dtype=torch.float64)
    return theta


def test_round_trip(seed):
    theta = _inside(200, torch.Generator().manual_seed(seed))
    t = _transform()
    torch.testing.assert_close(t.inv(t(theta)), theta, rtol=1e-9, atol=1e-9)


def test_log_det_matches_autograd_jacobian(seed):
    t = _transform()
    for theta in _inside(5, torch.Generator().manual_seed(seed)):
        jacobian = torch.autograd.functional.jacobian(t, theta)
        expected = torch.linalg.slogdet(jacobian).logabsdet
        assert float(t.log_abs_det_jacobian(theta[None], t(theta[None]))) == pytest.approx(float(expected), rel=1e-9)


def test_values_at_and_beyond_the_bounds():
    t = _transform()
    theta = torch.tensor([[40.0, 0.0, 3.0], [200.0 - 1e-6, 0.0, 0.5 + 1e-6], [250.0, 0.0, 1.0]],
                         dtype=torch.float64)
    z = t(theta)
    assert torch.isfinite(z).all()  # clamped, never inf
    ladj = t.log_abs_det_jacobian(theta, z)
    assert ladj[0] == -math.inf and ladj[2] == -math.inf  # on / outside the box: zero density
    assert math.isfinite(float(ladj[1]))
    # Extreme standardised values map back inside the closed box.
    back = t.inv(torch.tensor([[-60.0, 0.0, 60.0]], dtype=torch.float64))
    assert LOW[0] <= back[0, 0] <= HIGH[0] and LOW[2] <= back[0, 2] <= HIGH[2]


def test_float32_near_the_bound_stays_finite():
    t = BoxToStandard(torch.zeros(1), torch.ones(1), torch.zeros(1), torch.ones(1))
    z = t(torch.tensor([[1.0 - 1e-8]], dtype=torch.float32))
    assert z.dtype == torch.float32 and torch.isfinite(z).all()


@pytest.mark.parametrize(("low", "high"), [([0.0], [math.inf]), ([1.0], [1.0]), ([2.0], [1.0])])
def test_half_open_or_empty_bounds_are_rejected(low, high):
    with pytest.raises(ConfigError):
        check_bounds(torch.tensor(low), torch.tensor(high))
