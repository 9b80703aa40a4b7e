"""`cardiosbi evaluate data=zarr` with a hybrid PPG posterior (and the APW posterior): the
store's test windows are prepared as the posterior reads windows, not by the data node.

The store is written directly (a pulse-like PPG in arbitrary units and a radial pressure in
mmHg, with the labels the APW model infers), since the 1D simulator takes CPU-minutes.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch

from cardiosbi.cli.main import run
from cardiosbi.datasets import store
from cardiosbi.datasets.reader import prepare_windows
from cardiosbi.default_models import load_default_posterior
from cardiosbi.diagnostics.cli import test_data as evaluation_data
from cardiosbi.errors import ConfigError
from cardiosbi.hybrid import CVAEConfig, HybridPosterior, PressureCVAE
from cardiosbi.signals.normalize import normalize_window

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FS, SAMPLES, ROWS = 125.0, 1000, 12
PARAMETERS = ["hr", "sv", "lvet", "svr"]
LOW, HIGH = [40.0, 20.0, 180.0, 200.0], [150.0, 130.0, 400.0, 4000.0]
LABELS = {"map_radial": (80.0, 100.0), "sbp_radial": (110.0, 140.0), "dbp_radial": (60.0, 80.0)}
ALL_ROWS = [0.0, 0.0, 1.0]  # every row in the test split


def write_store(root, nan_row: int) -> dict[str, np.ndarray]:
    """A complete two-shard store; returns its raw channels. Row ``nan_row`` has a PPG gap."""
    rng = np.random.default_rng(0)
    t = np.arange(SAMPLES) / FS
    hr = rng.uniform(55, 110, ROWS)
    phase = 2 * np.pi * (hr[:, None] / 60) * t
    ppg = 500 + 80 * (np.sin(phase) + 0.3 * np.sin(2 * phase))  # a monitor's arbitrary units
    ppg[nan_row, 100:120] = np.nan
    pressure = 90 + 25 * np.sin(phase + 0.4) + rng.normal(0, 1, (ROWS, SAMPLES))
    theta = np.column_stack([hr, rng.uniform(40, 100, ROWS), rng.uniform(250, 330, ROWS),
                             rng.uniform(800, 1600, ROWS)])
    layout = store.Layout(n=ROWS, shard_size=ROWS // 2, parameter_names=PARAMETERS,
                          label_names=list(LABELS), channels=["radial/P", "digital/PPG"],
                          nuisance_names=[], n_samples=SAMPLES)
    group = store.create_store(root, layout, {
        "channels": layout.channels, "parameter_names": PARAMETERS, "low": LOW, "high": HIGH,
        "parameter_units": ["bpm", "mL", "ms", "dyn*s/cm^5"], "fs": FS})
    for shard in range(layout.n_shards):
        rows = slice(*layout.rows(shard))
        data = {"theta": theta[rows].astype(np.float32), "status": np.zeros(ROWS // 2, np.int8),
                "seed": np.arange(rows.start, rows.stop, dtype=np.uint64),
                "x/radial/P": pressure[rows].astype(np.float32),
                "x/digital/PPG": ppg[rows].astype(np.float32)}
        data.update({f"labels/{name}": rng.uniform(*bounds, ROWS // 2).astype(np.float32)
                     for name, bounds in LABELS.items()})
        store.write_shard(group, layout, shard, data)
        store.mark_done(root, shard, {"rows": ROWS // 2})
    return {"ppg": ppg.astype(np.float32), "pressure": pressure.astype(np.float32)}


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    return root, write_store(root, nan_row=3)


@pytest.fixture(scope="module")
def hybrid():
    torch.manual_seed(0)
    cvae = PressureCVAE(SAMPLES, CVAEConfig(channels=[4, 8], latent_dim=2, hidden=16),
                        apw_mean=85.0, apw_std=20.0)
    return HybridPosterior(cvae, load_default_posterior("apw"), n_apw=2)


def test_the_hybrid_reads_the_stores_ppg_z_scored_per_window(simulated, hybrid):
    root, raw = simulated
    data = evaluation_data({"source": "zarr", "path": str(root), "fractions": ALL_ROWS},
                           hybrid, seed=0)
    assert data.names == hybrid.parameter_names  # prior dimensions and labels of the store
    assert data.x.shape == (ROWS, 1, SAMPLES)  # the PPG only, though the store has two channels
    finite = np.isfinite(raw["ppg"]).all(axis=1)
    np.testing.assert_allclose(data.x[finite].numpy(),
                               normalize_window(raw["ppg"][finite])[:, None], atol=1e-5)


def test_window_plus_level_uses_the_posteriors_training_statistics(simulated):
    root, raw = simulated
    apw = load_default_posterior("apw")
    data = evaluation_data({"source": "zarr", "path": str(root), "fractions": ALL_ROWS},
                           apw, seed=0)
    expected = prepare_windows(raw["pressure"][:, None], "window+level",
                               apw.input_spec["stats"])
    np.testing.assert_allclose(data.x.numpy(), expected, atol=1e-4)


def test_a_store_the_posterior_cannot_read_is_a_config_error(simulated, hybrid):
    root, _ = simulated
    node = {"source": "zarr", "path": str(root), "fractions": ALL_ROWS}
    with pytest.raises(ConfigError, match="the posterior reads"):
        evaluation_data({**node, "channels": ["radial/P"]}, hybrid, seed=0)
    longer = copy.copy(hybrid)
    longer.input_spec = {**hybrid.input_spec, "window_s": 10.0}
    with pytest.raises(ConfigError, match=r"1000 samples at 125 Hz\) differ"):
        evaluation_data(node, longer, seed=0)


def test_evaluate_command_on_a_hybrid_file(simulated, hybrid, tmp_path):
    root, _ = simulated
    hybrid.save(tmp_path / "hybrid.pt")
    assert run(["evaluate", "data=zarr", f"data.path={root}", "data.fractions=[0,0,1]",
                f"posterior={tmp_path / 'hybrid.pt'}", "diagnostics.n_samples=16",
                "diagnostics.joint_hpd_draws=2", "diagnostics.batch_size=4",
                "--out", str(tmp_path / "ev")]) == 0
    info = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert info["cases"] == ROWS - 1 and info["rows_dropped"]["x_unusable"] == 1  # the PPG gap
    summary = pd.read_csv(tmp_path / "ev" / "summary.csv")
    assert list(summary["parameter"]) == [*hybrid.parameter_names, "joint"]
    per_parameter = summary[summary["parameter"] != "joint"]
    assert per_parameter["coverage90"].between(0, 1).all()
    assert np.isfinite(summary.loc[summary["parameter"] == "joint", "calib_error_joint_hpd"]).all()


def test_rank_test_with_fewer_draws_than_bins_is_finite():
    """A short evaluation (16 draws here) has fewer rank values than the 20 SBC bins."""
    import warnings

    from cardiosbi.diagnostics.sbc import rank_histogram, rank_uniformity

    ranks = np.random.default_rng(0).integers(0, 5, 200)
    counts, expected = rank_histogram(ranks, n_draws=4)
    assert len(counts) == 5 and (expected > 0).all() and counts.sum() == 200
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(rank_uniformity(ranks, n_draws=4).chi2_pvalue)
