"""``cardiosbi evaluate``: a posterior file and held-out simulations → a diagnostics folder.

Test data come from the same ``data`` config group as ``cardiosbi train`` (the linear-Gaussian
task or a tensor file). Simulated test data are drawn from a seed stream separate from the
training one, so ``seed=0`` for both never evaluates on the training simulations.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from cardiosbi.diagnostics.runner import run_diagnostics
from cardiosbi.errors import ConfigError, InputFileError
from cardiosbi.inference import load_posterior
from cardiosbi.inference.sources import LinearGaussianSource, load_training_data
from cardiosbi.inference.tasks import LinearGaussianTask
from cardiosbi.utils.config import to_dataclass
from cardiosbi.utils.device import resolve_device
from cardiosbi.utils.rundir import atomic_write_text, write_run_info
from cardiosbi.utils.seeding import child_seeds

log = logging.getLogger(__name__)

_TEST_SEED_KEY = 51  # separates the test-data seed stream from training's


@dataclass
class EvaluateSettings:
    """The ``diagnostics`` node of evaluate.yaml."""

    n_samples: int = 1000
    joint_hpd_draws: int = 100
    max_cases: int = 2000
    batch_size: int = 256
    ppc: bool = True
    ppc_replicates: int = 100


def evaluate(cfg: DictConfig) -> int:
    """Run every diagnostic of ``cfg.posterior`` on the test data and write them to ``cfg.out``."""
    settings = to_dataclass(cfg.diagnostics, EvaluateSettings, "diagnostics")
    if settings.n_samples < 2 or settings.max_cases < 2:
        raise ConfigError("diagnostics.n_samples and diagnostics.max_cases must be at least 2")
    if settings.batch_size < 1 or settings.ppc_replicates < 1 or settings.joint_hpd_draws < 0:
        raise ConfigError("diagnostics.batch_size and ppc_replicates must be >= 1, "
                          "joint_hpd_draws >= 0")
    posterior = load_posterior(cfg.posterior, device=resolve_device(str(cfg.device)))
    test_seed = child_seeds(int(cfg.seed), 1, key=_TEST_SEED_KEY)[0]
    data = load_training_data(cfg.data, seed=test_seed)
    if list(data.names) != list(posterior.parameter_names):
        raise InputFileError(
            f"test data parameters {list(data.names)} differ from the posterior's "
            f"{list(posterior.parameter_names)}; evaluate on data from the same task"
        )
    theta, x, dropped = _usable_rows(posterior, data)
    if len(theta) < 2:
        raise InputFileError(f"fewer than 2 usable test rows (dropped: {dropped})")
    theta, x = theta[: settings.max_cases], x[: settings.max_cases]
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    write_run_info(out, cfg, "evaluate")
    report = run_diagnostics(
        posterior, theta, x, out, n_samples=settings.n_samples,
        joint_hpd_draws=settings.joint_hpd_draws, batch_size=settings.batch_size,
        simulator=_simulator(cfg.data) if settings.ppc else None,
        n_replicates=min(settings.ppc_replicates, settings.n_samples), seed=int(cfg.seed),
    )
    info = {"cases": len(theta), "rows_dropped": dropped, "settings": asdict(settings),
            "posterior": str(cfg.posterior)}
    atomic_write_text(out / "evaluation.json", json.dumps(info, indent=2))
    _print_summary(report.summary, len(theta), out)
    return 0


def _usable_rows(posterior, data) -> tuple[torch.Tensor, torch.Tensor, dict[str, int]]:
    """Test rows that can be scored, and how many were dropped for which reason."""
    theta = torch.as_tensor(data.theta, dtype=torch.float32)
    x = torch.as_tensor(data.x, dtype=torch.float32)
    reasons = {
        "failed_simulation": (torch.as_tensor(data.status) != 0) if data.status is not None
        else torch.zeros(len(theta), dtype=torch.bool),
        "theta_not_finite": ~torch.isfinite(theta).all(dim=1),
        "x_unusable": ~posterior.valid_rows(x).cpu(),
    }
    bad = torch.zeros(len(theta), dtype=torch.bool)
    dropped = {}
    for reason, mask in reasons.items():
        dropped[reason] = int((mask & ~bad).sum())  # each row counted under its first reason
        bad |= mask
    return theta[~bad], x[~bad], dropped


def _simulator(data_node: DictConfig):
    """The forward model for posterior predictive checks, when the data config names one."""
    data = OmegaConf.to_container(data_node, resolve=True)
    if data.get("source") != "linear_gaussian":
        return None
    spec = to_dataclass(data, LinearGaussianSource, "data")
    task = LinearGaussianTask(spec.dim, spec.prior, spec.prior_scale, spec.noise_scale, spec.series_length)

    def simulate(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        generator = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))
        return task.simulate(torch.as_tensor(theta), generator).numpy()

    return simulate


def _print_summary(summary, cases: int, out: Path) -> None:
    rows = summary[summary["parameter"] != "joint"]
    parts = [f"{r.parameter}: cov90 {r.coverage90:.2f}, calib err {r.calib_error_central:.3f}, "
             f"R2 {r.r2:.2f}" for r in rows.itertuples()]
    print(f"evaluated {cases} test cases -> {out}")
    for part in parts:
        print("  " + part)
