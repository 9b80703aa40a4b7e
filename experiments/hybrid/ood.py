"""Fit the shipped hybrid's out-of-distribution statistics on the real records it was trained on.

    python experiments/hybrid/ood.py [runs/hybrid_ood]

The score (:mod:`cardiosbi.inference.ood`) reads the hybrid's PPG features (the U-Net
bottleneck pooled over time, which p(z | PPG) reads). Mean and covariance come from the PPG
windows of the model's 44 training records; the threshold is the 99th percentile on the
windows of half of its 8 validation records, and the false-alarm rate is measured on the
other half (whole records on each side). The pairs are cut exactly as `train-hybrid` cut them
(the settings stored in the model file), into ``runs/hybrid_ood/pairs`` (resumable).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from cardiosbi.default_models import default_model_path
from cardiosbi.estimate import model_input
from cardiosbi.hybrid.fit import TrainHybridConfig, gather_pairs
from cardiosbi.inference import load_posterior
from cardiosbi.inference.ood import fit_ood
from cardiosbi.utils.config import to_dataclass

FALSE_ALARM = 0.01


def features(hybrid, ppg: np.ndarray) -> torch.Tensor:
    x = model_input(hybrid, ppg[:, None, :])
    return torch.cat([hybrid.ood_features(chunk) for chunk in x.split(256)])


def main(out: Path) -> None:
    path = default_model_path("hybrid")
    hybrid = load_posterior(path)
    saved = hybrid.training["config"]
    config = to_dataclass({"records": saved["records"], "pairs": saved["pairs"]},
                          TrainHybridConfig, "train_hybrid")
    pairs, _ = gather_pairs(list(config.records), out, hybrid.apw, config)
    records = np.asarray(pairs.records)
    train, val = hybrid.training["train_records"], sorted(hybrid.training["val_records"])
    fit = features(hybrid, pairs.ppg[np.isin(records, train)])
    calibration = features(hybrid, pairs.ppg[np.isin(records, val[::2])])
    test = features(hybrid, pairs.ppg[np.isin(records, val[1::2])])
    hybrid.ood = fit_ood(fit, calibration, FALSE_ALARM, test, source=(
        f"PPG features of {len(fit)} windows of the {len(train)} training records; threshold "
        f"from {len(calibration)} windows of {len(val[::2])} validation records, false alarms "
        f"measured on {len(test)} windows of {len(val[1::2])} others"))
    print(f"hybrid: threshold {hybrid.ood.threshold:.2f}, measured false-alarm rate "
          f"{hybrid.ood.measured_false_alarm:.4f} ({hybrid.ood.source})")
    hybrid.save(path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/hybrid_ood"))
