"""Stamp the shipped posteriors with what they can be trusted for: per-biomarker validation
status (from their model cards) and out-of-distribution statistics of their embeddings.

    python experiments/default_model/ood_and_validity.py runs/heldout [REAL_FOLDER ...]

``runs/heldout`` holds ``heldout_radial.npz`` / ``heldout_digital.npz``: 2,048 simulations of
``experiment=default_model`` with a seed the training store never used (``seed=20261204
n=2048 shard_size=2048``, exported by ``export_store.py``). The OOD model of ``apw`` and ``ppg``
is fitted on the embeddings of their 4,096 training-store simulations (the RoPE reference sets
beside the models), its threshold is the 99th percentile on one half of the held-out
simulations and its false-alarm rate is measured on the other half. On the real records of
REAL_FOLDER the script reports how many accepted windows the score flags. The model weights
are not touched: the reference sets' embeddings stay valid, so their file hashes are renewed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from cardiosbi.default_models import (
    default_model_path,
    default_reference_path,
    file_sha256,
    load_default_reference,
)
from cardiosbi.estimate import model_input, window_config
from cardiosbi.inference import load_posterior
from cardiosbi.inference.ood import fit_ood
from cardiosbi.io.loader import load_recording
from cardiosbi.signals.windows import make_windows

FALSE_ALARM = 0.01
CHANNEL_FILES = {"apw": "heldout_radial.npz", "ppg": "heldout_digital.npz"}

# Notes never contain "; ": tables join several reasons with it.
_NO_REAL = "no real label was compared, accurate on held-out simulations only (MODEL_CARD.md)"
VALIDATION = {
    "apw": {
        "hr": ("validated", "ECG heart rate on 25 ICU records: MAE 0.7 bpm, 90% interval covers "
                            "89% (MODEL_CARD.md), though overconfident in silico (cov90 0.72)"),
        "map_radial": ("validated", "arterial-line MAP on 25 ICU records: MAE 3.7 mmHg, 90% "
                                    "interval covers 96% (MODEL_CARD.md)"),
        "sbp_radial": ("known bias", "checked on one record only: biased low by 6.2 mmHg "
                                     "(MODEL_CARD.md)"),
        "dbp_radial": ("known bias", "checked on one record only: biased low by 8.4 mmHg, its "
                                     "90% interval covering 61% (MODEL_CARD.md)"),
        "sv": ("in silico only", _NO_REAL), "lvet": ("in silico only", _NO_REAL),
        "svr": ("in silico only", _NO_REAL),
    },
    "ppg": {
        "hr": ("known bias", "ECG heart rate on 25 ICU records: MAE 4.8 bpm and overconfident "
                             "(MODEL_CARD.md), use the hybrid model"),
        "map_radial": ("known bias", "+47 mmHg over 25 ICU records (MODEL_CARD.md): a normalised "
                                     "PPG barely identifies MAP"),
        "lvet": ("known bias", "sits near the prior's upper edge on real records where apw "
                               "gives ~207 ms (MODEL_CARD.md)"),
        "sv": ("in silico only", _NO_REAL), "svr": ("in silico only", _NO_REAL),
    },
    "hybrid": {
        "hr": ("validated", "5-fold record-level cross-validation on 47 ICU records: MAE 0.82 "
                            "bpm, 90% interval covers 97% (HYBRID_MODEL_CARD.md)"),
        "map_radial": ("known bias", "cross-validated MAE 15.9 mmHg, no better than the cohort "
                                     "mean (14.5): the PPG does not carry the pressure level "
                                     "across patients (HYBRID_MODEL_CARD.md)"),
        "sbp_radial": ("known bias", "cross-validated MAE 25.6 mmHg, no better than the cohort "
                                     "mean (24.3) (HYBRID_MODEL_CARD.md)"),
        "dbp_radial": ("known bias", "cross-validated MAE 12.0 mmHg, no better than the cohort "
                                     "mean (10.1) (HYBRID_MODEL_CARD.md)"),
        "sv": ("in silico only", "through the apw posterior, no real label, SV trend "
                                 "concordance with apw 0.58 (HYBRID_MODEL_CARD.md)"),
        "lvet": ("in silico only", "through the apw posterior, no real label"),
        "svr": ("in silico only", "through the apw posterior, no real label"),
    },
}


def validation_of(name: str) -> dict[str, dict[str, str]]:
    return {p: {"status": s, "note": note} for p, (s, note) in VALIDATION[name].items()}


def embeddings(posterior, windows: np.ndarray) -> torch.Tensor:
    x = model_input(posterior, windows.astype(np.float32)[:, None, :])
    with torch.no_grad():
        return torch.cat([posterior.ood_features(chunk).cpu() for chunk in x.split(512)])


def heldout_features(posterior, export: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings of the held-out simulations, split by seed parity (calibration, test)."""
    data = np.load(export)
    ok = data["status"] == 0
    (channel,) = [key for key in data.files if key.startswith("x_")]
    features = embeddings(posterior, data[channel][ok])
    odd = torch.from_numpy(data["seed"][ok] % 2 == 1)
    return features[~odd], features[odd]


def real_flag_rate(posterior, folders: list[str]) -> tuple[int, int]:
    """(flagged, accepted) windows of the records in ``folders``."""
    flagged = total = 0
    for folder in folders:
        for header in sorted(Path(folder).glob("*.hea")):
            try:
                windows, _ = make_windows(load_recording(header), config=window_config(posterior))
            except Exception as exc:  # noqa: BLE001 - a record the pipeline rejects is skipped
                print(f"  {header.stem}: skipped ({type(exc).__name__})")
                continue
            if len(windows):
                scores = posterior.ood_scores(model_input(posterior, windows))
                flagged += int((scores > posterior.ood.threshold).sum())
                total += len(windows)
    return flagged, total


def stamp(name: str, heldout: Path, real: list[str]) -> None:
    path = default_model_path(name)
    posterior = load_posterior(path)
    posterior.validation = validation_of(name)
    if name in CHANNEL_FILES:
        before = {k: v.clone() for k, v in posterior.network.state_dict().items()}
        reference = load_default_reference(name)
        calibration, test = heldout_features(posterior, heldout / CHANNEL_FILES[name])
        posterior.ood = fit_ood(reference.embeddings, calibration, FALSE_ALARM, test, source=(
            f"embeddings of the {len(reference.embeddings)} training simulations; threshold from "
            f"{len(calibration)} held-out simulations, false alarms measured on {len(test)} more"))
        print(f"{name}: threshold {posterior.ood.threshold:.2f}, measured false-alarm rate "
              f"{posterior.ood.measured_false_alarm:.4f} on {len(test)} held-out simulations")
        if real:
            flagged, total = real_flag_rate(posterior, real)
            print(f"{name}: real records flag {flagged}/{total} accepted windows "
                  f"({flagged / max(total, 1):.1%})")
        posterior.save(path)
        assert all(torch.equal(before[k], v) for k, v in load_posterior(path).network.state_dict().items())
        renew_reference_hash(name)
    else:
        posterior.save(path)
    print(f"wrote {path}")


def renew_reference_hash(name: str) -> None:
    path = default_reference_path(name)
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["model_sha256"] = np.array(file_sha256(default_model_path(name)))
    np.savez_compressed(path, **arrays)


if __name__ == "__main__":
    for model in ("apw", "ppg", "hybrid"):
        stamp(model, Path(sys.argv[1]), sys.argv[2:])
