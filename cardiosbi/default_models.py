"""The pretrained posteriors shipped with cardiosbi (``cardiosbi/assets/models``).

``apw``: radial arterial pressure windows in mmHg; ``ppg``: PPG windows in any unit. Both were
trained by the project on its own 1D-simulated dataset (recipe: ``experiment=default_model``;
accuracy, coverage and limits: ``MODEL_CARD.md`` beside the files, also :func:`model_card`).
``hybrid``: PPG windows too, through a conditional VAE from PPG to arterial pressure trained on
85 real ICU recordings and composed with ``apw`` (``cardiosbi train-hybrid``; its card is
``HYBRID_MODEL_CARD.md``). ``cardiosbi infer`` runs ``apw`` and ``hybrid`` by default; ``ppg``
stays available as the direct baseline.
Each ships with its RoPE reference set (``<name>_reference.npz``): the labels and the model's
embeddings of its 4,096 training-store simulations, so ``cardiosbi calibrate posterior=ppg
reference=default`` needs no simulator.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cardiosbi.errors import ConfigError, InputFileError
from cardiosbi.inference import Posterior, load_posterior

MODELS_DIR = Path(__file__).resolve().parent / "assets" / "models"
DEFAULT_MODELS = {
    "apw": "arterial pressure (radial, mmHg): HR, SV, CO, LVET, SVR, MAP/SBP/DBP",
    "hybrid": "photoplethysmogram through a PPG->pressure CVAE trained on real ICU pairs, "
              "then the apw posterior: HR, SV, CO, LVET, SVR, MAP/SBP/DBP",
    "ppg": "photoplethysmogram, direct simulation-trained NPE (baseline): HR, SV, CO, LVET, "
           "SVR, MAP",
}
# What `posterior=default` runs: one model per channel kind (PPG goes to the hybrid).
DEFAULT_SET = ("apw", "hybrid")
# Shipped models whose card advises against RoPE calibration, and why (see MODEL_CARD.md).
CALIBRATION_ADVICE = {
    "apw": "the model card advises against calibrating apw: its HR and MAP posteriors are "
           "already accurate on real records (0.7 bpm, 3.7 mmHg; 90% coverage 0.89/0.96) and "
           "RoPE only widened them there; calibrate the PPG models instead",
}


def default_model_path(name: str) -> Path:
    """File of shipped model ``name``; the error lists the shipped names."""
    if name not in DEFAULT_MODELS:
        raise ConfigError(f"no shipped model {name!r}; shipped: {', '.join(DEFAULT_MODELS)}")
    return MODELS_DIR / f"{name}.pt"


def posterior_path(posterior: str) -> Path:
    """A shipped model's name (``apw``, ``ppg``) or the path of a posterior file."""
    if not str(posterior).strip():
        raise ConfigError(f"no posterior given: posterior={'|'.join(DEFAULT_MODELS)} or the path "
                          "of a posterior file")
    return default_model_path(posterior) if posterior in DEFAULT_MODELS else Path(posterior)


def calibration_advice(path: Path) -> str:
    """The card's advice against calibrating the shipped model stored at ``path`` ('' if none);
    a copy of a shipped file is recognised by its content."""
    for name, advice in CALIBRATION_ADVICE.items():
        shipped = default_model_path(name)
        if Path(path).resolve() == shipped.resolve() or file_sha256(path) == file_sha256(shipped):
            return advice
    return ""


def load_default_posterior(name: str = "apw", device: str = "cpu") -> Posterior:
    """The shipped posterior ``name`` (``apw``, ``hybrid`` or ``ppg``), ready for
    ``cardiosbi.estimate``."""
    return load_posterior(default_model_path(name), device=device)


def model_card(name: str = "apw") -> str:
    """A shipped model's card (Markdown): data, prior, accuracy, coverage, limits."""
    default_model_path(name)  # validates the name
    card = "HYBRID_MODEL_CARD.md" if name == "hybrid" else "MODEL_CARD.md"
    return (MODELS_DIR / card).read_text()


@dataclass
class ReferenceSet:
    """Simulations for RoPE kept as the posterior's embeddings h(x_s) and their labels θ."""

    theta: torch.Tensor       # (n_s, k) in the posterior's parameter order
    embeddings: torch.Tensor  # (n_s, E)
    names: list[str]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def default_reference_path(name: str) -> Path:
    default_model_path(name)  # validates the name
    return MODELS_DIR / f"{name}_reference.npz"


def load_default_reference(name: str) -> ReferenceSet:
    """The shipped model's reference set; refused if it was not made for this model file."""
    path = default_reference_path(name)
    with np.load(path, allow_pickle=False) as data:
        if str(data["model_sha256"]) != file_sha256(default_model_path(name)):
            raise InputFileError(f"{path.name} was computed for another {name}.pt; regenerate it "
                                 "with experiments/default_model/reference_set.py")
        return ReferenceSet(torch.from_numpy(data["theta"]).float(),
                            torch.from_numpy(data["embeddings"]).float(),
                            [str(n) for n in data["names"]])
