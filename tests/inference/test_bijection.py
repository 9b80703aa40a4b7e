"""The box-to-R transform of every theta map: invertible, correct log-determinant, safe at the
bounds; for the bijective maps a density pushed through it integrates to 1 over the box, for
``truncated`` to the base mass inside the box (the posterior renormalises it)."""

from __future__ import annotations

import math

import pytest
import torch

from cardiosbi.errors import ConfigError
from cardiosbi.inference.bijection import (
    BIJECTIVE_MAPS,
    SOFT_BOX_MARGIN,
    THETA_MAPS,
    BoxToStandard,
    check_bounds,
)
from cardiosbi.inference.estimators import EstimatorConfig, build_estimator

LOW = torch.tensor([40.0, -math.inf, 0.5], dtype=torch.float64)
HIGH = torch.tensor([200.0, math.inf, 3.0], dtype=torch.float64)
MEAN = torch.tensor([0.3, -1.0, 0.1], dtype=torch.float64)
STD = torch.tensor([1.7, 4.0, 0.6], dtype=torch.float64)


def _transform(theta_map="logit"):
    return BoxToStandard(LOW, HIGH, MEAN, STD, theta_map)


def _inside(n, generator):
    u = torch.rand(n, 3, generator=generator, dtype=torch.float64)
    theta = LOW + (HIGH - LOW) * u
    theta[:, 1] = 10 * torch.randn(n, generator=generator, dtype=torch.float64)
    return theta


def _near_the_bounds(n, generator):
    """Points at 1e-11 .. 1e-2 of the box width from either bound (bounded dimensions)."""
    theta = _inside(n, generator)
    distance = 10 ** (-11 + 9 * torch.rand(n, 3, generator=generator, dtype=torch.float64))
    upper = torch.rand(n, 3, generator=generator) < 0.5
    near = torch.where(upper, HIGH - distance * (HIGH - LOW), LOW + distance * (HIGH - LOW))
    theta[:, [0, 2]] = near[:, [0, 2]]
    return theta


@pytest.mark.parametrize("theta_map", THETA_MAPS)
def test_round_trip(seed, theta_map):
    generator = torch.Generator().manual_seed(seed)
    t = _transform(theta_map)
    theta = _inside(200, generator)
    torch.testing.assert_close(t.inv(t(theta)), theta, rtol=1e-9, atol=1e-9)
    # Next to a bound the distance to it survives the round trip, up to a few ulps of the bound.
    theta = _near_the_bounds(200, generator)
    back = t.inv(t(theta))
    for j in (0, 2):
        gap = torch.minimum(theta[:, j] - LOW[j], HIGH[j] - theta[:, j])
        gap_back = torch.minimum(back[:, j] - LOW[j], HIGH[j] - back[:, j])
        ulp = torch.finfo(torch.float64).eps * float(HIGH[j])
        torch.testing.assert_close(gap_back, gap, rtol=1e-7, atol=4 * ulp)


@pytest.mark.parametrize("theta_map", THETA_MAPS)
def test_log_det_matches_autograd_jacobian(seed, theta_map):
    t = _transform(theta_map)
    generator = torch.Generator().manual_seed(seed)
    points = torch.cat([_inside(5, generator), _near_the_bounds(5, generator)])
    for theta in points:
        jacobian = torch.autograd.functional.jacobian(t, theta)
        expected = torch.linalg.slogdet(jacobian).logabsdet
        assert float(t.log_abs_det_jacobian(theta[None], t(theta[None]))) == pytest.approx(float(expected), rel=1e-9)


def test_soft_box_is_affine_inside_and_unbounded_at_the_bounds():
    t = BoxToStandard(torch.tensor([-3.0]), torch.tensor([5.0]), torch.zeros(1), torch.ones(1), "soft_box")
    d = SOFT_BOX_MARGIN
    # Inner (1 - d) of the half-widths: y = u, the box scaled to (-1, 1), slope 1 / 4.
    u = torch.linspace(-(1 - d), 1 - d, 101, dtype=torch.float64)[:, None]
    theta = 1 + 4 * u
    torch.testing.assert_close(t(theta), u)
    torch.testing.assert_close(t.log_abs_det_jacobian(theta, t(theta)), torch.full((101,), -math.log(4.0),
                               dtype=torch.float64))
    # Continuous with slope 1 at the joint, steeper beyond, beyond any finite value at the bounds.
    joint = torch.tensor([[1 + 4 * (1 - d)]], dtype=torch.float64)
    step = 1e-7
    slope = (t(joint + step) - t(joint)) / step * 4
    assert float(slope) == pytest.approx(1.0, rel=1e-5)
    assert float(t(torch.tensor([[5.0 - 1e-9]], dtype=torch.float64))) > 2.0


@pytest.mark.parametrize("theta_map", THETA_MAPS)
def test_values_at_and_beyond_the_bounds(theta_map):
    t = _transform(theta_map)
    theta = torch.tensor([[40.0, 0.0, 3.0], [200.0 - 1e-6, 0.0, 0.5 + 1e-6], [250.0, 0.0, 1.0]],
                         dtype=torch.float64)
    z = t(theta)
    assert torch.isfinite(z).all()  # clamped, never inf
    ladj = t.log_abs_det_jacobian(theta, z)
    assert ladj[0] == -math.inf and ladj[2] == -math.inf  # on / outside the box: zero density
    assert math.isfinite(float(ladj[1]))
    # Extreme standardised values map back inside the closed box (truncated: they do not).
    back = t.inv(torch.tensor([[-60.0, 0.0, 60.0]], dtype=torch.float64))
    inside = LOW[0] <= back[0, 0] <= HIGH[0] and LOW[2] <= back[0, 2] <= HIGH[2]
    assert inside != t.truncates


