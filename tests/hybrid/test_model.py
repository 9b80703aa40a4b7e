"""The PPG -> APW conditional VAE: shapes and units of its decodes, the latent draws, the
deterministic (latent_dim = 0) baseline, and — statistically, on synthetic pairs — that the
decoded pressure keeps its absolute level and that the conditional prior p(z | PPG) carries the
level spread the PPG does not determine.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cardiosbi.errors import ConfigError
from cardiosbi.hybrid import CVAEConfig, PressureCVAE
from tests.hybrid.conftest import TINY, synthetic_pairs, tiny_cvae

T = 64


def _ppg(batch: int, seed: int = 0, length: int = T) -> torch.Tensor:
    pairs, _ = synthetic_pairs(batch, length, seed=seed)
    return torch.from_numpy(pairs.ppg[:, None])


def _fit(train, epochs: int, lr: float, warmup: int, seed: int) -> PressureCVAE:
    """A tiny CVAE trained on ``train`` by -ELBO (KL weight warmed up over ``warmup`` epochs)
    with Adam; a few seconds on one core. Seeded before the network is built, so the result
    does not depend on which tests ran before."""
    torch.manual_seed(seed)
    cvae = PressureCVAE(T, CVAEConfig(**TINY), float(train.apw.mean()), float(train.apw.std()))
    ppg, apw = torch.from_numpy(train.ppg[:, None]), torch.from_numpy(train.apw[:, None])
    optimizer = torch.optim.Adam(cvae.parameters(), lr=lr)
    for epoch in range(epochs):
        beta = min(1.0, (epoch + 1) / warmup)
        for rows in torch.randperm(len(ppg)).split(64):
            terms = cvae.loss_terms(ppg[rows], apw[rows])
            loss = (terms["nll"] + beta * terms["kl"]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return cvae.eval()


# --- shapes, units, latent draws ----------------------------------------------------------------
def test_sample_apw_shape_and_mmhg_units():
    cvae = tiny_cvae(length=T, apw_mean=95.0, apw_std=12.0)
    ppg = _ppg(3)
    decoded = cvae.sample_apw(ppg, 5, torch.Generator().manual_seed(0))
    assert decoded.shape == (5, 3, 1, T) and decoded.dtype == torch.float32
    assert torch.isfinite(decoded).all()
    # The absolute level lives in the buffers, in mmHg: the same weights with a mean 50 mmHg
    # higher decode exactly 50 mmHg higher, and the SD scales the standardised decode.
    shifted = tiny_cvae(length=T, apw_mean=145.0, apw_std=12.0)
    torch.testing.assert_close(shifted.sample_apw(ppg, 5, torch.Generator().manual_seed(0)),
                               decoded + 50.0, rtol=0, atol=1e-4)
    wider = tiny_cvae(length=T, apw_mean=95.0, apw_std=24.0)
    torch.testing.assert_close(wider.sample_apw(ppg, 5, torch.Generator().manual_seed(0)) - 95.0,
                               2 * (decoded - 95.0), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(cvae.to_mmhg(cvae.standardize(decoded)), decoded)


def test_deterministic_map_repeats_its_one_decode():
    ppg = _ppg(3)
    cvae = tiny_cvae(latent_dim=0, length=T)
    assert not hasattr(cvae, "prior_head") and not hasattr(cvae, "encoder_head")
    decoded = cvae.sample_apw(ppg, 4, torch.Generator().manual_seed(0))
    assert decoded.shape == (4, 3, 1, T)
    for i in range(1, 4):
        assert torch.equal(decoded[i], decoded[0])
    assert not torch.equal(decoded[0, 0], decoded[0, 1])  # ... but one decode per window
    terms = cvae.loss_terms(ppg, decoded[0])
    assert torch.equal(terms["kl"], torch.zeros(3))
    # with a latent, the repeated decodes of one window differ
    latent = tiny_cvae(latent_dim=2, length=T).sample_apw(ppg, 4, torch.Generator().manual_seed(0))
    assert (latent[1:] - latent[0]).abs().amax() > 1e-3


def test_latent_draws_are_prior_draws_per_window():
    """Decode m of the (m, B) batch is decode(PPG b, mean_b + sd_b * eps[m, b]): no window
    receives another window's prior or features."""
    cvae = tiny_cvae(latent_dim=2, length=T)
    ppg = _ppg(3, seed=1)
    decoded = cvae.sample_apw(ppg, 4, torch.Generator().manual_seed(7))
    eps = torch.randn((4, 3, 2), generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        for b in range(3):
            features = cvae.condition(ppg[b : b + 1])
            prior = cvae.prior(features)
            for i in range(4):
                z = prior.mean + prior.stddev * eps[i, b]
                expected = cvae.to_mmhg(cvae.decode(features, z))[0]
                torch.testing.assert_close(decoded[i, b], expected, rtol=1e-5, atol=1e-4)


def test_seeded_decodes_are_reproducible():
    cvae = tiny_cvae(length=T)
    ppg = _ppg(2)
    a = cvae.sample_apw(ppg, 3, torch.Generator().manual_seed(1))
    assert torch.equal(a, cvae.sample_apw(ppg, 3, torch.Generator().manual_seed(1)))
    assert not torch.equal(a, cvae.sample_apw(ppg, 3, torch.Generator().manual_seed(2)))


def test_every_parameter_is_trained_by_the_elbo():
    cvae = tiny_cvae(length=T)
    pairs, _ = synthetic_pairs(8, T)
    terms = cvae.loss_terms(torch.from_numpy(pairs.ppg[:, None]), torch.from_numpy(pairs.apw[:, None]))
    assert terms["nll"].shape == terms["kl"].shape == terms["rmse"].shape == (8,)
    assert (terms["kl"] >= 0).all()
    (terms["nll"] + terms["kl"]).mean().backward()
    unused = [name for name, p in cvae.named_parameters() if p.grad is None or not p.grad.any()]
    assert not unused, f"parameters outside the -ELBO graph: {unused}"


@pytest.mark.parametrize("config, length", [
    ({"channels": []}, 64),
    ({"channels": [4, 0]}, 64),
    ({"kernel_size": 4}, 64),
    ({"latent_dim": -1}, 64),
    ({"channels": [4, 8, 8]}, 7),     # three halvings need at least 8 samples
])
def test_invalid_architecture_is_a_config_error(config, length):
    with pytest.raises(ConfigError):
        PressureCVAE(length, CVAEConfig(**{**TINY, **config}))


# --- statistics on synthetic pairs -------------------------------------------------------------
def _decoded_levels(cvae: PressureCVAE, pairs, draws: int = 400):
    """(draws, B) window means (MAP) of decodes, and the decodes minus their means."""
    ppg = torch.from_numpy(pairs.ppg[:, None])
    decoded = cvae.sample_apw(ppg, draws, torch.Generator().manual_seed(3))[:, :, 0]
    level = decoded.mean(-1)
    return level, decoded - level[..., None]


def _check_level_spread(cvae: PressureCVAE, spread_range, extreme_range, atol: float) -> None:
    """Decoded MAPs of 20 unseen PPGs (400 latent draws each) against the level ~ N(90, 10^2)
    the pairs were made with; the pulse shape must stay 20 * PPG."""
    test, _ = synthetic_pairs(20, T, seed=7)
    level, shape = _decoded_levels(cvae, test)
    spread = level.std(dim=0)                          # per PPG, over the latent draws
    assert spread_range[0] < float(spread.mean()) < spread_range[1], spread
    assert extreme_range[0] < float(spread.min()) and float(spread.max()) < extreme_range[1], spread
    offset = level.mean(dim=0) - 90.0                  # finite-data fits: some bias per PPG
    assert abs(float(offset.mean())) < 3.0 and float(offset.abs().max()) < 6.5, offset
    quantiles = np.quantile(level.flatten().numpy(), [0.1, 0.5, 0.9])   # pooled over PPGs
    np.testing.assert_allclose(quantiles, 90.0 + 10.0 * np.array([-1.2816, 0.0, 1.2816]), atol=atol)
    amplitude = 20.0 * torch.from_numpy(test.ppg)
    assert float((shape - amplitude).abs().mean()) < 3.0   # vs a 20 mmHg pulse amplitude


def test_conditional_prior_carries_the_level_the_ppg_does_not_determine():
    """APW = level + 20 * PPG with level ~ N(90, 10^2) independent of the PPG: for one PPG the
    decoded MAP across latent draws must spread like the level distribution (SD 10 mmHg, mean
    90) while the pulse shape stays that of the PPG. A decoder that ignored z, or a collapsed
    prior, gives an SD near 0; one that forgot the standardisation, a wrong level.

    Tolerances: the SD of 400 draws has a sampling error of ~0.35 mmHg; the rest is the fit of
    a tiny network in 25 epochs (over 15 training seeds: mean SD 7.6-11.0 mmHg, pooled deciles
    within 3.2 mmHg; with a 5-epoch warm-up 1 seed in 12 partly collapsed to SD 4.6)."""
    train, _ = synthetic_pairs(512, T, level_sd=10.0, seed=1)
    cvae = _fit(train, epochs=25, lr=5e-3, warmup=10, seed=1)
    _check_level_spread(cvae, spread_range=(7.0, 13.0), extreme_range=(6.0, 14.0), atol=4.0)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 2, 3])
