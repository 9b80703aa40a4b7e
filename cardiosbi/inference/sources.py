"""Training data named by the ``data`` config group: the toy task or a tensor file.

:func:`build_datamodule` is the one place ``cardiosbi train`` turns a ``data`` node into an
:class:`~cardiosbi.inference.data.NPEDataModule`; a new source (e.g. the simulated-dataset
Zarr store) adds a branch there returning its own data module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from cardiosbi.errors import ConfigError, InputFileError
from cardiosbi.inference.config import NPEConfig
from cardiosbi.inference.data import TensorDataModule
from cardiosbi.inference.tasks import LinearGaussianTask
from cardiosbi.inference.training import check_config
from cardiosbi.utils.config import to_dataclass
from cardiosbi.utils.paths import existing_path


@dataclass
class TrainingData:
    theta: torch.Tensor
    x: torch.Tensor
    names: list[str]
    low: torch.Tensor
    high: torch.Tensor
    status: torch.Tensor | None = None
    units: list[str] | None = None


@dataclass
class LinearGaussianSource:
    source: str = "linear_gaussian"
    num_simulations: int = 2000
    dim: int = 2
    prior: str = "normal"
    prior_scale: float = 1.0
    noise_scale: float = 0.5
    series_length: int = 0


@dataclass
class TensorFileSource:
    """A ``.pt`` (dict) or ``.npz`` file with ``theta``, ``x``, ``names``, ``low``, ``high`` and
    optionally ``status`` (0 = ok) and ``units``."""

    source: str = "tensor_file"
    path: str = ""


def build_datamodule(node: DictConfig | dict[str, Any], config: NPEConfig):
    """The data module for the ``data`` config node, checked against ``config`` first."""
    if node.get("source") == "zarr":
        # A simulated store is streamed, never loaded whole (cardiosbi.datasets owns the format).
        from cardiosbi.datasets.reader import data_module_from_config

        datamodule = data_module_from_config(node, config.seed, config.trainer.batch_size,
                                             config.trainer.num_workers)
        check_config(config, tuple(datamodule.x_shape))
        if datamodule.data.has_gaps and not config.model.embedding.missing_mask:
            raise ConfigError(f"{node.get('path')} was simulated with measurement gaps (NaN where "
                              "samples were lost); train it with model.embedding.missing_mask=true")
        return datamodule
    data = load_training_data(node, seed=config.seed)
    check_config(config, tuple(data.x.shape[1:]))
    return TensorDataModule(
        data.theta, data.x, data.names, data.low, data.high, status=data.status,
        val_fraction=config.trainer.val_fraction, batch_size=config.trainer.batch_size,
        seed=config.seed, allow_missing_x=config.model.embedding.missing_mask,
        num_workers=config.trainer.num_workers, units=data.units,
    )


def load_training_data(node: DictConfig | dict[str, Any], seed: int) -> TrainingData:
    """Build the training data described by the ``data`` config node."""
    data = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    source = data.get("source")
    if source == "linear_gaussian":
        spec = to_dataclass(data, LinearGaussianSource, "data")
        if spec.num_simulations < 1:
            raise ConfigError(f"data.num_simulations must be >= 1, got {spec.num_simulations}")
        task = LinearGaussianTask(spec.dim, spec.prior, spec.prior_scale, spec.noise_scale, spec.series_length)
        theta, x = task.sample_joint(spec.num_simulations, torch.Generator().manual_seed(seed))
        low, high = task.bounds()
        return TrainingData(theta, x, task.names, low, high)
    if source == "tensor_file":
        return read_tensor_file(to_dataclass(data, TensorFileSource, "data").path)
    if source == "zarr":
        # Held-out rows of a simulated store: its test split (disjoint from training by seed).
        from cardiosbi.datasets.reader import data_module_from_config

        module = data_module_from_config(data, seed)
        theta, x = module.test_tensors()
        return TrainingData(theta, x, list(module.parameter_names), module.low, module.high,
                            units=list(module.units))
    raise ConfigError(f"data.source={source!r} is unknown; use linear_gaussian, tensor_file or zarr")


REQUIRED = ("theta", "x", "names", "low", "high")


def read_tensor_file(path: str | Path) -> TrainingData:
    """Read a .pt or .npz training file (no pickled objects are executed)."""
    path = existing_path(path, "training data file")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                content = {key: archive[key] for key in archive.files}
        else:
            content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign files raise many different types
        first_line = (str(exc).strip().splitlines() or [""])[0][:160]
        raise InputFileError(
            f"cannot read training data file {path} (expected a .pt dict of tensors/lists or "
            f".npz): {type(exc).__name__}: {first_line}"
        ) from None
    if not isinstance(content, dict):
        raise InputFileError(f"{path} must hold a dict with keys {', '.join(REQUIRED)}")
    missing = [key for key in REQUIRED if key not in content]
    if missing:
        raise InputFileError(f"{path} lacks key(s) {', '.join(missing)} (needs {', '.join(REQUIRED)})")

    def tensor(key: str) -> torch.Tensor:
        return torch.as_tensor(np.asarray(content[key]))

    status = tensor("status") if "status" in content else None
    units = [str(u) for u in content["units"]] if "units" in content else None
    data = TrainingData(
        tensor("theta"), tensor("x"), [str(n) for n in content["names"]],
        tensor("low"), tensor("high"), status, units,
    )
    check_shapes(data, path)
    return data


def check_shapes(data: TrainingData, path: str | Path) -> None:
    """theta (N, k), x (N, ...), names/low/high of length k, status (N,): else InputFileError."""
    n = data.theta.shape[0] if data.theta.ndim == 2 else -1
    k = data.theta.shape[1] if data.theta.ndim == 2 else -1
    problems = []
    if data.theta.ndim != 2:
        problems.append(f"theta must be (N, k), got shape {tuple(data.theta.shape)}")
    if data.x.ndim < 2 or data.x.shape[0] != n:
        problems.append(f"x must have N={n} rows, got shape {tuple(data.x.shape)}")
    for name, value in (("names", data.names), ("low", data.low), ("high", data.high)):
        if len(value) != k:
            problems.append(f"{name} must have k={k} entries, got {len(value)}")
    if data.status is not None and tuple(data.status.shape) != (n,):
        problems.append(f"status must be (N,)=({n},), got {tuple(data.status.shape)}")
    if n == 0:
        problems.append("the file holds no rows")
    if problems:
        raise InputFileError(f"{path}: {'; '.join(problems)}")
