"""``cardiosbi evaluate``: a posterior file and held-out simulations → a diagnostics folder.

Test data come from the same ``data`` config group as ``cardiosbi train`` (the linear-Gaussian
task, a tensor file or a simulated store). Simulated test data are drawn from a seed stream
separate from the training one, so ``seed=0`` for both never evaluates on the training
simulations. A store's test windows are prepared as the posterior reads windows (its input
spec: channels, normalisation with its own training statistics), so any posterior trained on
a store, or a hybrid PPG posterior, is evaluated on the input it was made for.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from cardiosbi.datasets.reader import data_module_from_config
from cardiosbi.diagnostics.runner import run_diagnostics
from cardiosbi.errors import ConfigError, InputFileError
from cardiosbi.estimate import model_input
from cardiosbi.inference import Posterior, load_posterior
from cardiosbi.inference.sources import LinearGaussianSource, TrainingData, load_training_data
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
    data = test_data(cfg.data, posterior, seed=test_seed)
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


def test_data(node: DictConfig | dict, posterior: Posterior, seed: int) -> TrainingData:
    """The ``data`` node's test rows; a store's windows prepared by the posterior's input spec."""
    data = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    if data.get("source") != "zarr" or not posterior.input_spec:
        return load_training_data(data, seed=seed)
    return store_test_data(data, posterior, seed)


def store_test_data(data: dict, posterior: Posterior, seed: int) -> TrainingData:
    """A store's test split, read raw and normalised by :func:`cardiosbi.estimate.model_input`.

    The store's own settings cannot be used: ``data.normalize`` defaults to ``window`` and
    ``data.channels`` to every stored channel, while the posterior may read one channel
    (a hybrid: ``digital/PPG`` only) with ``window+level``, whose level statistics must be
    the posterior's training ones, not those of the test store."""
    spec = posterior.input_spec
    if data.get("channels") and list(data["channels"]) != list(spec["channels"]):
        raise ConfigError(f"data.channels={list(data['channels'])} but the posterior reads "
                          f"{spec['channels']}; leave data.channels unset to use its channels")
    if data.get("normalize", spec["normalize"]) != spec["normalize"]:
        log.info("windows normalised as the posterior's training (%s), not data.normalize=%s",
                 spec["normalize"], data["normalize"])
    parameters = data.get("parameters") or list(posterior.parameter_names)
    module = data_module_from_config({**data, "channels": list(spec["channels"]),
                                      "parameters": list(parameters), "normalize": "none"}, seed)
    _check_window(module.data.fs, module.x_shape[-1], spec)
    theta, raw = module.test_tensors()
    return TrainingData(theta, model_input(posterior, raw.numpy()), list(module.parameter_names),
                        module.low, module.high, units=list(module.units))


def _check_window(fs: float, samples: int, spec: dict) -> None:
    """The store's windows must have the rate and length the posterior was trained on."""
    expected = round(float(spec["window_s"]) * float(spec["sampling_rate"]))
    if abs(fs - float(spec["sampling_rate"])) > 1e-6 or samples != expected:
        raise ConfigError(f"the store's windows ({samples} samples at {fs:g} Hz) differ from the "
                          f"posterior's ({expected} at {float(spec['sampling_rate']):g} Hz); "
                          "simulate the test store with the same measurement.fs and "
                          "measurement.window_s")


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