def test_conditional_prior_level_spread_tight(seed):
    """The same claim, trained longer (40 epochs), on three seeds, with tighter tolerances."""
    train, _ = synthetic_pairs(512, T, level_sd=10.0, seed=seed)
    cvae = _fit(train, epochs=40, lr=5e-3, warmup=10, seed=seed)
    _check_level_spread(cvae, spread_range=(8.5, 11.5), extreme_range=(7.5, 12.5), atol=2.5)


def test_decoded_level_follows_what_the_ppg_carries():
    """level = 90 + 40 (f - 3.5) / 3 + N(0, 5^2), f the PPG's frequency: the decoded MAP must sit
    at the level the PPG implies (a 40 mmHg range, in absolute mmHg) and spread by the 5 mmHg
    the PPG does not determine (over 9 training seeds: correlation >= 0.97, mean error <= 3.4
    mmHg, mean SD 4.4-5.3 mmHg; a PPG-blind level would give a mean error near 10 mmHg)."""
    train, _ = synthetic_pairs(512, T, level_sd=5.0, level_of_frequency=40.0, seed=2)
    cvae = _fit(train, epochs=15, lr=1e-2, warmup=5, seed=1)
    test, implied = synthetic_pairs(20, T, level_sd=5.0, level_of_frequency=40.0, seed=7)
    level, _ = _decoded_levels(cvae, test)
    centre = level.mean(dim=0).numpy()
    assert np.corrcoef(centre, implied)[0, 1] > 0.9
    assert np.abs(centre - implied).mean() < 5.0, np.c_[centre, implied]
    spread = level.std(dim=0)
    assert 3.5 < float(spread.mean()) < 6.5, spread
    assert float(spread.max()) < 9.0, spread