@pytest.mark.parametrize("theta_map", THETA_MAPS)
def test_float32_near_the_bound_stays_finite(theta_map):
    t = BoxToStandard(torch.zeros(1), torch.ones(1), torch.zeros(1), torch.ones(1), theta_map)
    z = t(torch.tensor([[1.0 - 1e-8]], dtype=torch.float32))
    assert z.dtype == torch.float32 and torch.isfinite(z).all()


@pytest.mark.parametrize("theta_map", BIJECTIVE_MAPS)
def test_draws_of_any_standardised_value_land_in_the_box(seed, theta_map):
    t = _transform(theta_map)
    z = 30 * torch.randn(100_000, 3, generator=torch.Generator().manual_seed(seed))
    theta = t.inv(z)
    assert z.dtype == theta.dtype == torch.float32
    for j in (0, 2):
        assert bool(((theta[:, j] >= LOW[j]) & (theta[:, j] <= HIGH[j])).all())


def _log_grid(low: float, high: float, n: int) -> torch.Tensor:
    """A quadrature grid of the open box, geometric towards both bounds (to 1e-12 of the
    half-width; closer, float64 spacing of theta itself spoils the trapezoid rule), so mass piled
    up right next to a bound is resolved."""
    half = (high - low) / 2
    steps = half * torch.logspace(-12, -2, n, dtype=torch.float64)
    uniform = torch.linspace(low, high, 20 * n, dtype=torch.float64)[1:-1]
    return torch.cat([low + steps, uniform, (high - steps).flip(0)]).unique()


@pytest.mark.parametrize("theta_map", BIJECTIVE_MAPS)
def test_pushed_density_integrates_to_one_over_the_box_1d(theta_map):
    low, high = 40.0, 200.0
    t = BoxToStandard(torch.tensor([low]), torch.tensor([high]), torch.tensor([0.2], dtype=torch.float64),
                      torch.tensor([0.6], dtype=torch.float64), theta_map)
    grid = _log_grid(low, high, 2_000)[:, None]
    z = t(grid)
    # A wide, off-centre base puts real mass in both tails of the map.
    base = torch.distributions.Normal(0.5, 1.2)
    density = (base.log_prob(z[:, 0]) + t.log_abs_det_jacobian(grid, z)).exp()
    assert float(torch.trapezoid(density, grid[:, 0])) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("theta_map", BIJECTIVE_MAPS)
def test_flow_density_integrates_to_one_over_the_box_2d(theta_map):
    torch.manual_seed(1)
    # A random (not identity-started) coupling NSF conditioned on a fixed context.
    flow = build_estimator(EstimatorConfig(transforms=2, hidden=[16, 16], identity_init=False), 2, 3)
    low, high = torch.tensor([-1.0, 0.5]), torch.tensor([1.0, 3.0])
    t = BoxToStandard(low, high, torch.zeros(2, dtype=torch.float64),
                      torch.full((2,), 0.7, dtype=torch.float64), theta_map)
    g0, g1 = _log_grid(-1.0, 1.0, 20), _log_grid(0.5, 3.0, 20)
    theta = torch.cartesian_prod(g0, g1)
    z = t(theta)
    with torch.no_grad():
        log_q = flow(torch.ones(len(theta), 3)).log_prob(z.float()).double()
    density = (log_q + t.log_abs_det_jacobian(theta, z)).exp().reshape(len(g0), len(g1))
    integral = torch.trapezoid(torch.trapezoid(density, g1, dim=1), g0)
    assert float(integral) == pytest.approx(1.0, abs=5e-3)


def test_truncated_density_integrates_to_the_base_mass_inside_the_box():
    # Identity map + z-scoring: the pushed Normal(m, s) density over the box integrates to
    # Phi((high - m') / s') - Phi((low - m') / s') in physical units, not to 1.
    low, high, mean, std = 40.0, 200.0, 150.0, 30.0
    t = BoxToStandard(torch.tensor([low]), torch.tensor([high]), torch.tensor([mean], dtype=torch.float64),
                      torch.tensor([std], dtype=torch.float64), "truncated")
    assert t.truncates
    base = torch.distributions.Normal(0.5, 1.2)
    grid = torch.linspace(low, high, 20_001, dtype=torch.float64)[1:-1, None]
    z = t(grid)
    density = (base.log_prob(z[:, 0]) + t.log_abs_det_jacobian(grid, z)).exp()
    expected = base.cdf(torch.tensor((high - mean) / std)) - base.cdf(torch.tensor((low - mean) / std))
    assert float(torch.trapezoid(density, grid[:, 0])) == pytest.approx(float(expected), abs=1e-4)
    assert 0.5 < float(expected) < 0.95  # real leakage beyond the upper bound


def test_truncated_map_does_not_truncate_unbounded_parameters():
    t = BoxToStandard(torch.tensor([-math.inf]), torch.tensor([math.inf]), torch.zeros(1), torch.ones(1),
                      "truncated")
    assert not t.truncates


@pytest.mark.parametrize(("low", "high"), [([0.0], [math.inf]), ([1.0], [1.0]), ([2.0], [1.0])])
def test_half_open_or_empty_bounds_are_rejected(low, high):
    with pytest.raises(ConfigError):
        check_bounds(torch.tensor(low), torch.tensor(high))
