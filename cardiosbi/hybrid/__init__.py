"""The hybrid PPG model: a conditional VAE from PPG to arterial pressure, composed with the
simulator-trained APW posterior (Palumbo et al., ML4H 2025).

    from cardiosbi.hybrid import TrainHybridConfig, train_hybrid, HybridPosterior
"""

from cardiosbi.hybrid.fit import TrainHybridConfig, build_hybrid, gather_pairs, train_hybrid
from cardiosbi.hybrid.model import CVAEConfig, PressureCVAE
from cardiosbi.hybrid.pairs import PairsConfig, PairSet, load_pairs
from cardiosbi.hybrid.posterior import HybridPosterior
from cardiosbi.hybrid.training import HybridTrainerConfig, fit_cvae

__all__ = ["CVAEConfig", "HybridPosterior", "HybridTrainerConfig", "PairSet", "PairsConfig",
           "PressureCVAE", "TrainHybridConfig", "build_hybrid", "fit_cvae", "gather_pairs",
           "load_pairs", "train_hybrid"]
