"""The pretrained posteriors shipped with cardiosbi (``cardiosbi/assets/models``).

``apw``: radial arterial pressure windows in mmHg; ``ppg``: PPG windows in any unit. Both were
trained by the project on its own 1D-simulated dataset (recipe: ``experiment=default_model``;
accuracy, coverage and limits: ``MODEL_CARD.md`` beside the files, also :func:`model_card`).
"""

from __future__ import annotations

from pathlib import Path

from cardiosbi.errors import ConfigError
from cardiosbi.inference import Posterior, load_posterior

MODELS_DIR = Path(__file__).resolve().parent / "assets" / "models"
DEFAULT_MODELS = {
    "apw": "arterial pressure (radial, mmHg): HR, SV, CO, LVET, SVR, MAP/SBP/DBP",
    "ppg": "photoplethysmogram (digital, any unit): HR, SV, CO, LVET, SVR, MAP",
}


def default_model_path(name: str) -> Path:
    """File of shipped model ``name``; the error lists the shipped names."""
    if name not in DEFAULT_MODELS:
        raise ConfigError(f"no shipped model {name!r}; shipped: {', '.join(DEFAULT_MODELS)}")
    return MODELS_DIR / f"{name}.pt"


def load_default_posterior(name: str = "apw", device: str = "cpu") -> Posterior:
    """The shipped posterior ``name`` (``apw`` or ``ppg``), ready for ``cardiosbi.estimate``."""
    return load_posterior(default_model_path(name), device=device)


def model_card() -> str:
    """The shipped models' card (Markdown): data, prior, accuracy, coverage, limits."""
    return (MODELS_DIR / "MODEL_CARD.md").read_text()
