"""HybridPosterior on the shipped APW posterior with tiny untrained CVAEs of length 1000.

An untrained U-Net already passes the PPG's beat timing to its decode, so windows of different
heart rates give decoded pressures the APW posterior tells apart (checked where a test needs
that power). Properties: the Posterior contract (shape, prior box, seeds), the mixture density
and sampling, the deterministic one-component limit, the file round trip and its hash check,
summarize's reject column, input checks, and the infer-side input spec.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from cardiosbi.errors import CardiosbiError, ConfigError, SignalError
from cardiosbi.estimate import model_input, window_config
from cardiosbi.hybrid import CVAEConfig, HybridPosterior, PairSet, PressureCVAE
from cardiosbi.hybrid.posterior import LOG_PROB_SEED
from cardiosbi.inference import load_posterior
from cardiosbi.io import load_recording
from cardiosbi.signals.windows import make_windows
from tests.hybrid.conftest import LENGTH, TINY, ppg_batch, pressure, tiny_cvae

N_PARAMS = 7


def _ks_same(a: torch.Tensor, b: torch.Tensor, tests: int, alpha: float = 1e-3) -> list[str]:
    """Columns (…, k) of two draw sets whose two-sample KS test rejects equality at ``alpha``
    (Bonferroni over ``tests``)."""
    bad = []
    a2, b2 = a.reshape(a.shape[0], -1).numpy(), b.reshape(b.shape[0], -1).numpy()
    for j in range(a2.shape[1]):
        p = stats.ks_2samp(a2[:, j], b2[:, j]).pvalue
        if p < alpha / tests:
            bad.append(f"column {j}: p={p:.2g}")
    return bad


@pytest.fixture
def x():
    return ppg_batch()          # 3 windows at 60, 110 and 80 bpm


# --- the Posterior contract ----------------------------------------------------------------------
def test_sample_shape_and_prior_box(make_hybrid, apw, x):
    hybrid = make_hybrid(n_apw=4)
    assert hybrid.parameter_names == apw.parameter_names and hybrid.units == apw.units
    draws = hybrid.sample((10,), x=x, generator=torch.Generator().manual_seed(0))  # 10 is not a multiple of 4
    assert draws.shape == (10, 3, N_PARAMS)
    assert torch.isfinite(draws).all()
    assert (draws >= hybrid.low.float()).all() and (draws <= hybrid.high.float()).all()
    assert hybrid.sample_apw(x, generator=torch.Generator().manual_seed(0)).shape == (4, 3, LENGTH)


def test_seeded_sampling_is_reproducible(make_hybrid, x):
    hybrid = make_hybrid()
    a = hybrid.sample((12,), x=x, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, hybrid.sample((12,), x=x, generator=torch.Generator().manual_seed(3)))
    assert not torch.equal(a, hybrid.sample((12,), x=x, generator=torch.Generator().manual_seed(4)))


def test_log_prob_is_the_mixture_over_decoded_pressures(make_hybrid, apw, x):
    """log p(θ | PPG) = logsumexp_m log q(θ | APW_m) - log M, APW_m decoded with the fixed
    log-prob seed; computed here one component at a time with the infer-side normalisation."""
    m = 4
    hybrid = make_hybrid(n_apw=m)
    theta = apw.sample((1,), x=model_input(apw, hybrid.sample_apw(x, 1)[0, :, None].numpy()), generator=torch.Generator().manual_seed(1))[0]
    decoded = hybrid.sample_apw(x, m, torch.Generator().manual_seed(LOG_PROB_SEED))
    components = torch.stack([apw.log_prob(theta, model_input(apw, decoded[i, :, None].numpy()))
                              for i in range(m)]).detach()
    assert (components.amax(0) - components.amin(0) > 0.1).all()  # components differ: power
    expected = torch.logsumexp(components, dim=0) - math.log(m)
    got = hybrid.log_prob(theta, x).detach()
    assert got.shape == (3,)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)
    # deterministic, and untouched by sampling in between
    hybrid.sample((8,), x=x, generator=torch.Generator().manual_seed(9))
    assert torch.equal(hybrid.log_prob(theta, x).detach(), got)


class _FixedPressures(PressureCVAE):
    """A CVAE stand-in whose M decodes are given pressures (M, B, T), whatever the seed."""

    def __init__(self, pressures: torch.Tensor) -> None:
        super().__init__(LENGTH, CVAEConfig(**{**TINY, "latent_dim": 0}))
        self.fixed = pressures

    def sample_apw(self, ppg, m, generator=None, prior_scale=1.0):
        assert m == len(self.fixed) and ppg.shape[0] == self.fixed.shape[1]
        return self.fixed[:, :, None].clone()


def test_samples_are_the_equal_weight_mixture_of_the_components(apw, x):
    """Four well-separated pressures per window (MAP 65…110 mmHg, two heart rates): the
    hybrid's draws must follow the equal-weight mixture of the APW posteriors on them, window by
    window (two-sample KS per window and biomarker)."""
    levels, hrs = [65.0, 80.0, 95.0, 110.0], [60.0, 110.0]
    fixed = torch.stack([torch.stack([pressure(hr, level) for hr in hrs]) for level in levels])
    hybrid = HybridPosterior(_FixedPressures(fixed), apw, n_apw=len(levels))
    ppg = x[:2]
    draws = hybrid.sample((2000,), x=ppg, generator=torch.Generator().manual_seed(0))
    reference = torch.cat([apw.sample((500,), x=model_input(apw, fixed[i, :, None].numpy()), generator=torch.Generator().manual_seed(10 + i))
                           for i in range(len(levels))])
    assert draws.shape == reference.shape == (2000, 2, N_PARAMS)
    assert not _ks_same(draws, reference, tests=2 * N_PARAMS)
    # power: only the first component, or the windows swapped, would be detected
    assert _ks_same(reference[:500], reference, tests=2 * N_PARAMS)
    assert _ks_same(reference.flip(1), reference, tests=2 * N_PARAMS)


def test_one_deterministic_component_is_the_apw_posterior(make_hybrid, apw, x):
    """n_apw = 1 and latent_dim = 0: the hybrid is the APW posterior on the one decoded
    pressure — same log density, same distribution of draws (independent seeds, KS)."""
    hybrid = make_hybrid(latent_dim=0, n_apw=1)
    decoded = hybrid.cvae.sample_apw(x, 1)[0]                       # (B, 1, T) mmHg
    apw_x = model_input(apw, decoded.numpy())                       # as `infer` prepares it
    reference = apw.sample((3000,), x=apw_x, generator=torch.Generator().manual_seed(1))
    draws = hybrid.sample((3000,), x=x, generator=torch.Generator().manual_seed(2))
    assert not _ks_same(draws, reference, tests=3 * N_PARAMS)
    assert _ks_same(reference.flip(1), reference, tests=3 * N_PARAMS)  # windows differ: power
    theta = reference[0]
    torch.testing.assert_close(hybrid.log_prob(theta, x).detach(),
                               apw.log_prob(theta, apw_x).detach(), rtol=0, atol=1e-5)


# --- file round trip -------------------------------------------------------------------------------
def test_save_load_reproduces_draws_and_density(make_hybrid, tmp_path, x):
    hybrid = make_hybrid(n_apw=3, reject_width90=torch.arange(1.0, N_PARAMS + 1),
                         training={"epochs": 3, "records": ["a", "b"]})
    path = tmp_path / "hybrid.pt"
    hybrid.save(path)
    loaded = load_posterior(path)
    assert isinstance(loaded, HybridPosterior) and loaded.n_apw == 3
    assert loaded.input_spec == hybrid.input_spec and loaded.training == hybrid.training
    assert loaded.cvae.config == hybrid.cvae.config and loaded.apw_sha256 == hybrid.apw_sha256
    torch.testing.assert_close(loaded.reject_width90, hybrid.reject_width90, rtol=0, atol=0)
    for seed in (0, 1):
        assert torch.equal(loaded.sample((9,), x=x, generator=torch.Generator().manual_seed(seed)),
                           hybrid.sample((9,), x=x, generator=torch.Generator().manual_seed(seed)))
    theta = hybrid.sample((1,), x=x, generator=torch.Generator().manual_seed(5))[0]
    assert torch.equal(loaded.log_prob(theta, x), hybrid.log_prob(theta, x))
    # a loaded file saves and loads again (the embedded hash is stable)
    loaded.save(tmp_path / "again.pt")
    again = load_posterior(tmp_path / "again.pt")
    assert torch.equal(again.log_prob(theta, x), hybrid.log_prob(theta, x))


def _tamper(source, target) -> None:
    payload = torch.load(source, weights_only=True)
    weights = payload["state"]["apw"]["state"]["weights"]
    name = next(k for k, v in weights.items() if v.is_floating_point() and v.numel() > 1
                and "low" not in k and "high" not in k)
    weights[name] = weights[name].clone()
    weights[name].view(-1)[0] += 1e-3
    torch.save(payload, target)


@pytest.mark.parametrize("with_hash", [True, False], ids=["hash-given", "hash-computed"])
def test_a_tampered_embedded_apw_posterior_is_rejected(apw, make_hybrid, tmp_path, with_hash):
    hybrid = make_hybrid() if with_hash else HybridPosterior(tiny_cvae(), apw, 4)
    hybrid.save(tmp_path / "hybrid.pt")
    # control: re-writing the same payload loads fine
    torch.save(torch.load(tmp_path / "hybrid.pt", weights_only=True), tmp_path / "same.pt")
    assert isinstance(load_posterior(tmp_path / "same.pt"), HybridPosterior)
    _tamper(tmp_path / "hybrid.pt", tmp_path / "tampered.pt")
    with pytest.raises(CardiosbiError, match="altered"):
        load_posterior(tmp_path / "tampered.pt")


# --- summarize, input checks, infer ---------------------------------------------------------------
def test_summarize_rejects_nan_rows_and_wide_intervals(make_hybrid, x):
    hybrid = make_hybrid(n_apw=2)
    x = x.clone()
    x[1, 0, 500] = float("nan")
    with pytest.raises(SignalError, match="row 1"):
        hybrid.sample((4,), x=x)
    table = hybrid.summarize(x, n=40, generator=torch.Generator().manual_seed(0))
    assert len(table) == 3 * N_PARAMS and {"reject", "width90", "ci90_low"} <= set(table.columns)
    bad = table[table["window"] == 1]
    good = table[table["window"] != 1]
    assert bad["reject"].all() and bad["mean"].isna().all()
    assert np.isfinite(good["mean"]).all() and not good["reject"].any()  # thresholds NaN: never
    hybrid.reject_width90 = torch.zeros(N_PARAMS, dtype=torch.float64)  # every interval too wide
    assert hybrid.summarize(x, n=40)["reject"].all()


@pytest.mark.parametrize("shape", [(2, 1, LENGTH - 1), (2, 2, LENGTH), (2, LENGTH)])
def test_wrong_window_shape_is_a_signal_error(make_hybrid, shape):
    hybrid = make_hybrid()
    x = torch.zeros(shape)
    with pytest.raises(SignalError, match=str(LENGTH)):
        hybrid.sample((4,), x=x)
    with pytest.raises(SignalError, match=str(LENGTH)):
        hybrid.log_prob(torch.zeros(2, N_PARAMS), x)


def test_composes_only_with_a_pressure_posterior(apw):
    other = copy.copy(apw)
    other.input_spec = {**apw.input_spec, "channels": ["digital/PPG"]}
    with pytest.raises(ConfigError, match="arterial pressure"):
        HybridPosterior(tiny_cvae(), other)
    with pytest.raises(ConfigError, match="n_apw"):
        HybridPosterior(tiny_cvae(), apw, n_apw=0)


def test_input_spec_makes_ppg_only_windows_for_infer(make_hybrid, v136s):
    hybrid = make_hybrid(n_apw=2)
    assert hybrid.input_spec["channels"] == ["digital/PPG"]
    assert hybrid.input_spec["normalize"] == "window"
    config = window_config(hybrid)
    assert config.channels == ["ppg"] and config.sampling_rate == 125.0 and config.window_s == 8.0
    recording = load_recording(v136s.with_suffix(".hea"))
    windows, quality = make_windows(recording, config=config)
    assert windows.shape[1:] == (1, LENGTH) and len(windows) == quality["accepted"].sum() > 2
    inputs = model_input(hybrid, windows[:3])
    torch.testing.assert_close(inputs.mean(-1), torch.zeros(3, 1), rtol=0, atol=1e-4)
    torch.testing.assert_close(inputs.std(-1), torch.ones(3, 1), rtol=0, atol=2e-3)
    table = hybrid.summarize(inputs, n=20, generator=torch.Generator().manual_seed(0))
    assert np.isfinite(table["median"]).all()


# --- record-level recalibration of the conditional prior's spread ----------------------------------
def _validation(levels: np.ndarray) -> PairSet:
    ppg = ppg_batch(tuple(60.0 + 5.0 * (i % 8) for i in range(len(levels))))[:, 0].numpy()
    table = pd.DataFrame({"record": [f"r{i % 3}" for i in range(len(levels))], "start_s": 0.0,
                          "map_abp": levels})
    return PairSet(ppg, np.zeros_like(ppg), table)


def test_prior_scale_is_the_smallest_reaching_the_coverage(make_hybrid):
    from cardiosbi.hybrid.fit import TrainHybridConfig, calibrate_prior_scale

    hybrid = make_hybrid(latent_dim=2, n_apw=4)
    config = TrainHybridConfig()
    config.posterior.reject_draws = 64
    # references spread far more than an untrained prior's decodes: a wider prior is needed
    levels = np.random.default_rng(0).normal(90.0, 35.0, 24)
    scale = calibrate_prior_scale(hybrid, _validation(levels), config)
    trials = hybrid.training["prior_scale_trials"]
    assert [t["prior_scale"] for t in trials] == sorted(config.posterior.prior_scales)[:len(trials)]
    assert trials[-1]["prior_scale"] == scale == hybrid.prior_scale
    reached = [t["coverage90"] >= 0.9 for t in trials]
    assert not any(reached[:-1])          # every smaller scale fell short
    if scale < max(config.posterior.prior_scales):
        assert reached[-1]
    assert trials[-1]["coverage90"] > trials[0]["coverage90"]   # widening does widen


def test_prior_scale_survives_save_and_load(make_hybrid, tmp_path):
    hybrid = make_hybrid(latent_dim=2, n_apw=4)
    hybrid.prior_scale = 2.5
    hybrid.save(tmp_path / "h.pt")
    loaded = load_posterior(tmp_path / "h.pt")
    assert loaded.prior_scale == 2.5
    x = ppg_batch()
    a = hybrid.sample_apw(x, 4, torch.Generator().manual_seed(1))
    b = loaded.sample_apw(x, 4, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    # a wider prior spreads the decoded levels further (same seed, same noise draws)
    hybrid.prior_scale = 1.0
    narrow = hybrid.sample_apw(x, 4, torch.Generator().manual_seed(1)).mean(-1).std(0)
    assert bool((a.mean(-1).std(0) > narrow).all())
