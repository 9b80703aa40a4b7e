"""The RoPE study scripts (experiments/rope): shared methods at tiny size, hemodynamics helpers."""

from __future__ import annotations

import importlib
import math
import operator
import sys
from pathlib import Path

import pytest
import torch

from cardiosbi.errors import ConfigError
from cardiosbi.utils.study_config import load_study_config

ROPE_DIR = Path(__file__).resolve().parents[2] / "experiments" / "rope"


@pytest.fixture(scope="module")
def rope_dir():
    path = ROPE_DIR
    sys.path.insert(0, str(path))
    yield path
    sys.path.remove(str(path))


def test_pendulum_study_runs_every_method_at_tiny_size(rope_dir, tmp_path):
    import pendulum
    import study

    # the command's own loading path: pendulum.yaml, then these key=value sizes
    cfg = load_study_config(study.StudyConfig, rope_dir / "pendulum.yaml", [
        "seeds=[0]", "n_train=300", "n_test=100", "calibration_sizes=[10,20]", "n_samples=50",
        "npe_epochs=1", "fine_tune_steps=5", "jnpe_steps=5", "mlp_steps=20",
        "gamma_grid=[0.1,1.0]", "cache_draws=true", f"out={tmp_path}"])
    table = pendulum.run(cfg)
    methods = {"prior", "SBI", "NPE", "OT-only", "RoPE", "RoPE*", "FT-only", "J-NPE",
               "RoPE (γ sel.)", "MLP"}
    assert set(table["method"]) == methods
    assert (table.groupby("size")["method"].nunique() == len(methods)).all()
    assert table["lpp"].map(math.isfinite).all()
    assert table["acauc"].between(-0.5, 0.5).all()
    prior = table[table["method"] == "prior"]["lpp"]
    assert prior.eq(-math.log(3.0) - math.log(9.5)).all()
    assert set(table["gamma"].dropna()) <= {0.1, 1.0}
    assert (tmp_path / "results.csv").is_file() and (tmp_path / "lpp_acauc.png").is_file()


def test_reflected_kde_is_a_density_on_the_box_and_flat_for_uniform_draws(rope_dir):
    import hemodynamics

    low, high = torch.tensor([20.0, 180.0]), torch.tensor([130.0, 400.0])
    generator = torch.Generator().manual_seed(0)
    uniform = low + (high - low) * torch.rand(2000, 2, generator=generator)
    probe = low + (high - low) * torch.rand(8000, 2, generator=generator)
    log_density = hemodynamics.reflected_kde_logpdf(uniform, probe, low, high)
    volume = float((high - low).prod())
    # Monte Carlo integral over the box: 1 within a few standard errors (reflection keeps mass)
    assert float(log_density.exp().mean()) * volume == pytest.approx(1.0, abs=0.02)
    # near the edges too, the estimate of a uniform density stays near 1/volume
    assert float(log_density.mean()) == pytest.approx(-math.log(volume), abs=0.05)


def test_hemodynamics_config_is_valid_and_split_checks_sizes(rope_dir):
    import hemodynamics

    cfg = load_study_config(hemodynamics.HemodynamicsConfig, rope_dir / "hemodynamics.yaml", [])
    low, high = hemodynamics.prior_box(cfg)
    assert low.tolist() == [20.0, 180.0] and high.tolist() == [130.0, 400.0]
    theta, x = torch.rand(50, 2), torch.rand(50, 1, 8)
    cfg.n_test, cfg.calibration_sizes = 40, [10]
    data = hemodynamics.seed_data(cfg, theta, x, theta[:5], x[:5], seed=0)
    assert len(set(data.theta_test[:, 0].tolist()) & set(data.pool_theta[:, 0].tolist())) == 0
    cfg.calibration_sizes = [11]
    with pytest.raises(ConfigError, match="lower n_test"):
        hemodynamics.seed_data(cfg, theta, x, theta[:5], x[:5], seed=0)


@pytest.mark.parametrize(("script", "schema"), [("pendulum", "study.StudyConfig"),
                                                ("hemodynamics", "HemodynamicsConfig"),
                                                ("real", "RealStudyConfig")])
def test_rope_studies_have_no_tiny_mode_and_reject_bad_keys(rope_dir, script, schema):
    """The three studies share one folder, so none has a tiny.yaml: tiny=true names the key."""
    config_class = operator.attrgetter(schema)(importlib.import_module(script))
    assert load_study_config(config_class, rope_dir / f"{script}.yaml", ["seeds=[4]"]).seeds == [4]
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) tiny"):
        load_study_config(config_class, rope_dir / f"{script}.yaml", ["tiny=true"])
    with pytest.raises(ConfigError, match="seeds"):
        load_study_config(config_class, rope_dir / f"{script}.yaml", ["seeds=abc"])
