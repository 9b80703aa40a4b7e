"""Typed configuration of NPE training: model (embedding + estimator), trainer, seed."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from cardiosbi.errors import ConfigError
from cardiosbi.inference.estimators import LEGACY_FLOW, EstimatorConfig
from cardiosbi.nn.factory import EmbeddingConfig
from cardiosbi.utils.config import to_dataclass


@dataclass
class TrainerConfig:
    """Training-loop settings (hydra group ``trainer``).

    ``lr_schedule``: plateau (halve on a validation plateau), cosine or none.
    ``accelerator``/``devices``/``strategy`` go to :class:`lightning.Trainer` (``auto`` picks a
    GPU when present; ``trainer=ddp`` selects distributed data parallel).
    ``reject_quantile``: the reject threshold of a parameter is this quantile of the 90 %
    interval widths over validation simulations.
    ``deterministic``: ``warn`` (default) uses deterministic algorithms and only warns where a
    GPU op has none; same seed -> same weights on CPU. ``true`` makes such ops an error.
    """

    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    max_epochs: int = 300
    min_epochs: int = 1
    patience: int = 20
    val_fraction: float = 0.1
    gradient_clip: float = 5.0
    lr_schedule: str = "plateau"
    accelerator: str = "auto"
    devices: Any = "auto"
    strategy: str = "auto"
    num_workers: int = 0
    deterministic: Any = "warn"
    progress_bar: bool = False
    checkpoint_dir: str | None = None
    reject_quantile: float = 0.95
    reject_calibration_rows: int = 500
    reject_calibration_samples: int = 200

    def __post_init__(self) -> None:
        # checked here so a bad value fails before any data is read, not in the optimiser
        positive = ("batch_size", "max_epochs", "patience", "reject_calibration_rows",
                    "reject_calibration_samples")
        for key in positive:
            if getattr(self, key) < 1:
                raise ConfigError(f"trainer.{key} must be >= 1, got {getattr(self, key)}")
        if not self.learning_rate > 0:
            raise ConfigError(f"trainer.learning_rate must be > 0, got {self.learning_rate}")
        if self.weight_decay < 0 or self.gradient_clip < 0 or self.min_epochs < 0:
            raise ConfigError("trainer.weight_decay, gradient_clip and min_epochs must be >= 0")
        for key in ("val_fraction", "reject_quantile"):
            if not 0 < getattr(self, key) < 1:
                raise ConfigError(f"trainer.{key} must be in (0, 1), got {getattr(self, key)}")


@dataclass
class ModelConfig:
    """What is trained (hydra group ``model``): embedding, estimator, ensemble size."""

    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    estimator: EstimatorConfig = field(default_factory=EstimatorConfig)
    ensemble_size: int = 1


@dataclass
class NPEConfig:
    """Everything :func:`~cardiosbi.inference.train_npe` needs besides the data."""

    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> NPEConfig:
        """Validated construction from plain data (a saved posterior or a hydra node)."""
        return to_dataclass(data, cls, "NPE config")

    @classmethod
    def from_saved(cls, data: dict[str, Any]) -> NPEConfig:
        """The config of a saved posterior: keys its file lacks mean what they meant when it
        was written (:data:`~cardiosbi.inference.estimators.LEGACY_FLOW`), not today's defaults."""
        model = dict(data.get("model") or {})
        model["estimator"] = {**LEGACY_FLOW, **(model.get("estimator") or {})}
        return cls.from_dict({**data, "model": model})
