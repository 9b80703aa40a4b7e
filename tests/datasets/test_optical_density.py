"""Optical density channels (simulator.optical_signal=density) and the window+logspread
normalisation: what a red/infrared wearable needs for SpO2 through simulate/train."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import zarr

from cardiosbi.cli.main import run
from cardiosbi.datasets import store
from cardiosbi.datasets.reader import SimulatedDataModule, prepare_windows
from cardiosbi.errors import ConfigError
from cardiosbi.estimate import window_config
from cardiosbi.inference import load_posterior

CHANNELS = ["aortic_root/660nm/OPPG", "aortic_root/940nm/OPPG"]
SENSOR = ["simulator=windkessel", "prior=wearable", f"simulator.channels=[{','.join(CHANNELS)}]",
          "simulator.optical_wavelengths=[660,940]", "simulator.optical_signal=density",
          "measurement.bandpass.bands.OPPG=[0.0,8.0]", "measurement.window_s=2", "plots=false"]


def _simulate(path, n: int, *extra: str):
    assert run(["simulate", *SENSOR, f"out={path}", f"n={n}", f"shard_size={n // 2}", *extra]) == 0
    return path


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """A store without measurement effects: each window is the simulated density itself."""
    return _simulate(tmp_path_factory.mktemp("density"), 40, "measurement=clean")


def test_density_keeps_dc_and_the_relative_pulse(clean):
    clean = zarr.open_group(clean / store.STORE_NAME, mode="r")
    for nm, channel in zip((660, 940), CHANNELS, strict=True):
        x = clean[f"x/{channel}"][:].astype(np.float64)
        dc, pi = clean[f"labels/dc_{nm}"][:], clean[f"labels/pi_{nm}"][:]
        # mean density is -ln DC, up to the part-beat at the window's end (a share of the pulse)
        assert np.all(np.abs(x.mean(axis=1) + np.log(dc)) < 0.25 * pi / 100.0 + 1e-4)
        # peak-to-peak density is ln(I_max / I_min), which is AC/DC to first order
        np.testing.assert_allclose(np.ptp(x, axis=1), pi / 100.0, rtol=0.1)


def test_an_unknown_optical_signal_is_a_config_error(tmp_path, capsys):
    assert run(["simulate", *SENSOR, f"out={tmp_path}", "n=4", "simulator.optical_signal=intensity"]) == 2
    assert "optical_signal='intensity'; use waveform or density" in capsys.readouterr().err


def test_logspread_appends_level_and_log_sd_that_keep_the_ratio_of_ratios():
    rng = np.random.default_rng(0)
    pulse = np.sin(np.linspace(0, 8 * np.pi, 250))
    sd = np.array([[3e-4, 1e-3], [2e-2, 1e-2]])  # (window, LED): spreads decades apart
    x = (np.array([[4.0, 2.0], [6.0, 3.0]])[:, :, None]
         + sd[:, :, None] * np.sqrt(2) * pulse + 1e-7 * rng.standard_normal((2, 2, 250)))
    stats = {"level_mean": [5.0, 2.5], "level_std": [1.0, 0.5],
             "logspread_mean": [0.0, 0.0], "logspread_std": [1.0, 1.0]}
    out = prepare_windows(x.astype(np.float32), "window+logspread", stats)
    assert out.shape == (2, 6, 250)
    np.testing.assert_allclose(out[:, 2:4, 0], [[-1.0, -1.0], [1.0, 1.0]], atol=1e-4)
    log_ratio = out[:, 4, 0] - out[:, 5, 0]  # log(SD red / SD infrared), stats at 0 and 1
    np.testing.assert_allclose(log_ratio, np.log(sd[:, 0] / sd[:, 1]), atol=1e-3)


def test_the_data_module_ships_logspread_stats_and_the_optical_signal(clean):
    module = SimulatedDataModule(clean, batch_size=4, normalize="window+logspread",
                                 parameters=["spo2"])
    spec = module.input_spec
    assert spec["optical_signal"] == "density"
    assert set(spec["stats"]) == {"level_mean", "level_std", "logspread_mean", "logspread_std"}
    assert module.x_shape == (6, 250)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One noisy store; two posteriors: with the level channels and with per-window z-scores
    only (what a normalised pleth gives), everything else equal."""
    root = tmp_path_factory.mktemp("oximeter")
    _simulate(root / "sim", 1600, "seed=5")
    common = ["train", "data=zarr", f"data.path={root / 'sim'}", "data.parameters=[spo2,hr]",
              "trainer.max_epochs=25", "trainer.patience=25", "trainer.batch_size=64",
              "trainer.reject_calibration_samples=50", "seed=0",
              "model.embedding.channels=[16,16]", "model.embedding.features=16"]
    for name, normalize in (("levels", "window+logspread"), ("shape", "window")):
        assert run([*common, f"data.normalize={normalize}", "--out", str(root / name)]) == 0
    return root


def _spo2_test_error(root, name: str) -> tuple[float, float, float]:
    """RMSE of the posterior mean, 90 % coverage and the prior SD of SpO2 on the test split."""
    posterior = load_posterior(root / name / "posterior.pt")
    module = SimulatedDataModule(root / "sim", parameters=["spo2", "hr"],
                                 normalize=posterior.input_spec["normalize"])
    theta, x = module.test_tensors()
    draws = posterior.sample((400,), x=x)[..., 0]
    low, high = torch.quantile(draws, torch.tensor([0.05, 0.95]), dim=0)
    truth = theta[:, 0].double()
    rmse = float((draws.mean(0) - truth).pow(2).mean().sqrt())
    covered = float(((truth >= low) & (truth <= high)).double().mean())
    return rmse, covered, float(truth.std())


@pytest.mark.slow
def test_spo2_is_identified_from_levels_and_not_from_the_shape_alone(trained):
    levels_rmse, levels_cov, prior_sd = _spo2_test_error(trained, "levels")
    shape_rmse, _cov, _sd = _spo2_test_error(trained, "shape")
    # the red/infrared ratio of ratios lives in the level channels: far better than the prior
    assert levels_rmse < 0.5 * prior_sd
    assert levels_rmse < 0.6 * shape_rmse
    assert levels_cov > 0.75
    # without DC and AC/DC the posterior can do little better than the prior
    assert shape_rmse > 0.7 * prior_sd


def test_infer_refuses_a_density_posterior_with_the_reason(tmp_path, clean):
    assert run(["train", "data=zarr", f"data.path={clean}", "data.parameters=[spo2]",
                "data.normalize=window+logspread", "trainer.max_epochs=1",
                "trainer.reject_calibration_samples=10", "--out", str(tmp_path / "t")]) == 0
    posterior = load_posterior(tmp_path / "t" / "posterior.pt")
    with pytest.raises(ConfigError, match="optical densities"):
        window_config(posterior)
