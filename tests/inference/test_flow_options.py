"""Flow architecture options (conditioner, mixing, spline bound, identity start, theta map, fast
spline) and the promise that posterior files written before they existed rebuild their original network."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from zuko.transforms import MonotonicRQSTransform

from cardiosbi.errors import ConfigError
from cardiosbi.inference import EstimatorConfig, NPEConfig, load_posterior
from cardiosbi.inference.estimators import LEGACY_FLOW, build_estimator
from cardiosbi.inference.spline import RQSpline
from cardiosbi.inference.training import check_config
from tests.inference._tiny import train_case

FLOW_KEYS = tuple(LEGACY_FLOW)


def _flow(**options) -> nn.Module:
    torch.manual_seed(0)
    return build_estimator(EstimatorConfig(**{"transforms": 2, "hidden": [16, 16], **options}), 2, 3)


def _normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * (z**2).sum(-1) - z.shape[-1] * 0.5 * math.log(2 * math.pi)


def test_options_change_the_architecture():
    legacy = _flow(**LEGACY_FLOW)
    lu = _flow(**{**LEGACY_FLOW, "mixing": "lu"})
    residual = _flow(**{**LEGACY_FLOW, "conditioner": "residual"})
    # One 2x2 LU matrix after each of the 2 transforms, nothing else added.
    count = sum(p.numel() for p in legacy.parameters())
    assert sum(p.numel() for p in lu.parameters()) == count + 2 * 4
    matrices = [p for name, p in lu.named_parameters() if "hyper" not in name]
    assert [tuple(p.shape) for p in matrices] == [(2, 2), (2, 2)]
    assert any(type(m).__name__ == "Residual" for m in residual.modules())
    assert not any(type(m).__name__ == "Residual" for m in legacy.modules())


def test_identity_init_starts_at_the_base_distribution():
    flow = _flow(identity_init=True)
    theta, context = torch.randn(64, 2) * 3, torch.randn(64, 3)
    with torch.no_grad():
        log_prob = flow(context).log_prob(theta)
    torch.testing.assert_close(log_prob, _normal_log_prob(theta), rtol=1e-5, atol=1e-5)
    legacy = _flow(**LEGACY_FLOW)
    with torch.no_grad():
        assert not torch.allclose(legacy(context).log_prob(theta), _normal_log_prob(theta), atol=1e-3)


def test_spline_is_the_identity_outside_its_bound():
    # A non-identity start: the last conditioner layer is random, only the bound limits splines.
    flow = _flow(**{**LEGACY_FLOW, "spline_bound": 2.0, "transforms": 1, "passes": None})
    context = torch.randn(8, 3)
    far = torch.tensor([[4.0, -3.0]]).expand(8, 2)
    near = torch.tensor([[0.3, -0.2]]).expand(8, 2)
    with torch.no_grad():
        transform = flow(context).transform
        torch.testing.assert_close(transform(far), far)
        assert not torch.allclose(transform(near), near, atol=1e-3)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("conditioner", "deep", "conditioner"),
    ("mixing", "householder", "mixing"),
    ("spline_bound", 0.0, "spline_bound"),
    ("theta_map", "tanh", "theta_map"),
])
def test_bad_option_values_are_config_errors(key, value, message):
    config = NPEConfig.from_dict({"model": {"estimator": {key: value}}})
    with pytest.raises(ConfigError, match=message):
        check_config(config, (3,))


def test_saved_config_without_the_keys_means_the_legacy_flow():
    old = {"model": {"estimator": {"kind": "nsf", "bins": 10}}, "seed": 3}
    config = NPEConfig.from_saved(old)
    assert {key: getattr(config.model.estimator, key) for key in FLOW_KEYS} == LEGACY_FLOW
    assert config.model.estimator.bins == 10 and config.seed == 3
    # Keys a newer file does hold are kept.
    new = NPEConfig.from_saved({"model": {"estimator": {"mixing": "lu"}}})
    assert new.model.estimator.mixing == "lu"


@pytest.fixture(scope="module")
def legacy_file(tmp_path_factory):
    """A posterior trained with the legacy flow, saved, then stripped of the new keys: what a
    file written before they existed looks like."""
    torch.set_num_threads(1)
    posterior, _task, x = train_case("nsf", n=200, model={"estimator": dict(LEGACY_FLOW)})
    path = tmp_path_factory.mktemp("legacy") / "old.pt"
    posterior.save(path)
    payload = torch.load(path, weights_only=True)
    estimator = payload["state"]["config"]["model"]["estimator"]
    for key in FLOW_KEYS:
        del estimator[key]
    torch.save(payload, path)
    return path, posterior, x


def test_old_file_loads_and_samples_exactly_as_trained(legacy_file):
    path, trained, x = legacy_file
    loaded = load_posterior(path)
    assert loaded.network.theta_map == "logit"
    draws = loaded.sample((100,), x=x, generator=torch.Generator().manual_seed(5))
    expected = trained.sample((100,), x=x, generator=torch.Generator().manual_seed(5))
    assert torch.equal(draws, expected)
    theta = draws[0]
    assert torch.equal(loaded.log_prob(theta, x), trained.log_prob(theta, x))


def test_shipped_posteriors_rebuild_their_legacy_flow(repo_root):
    for name in ("apw", "ppg"):
        payload = torch.load(repo_root / f"cardiosbi/assets/models/{name}.pt", weights_only=True)
        saved = payload["state"]["config"]["model"]["estimator"]
        expected = {key: saved.get(key, LEGACY_FLOW[key]) for key in FLOW_KEYS}
        posterior = load_posterior(repo_root / f"cardiosbi/assets/models/{name}.pt")  # strict load
        assert {key: getattr(posterior.config.model.estimator, key) for key in FLOW_KEYS} == expected


def test_soft_box_file_keeps_its_map_and_draws_stay_in_the_box(tmp_path):
    torch.set_num_threads(1)
    posterior, task, x = train_case("nsf", n=200, model={"estimator": {"theta_map": "soft_box"}})
    posterior.save(tmp_path / "soft.pt")
    loaded = load_posterior(tmp_path / "soft.pt")
    assert loaded.network.theta_map == loaded.bijection.theta_map == "soft_box"
    assert loaded.config.model.estimator.theta_map == "soft_box"
    draws = loaded.sample((2000,), x=x, generator=torch.Generator().manual_seed(2))
    assert torch.equal(draws, posterior.sample((2000,), x=x, generator=torch.Generator().manual_seed(2)))
    low, high = task.bounds()
    assert bool(((draws >= low) & (draws <= high)).all())


def test_shipped_posteriors_sample_as_before_the_theta_map_option(repo_root):
    # Reference made by the code before ``theta_map`` existed (tests/data/inference/README.md).
    # Bit-identity is checked in-process above; across CPUs a convolution may differ in the last
    # bits, so this compares at float32 round-off, far below what any change of map would do.
    reference = torch.load(repo_root / "tests/data/inference/shipped_draws.pt", weights_only=True)
    torch.set_num_threads(1)
    for name, expected in reference.items():
        posterior = load_posterior(repo_root / f"cardiosbi/assets/models/{name}.pt")
        x = torch.randn((2, *posterior.network.x_shape), generator=torch.Generator().manual_seed(11))
        draws = posterior.sample((64,), x=x, generator=torch.Generator().manual_seed(12))
        torch.testing.assert_close(draws, expected["draws"], rtol=1e-5, atol=1e-5)
        with torch.no_grad():
            log_prob = posterior.log_prob(draws[:, 0], x[:1].expand(64, *x.shape[1:]))
        torch.testing.assert_close(log_prob, expected["log_prob"], rtol=1e-5, atol=1e-4)


def test_fast_spline_is_zukos_spline_up_to_rounding():
    g = torch.Generator().manual_seed(4)
    widths, heights = 3 * torch.randn(2, 500, 10, generator=g)
    derivatives = 3 * torch.randn(500, 9, generator=g)
    ours, zukos = (cls(widths, heights, derivatives, bound=5.0) for cls in (RQSpline, MonotonicRQSTransform))
    x = 6 * torch.randn(500, generator=g)  # some outside [-5, 5], where both are the identity
    torch.testing.assert_close(ours(x), zukos(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.inv(x), zukos.inv(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.log_abs_det_jacobian(x, ours(x)), zukos.log_abs_det_jacobian(x, zukos(x)),
                               rtol=1e-4, atol=1e-4)


def test_fast_spline_switch_keeps_the_flow_function():
    fast, slow = _flow(fast_spline=True, identity_init=False), _flow(fast_spline=False, identity_init=False)
    slow.load_state_dict(fast.state_dict())  # same weights: the switch adds no parameters
    theta, context = torch.randn(256, 2) * 2, torch.randn(256, 3)
    with torch.no_grad():
        torch.testing.assert_close(fast(context).log_prob(theta), slow(context).log_prob(theta),
                                   rtol=1e-4, atol=1e-4)
    assert fast.flow.transform.transforms[0].univariate.func is RQSpline
    assert slow.flow.transform.transforms[0].univariate.func is MonotonicRQSTransform
