"""The reject flag: a calibrated 90 %-width threshold that flags uninformative windows."""

from __future__ import annotations

import torch

from cardiosbi.inference import NPEConfig, train_npe


def _heteroscedastic(n: int, generator: torch.Generator):
    """x = (theta + s * eps, s) with an observed noise level s of 0.1 (clean) or 1.5 (noisy)."""
    theta = 4 * torch.rand(n, 1, generator=generator) - 2
    noisy = torch.rand(n, 1, generator=generator) < 0.5
    scale = torch.where(noisy, 1.5, 0.1)
    x = torch.cat([theta + scale * torch.randn(n, 1, generator=generator), scale], dim=1)
    return theta, x, noisy[:, 0]


def test_threshold_flags_noisy_windows_only_at_the_calibrated_rate():
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(2)
    theta, x, _ = _heteroscedastic(2500, generator)
    config = NPEConfig.from_dict({"trainer": {"batch_size": 200, "patience": 5, "reject_quantile": 0.8}})
    posterior = train_npe(theta, x, ["theta"], torch.tensor([-2.0]), torch.tensor([2.0]), config)
    threshold = float(posterior.reject_width90[0])
    assert 0 < threshold < 4

    _, x_test, noisy = _heteroscedastic(400, generator)
    table = posterior.summarize(x_test, n=300, generator=torch.Generator().manual_seed(0))
    reject = torch.as_tensor(table["reject"].to_numpy())
    assert not reject[~noisy].any(), "clean windows are never rejected"
    # Threshold = 80th percentile of validation widths, half of which are noisy: about 40 % of
    # noisy windows (20 % of all) are flagged; binomial sd at n = 400 is 0.02.
    assert abs(float(reject.float().mean()) - 0.2) < 0.08
    width = torch.as_tensor(table["width90"].to_numpy())
    # a window is flagged by its width or for its own reason: a median pinned at a prior bound
    # (a noisy window whose x lies far beyond the simulated theta range)
    at_bound = torch.as_tensor(table["at_bound"].to_numpy(dtype=bool))
    assert torch.equal(reject, (width > threshold) | at_bound)
    assert int(at_bound.sum()) <= 5


def test_without_threshold_nothing_is_rejected_but_unusable_windows_are():
    torch.set_num_threads(1)
    theta, x, _ = _heteroscedastic(300, torch.Generator().manual_seed(3))
    config = NPEConfig.from_dict({"trainer": {"max_epochs": 2, "reject_calibration_samples": 50}})
    posterior = train_npe(theta, x, ["theta"], torch.tensor([-2.0]), torch.tensor([2.0]), config)
    posterior.reject_width90 = torch.tensor([float("nan")])
    x_test = x[:4].clone()
    x_test[2, 0] = float("inf")
    table = posterior.summarize(x_test, n=50)
    assert table["reject"].tolist() == [False, False, True, False]
    assert table.loc[2, ["mean", "median", "width90"]].isna().all()
