"""Embedding networks: shapes, any window length, batch independence, missing-data mask."""

from __future__ import annotations

import math

import pytest
import torch

from cardiosbi.errors import ConfigError
from cardiosbi.nn import EmbeddingConfig, MissingDataMask, Standardize, build_embedding

SERIES_KINDS = ["resnet1d", "tcn", "transformer"]


@pytest.mark.parametrize("kind", SERIES_KINDS)
@pytest.mark.parametrize("length", [250, 1000, 1250])
def test_series_embedding_shape_for_any_window_length(kind, length, seed):
    net = build_embedding(EmbeddingConfig(kind=kind, features=24, channels=[8, 8, 16]), (2, length))
    out = net(torch.randn(5, 2, length))
    assert out.shape == (5, 24)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("kind", SERIES_KINDS + ["mlp"])
def test_embedding_of_a_row_does_not_depend_on_the_batch(kind, seed):
    shape = (3, 200) if kind in SERIES_KINDS else (7,)
    net = build_embedding(EmbeddingConfig(kind=kind, features=16, channels=[8, 16]), shape).train()
    x = torch.randn(6, *shape)
    together = net(x)
    alone = torch.cat([net(x[i : i + 1]) for i in range(6)])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(net.eval()(x), together)


def test_auto_kind_and_identity_for_vectors():
    assert build_embedding(EmbeddingConfig(), (4,)).out_features == 4
    net = build_embedding(EmbeddingConfig(), (2, 300))
    assert type(net.body).__name__ == "ResNet1dEmbedding"


@pytest.mark.parametrize(("kind", "shape"), [("tcn", (5,)), ("mlp", (2, 100)), ("rnn", (2, 100))])
def test_embedding_kind_that_does_not_fit_the_data_is_a_config_error(kind, shape):
    with pytest.raises(ConfigError, match="model.embedding.kind"):
        build_embedding(EmbeddingConfig(kind=kind), shape)


def test_transformer_rejects_windows_shorter_than_a_patch():
    with pytest.raises(ConfigError, match="patch"):
        build_embedding(EmbeddingConfig(kind="transformer", patch=50), (1, 40))


def test_missing_data_mask_zeroes_nans_and_adds_indicator():
    x = torch.tensor([[[1.0, math.nan, 3.0], [math.inf, 5.0, 6.0]]])
    out = MissingDataMask()(x)
    assert out.shape == (1, 4, 3)
    torch.testing.assert_close(out[0, :2], torch.tensor([[1.0, 0.0, 3.0], [0.0, 5.0, 6.0]]))
    torch.testing.assert_close(out[0, 2:], torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]))


@pytest.mark.parametrize("kind", SERIES_KINDS)
def test_masked_embedding_is_finite_on_windows_with_gaps(kind, seed):
    config = EmbeddingConfig(kind=kind, features=8, channels=[8, 8], missing_mask=True)
    net = build_embedding(config, (2, 128))
    x = torch.randn(4, 2, 128)
    x[0, 0, 10:60] = math.nan  # a gap in one channel
    x[1, 1, :] = math.nan  # a whole channel missing
    net.standardize.fit(x)
    out = net(x)
    assert torch.isfinite(out).all()
    # The mask is informative: the same values with and without a gap embed differently.
    filled = torch.nan_to_num(x, nan=float(net.standardize.mean[0, 0]))
    assert not torch.allclose(net(filled)[0], out[0])


def test_standardize_is_nan_aware_per_channel_and_per_feature():
    series = torch.stack([torch.full((10, 50), 3.0), 2.0 * torch.randn(10, 50) - 1], dim=1)
    series[0, 1, :5] = math.nan
    stats = Standardize((2, 50)).fit(series)
    assert stats.mean.shape == (2, 1)
    assert float(stats.mean[0, 0]) == pytest.approx(3.0)
    assert float(stats.std[0, 0]) == 1.0  # constant channel keeps unit scale
    finite = series[:, 1][torch.isfinite(series[:, 1])]
    assert float(stats.mean[1, 0]) == pytest.approx(float(finite.mean()), abs=1e-5)
    vectors = torch.randn(500, 3) * torch.tensor([1.0, 10.0, 0.1]) + 4
    out = Standardize((3,)).fit(vectors)(vectors)
    torch.testing.assert_close(out.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(0, unbiased=False), torch.ones(3), atol=1e-4, rtol=0)


@pytest.mark.parametrize("kind", ["resnet1d", "tcn"])
def test_scalar_channels_reach_the_features_outside_the_series_body(kind, seed):
    """Two windows with the same series and different constant channels (log DC of every LED
    shifted together) get different features, and the gradient flows to the scalars."""
    series = torch.randn(1, 2, 64)
    low = torch.cat([series, torch.full((1, 2, 64), 1.0)], dim=1)
    high = torch.cat([series, torch.full((1, 2, 64), 3.0)], dim=1)
    plain = build_embedding(EmbeddingConfig(kind=kind, channels=[8, 8], features=8), (4, 64)).eval()
    split = build_embedding(EmbeddingConfig(kind=kind, channels=[8, 8], features=8, scalar_channels=2),
                            (4, 64)).eval()
    with torch.no_grad():
        moved_split = (split(high) - split(low)).abs().max()
    assert moved_split > 1e-2
    x = torch.cat([low, high]).requires_grad_(True)
    split(x).sum().backward()
    assert x.grad[:, 2:].abs().sum() > 0  # the scalars reach the output
    assert plain(x).shape == split(x).shape == (2, 8)


@pytest.mark.parametrize(("config", "shape"), [
    (EmbeddingConfig(kind="resnet1d", scalar_channels=3), (3, 64)),
    (EmbeddingConfig(kind="mlp", scalar_channels=1), (10,)),
    (EmbeddingConfig(kind="resnet1d", scalar_channels=1, missing_mask=True), (3, 64)),
])
def test_impossible_scalar_channels_are_config_errors(config, shape):
    with pytest.raises(ConfigError, match="scalar_channels"):
        build_embedding(config, shape)
