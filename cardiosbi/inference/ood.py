"""Out-of-distribution score of a window: how far its embedding lies from the training data's.

The score is the Mahalanobis distance of the posterior's embedding h(x) from the embeddings of
simulations it was trained on (mean and Ledoit-Wolf-shrunk covariance, scikit-learn). The
threshold is the ``1 - false_alarm`` quantile of the scores of *held-out* simulations, so that
on inputs like the training data a window is flagged with probability ``false_alarm``; the
rate measured on a further held-out set is stored beside it and reported by the model card.
A flagged window's estimates are withheld: the network is extrapolating there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from cardiosbi.errors import ConfigError, InputFileError


@dataclass
class EmbeddingOOD:
    mean: Tensor          # (E,)
    precision: Tensor     # (E, E), inverse of the shrunk covariance
    threshold: float      # flag when score > threshold
    false_alarm: float    # target rate on in-distribution inputs
    measured_false_alarm: float = float("nan")  # on a held-out set not used for the threshold
    source: str = ""      # what the statistics were computed from

    def score(self, features: Tensor) -> Tensor:
        """(B,) Mahalanobis distance of each row of ``features`` (B, E), float64 on CPU."""
        centred = torch.as_tensor(features).detach().double().cpu() - self.mean
        return torch.einsum("be,ef,bf->b", centred, self.precision, centred).clamp(min=0).sqrt()

    def state(self) -> dict[str, Any]:
        return {"mean": self.mean, "precision": self.precision, "threshold": self.threshold,
                "false_alarm": self.false_alarm,
                "measured_false_alarm": self.measured_false_alarm, "source": self.source}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> EmbeddingOOD:
        try:
            mean = torch.as_tensor(state["mean"], dtype=torch.float64)
            precision = torch.as_tensor(state["precision"], dtype=torch.float64)
            ood = cls(mean, precision, float(state["threshold"]), float(state["false_alarm"]),
                      float(state.get("measured_false_alarm", float("nan"))),
                      str(state.get("source", "")))
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise InputFileError(f"posterior file: malformed OOD statistics ({exc})") from None
        if mean.ndim != 1 or precision.shape != (len(mean), len(mean)):
            raise InputFileError("posterior file: OOD mean and precision shapes do not match")
        return ood


def fit_ood(fit: Tensor, calibration: Tensor, false_alarm: float = 0.01,
            test: Tensor | None = None, source: str = "") -> EmbeddingOOD:
    """Statistics from ``fit`` features (N, E), threshold from held-out ``calibration``
    features; the false-alarm rate is measured on ``test`` when given."""
    from sklearn.covariance import LedoitWolf

    if not 0 < false_alarm < 1:
        raise ConfigError(f"false_alarm must be in (0, 1), got {false_alarm}")
    fit = torch.as_tensor(fit).double().cpu()
    if len(fit) <= fit.shape[1]:
        raise ConfigError(f"{len(fit)} rows cannot estimate a {fit.shape[1]}-dimensional "
                          "covariance; give more simulations")
    shrunk = LedoitWolf().fit(fit.numpy())
    ood = EmbeddingOOD(torch.from_numpy(shrunk.location_), torch.from_numpy(shrunk.precision_),
                       np.inf, false_alarm, source=source)
    ood.threshold = float(torch.quantile(ood.score(calibration), 1 - false_alarm))
    if test is not None:
        ood.measured_false_alarm = float((ood.score(test) > ood.threshold).double().mean())
    return ood
