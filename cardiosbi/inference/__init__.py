"""Neural posterior estimation: estimators, training, and the Posterior interface.

    from cardiosbi.inference import NPEConfig, train_npe, Posterior, load_posterior
"""

from cardiosbi.inference.config import ModelConfig, NPEConfig, TrainerConfig
from cardiosbi.inference.data import NPEDataModule, TensorDataModule, filter_rows
from cardiosbi.inference.ensemble import EnsemblePosterior
from cardiosbi.inference.estimators import EstimatorConfig
from cardiosbi.inference.npe_posterior import NPEPosterior
from cardiosbi.inference.posterior import Posterior
from cardiosbi.inference.serialization import load_posterior, save_posterior
from cardiosbi.inference.training import fit_posterior, train_npe
from cardiosbi.nn.factory import EmbeddingConfig

__all__ = [
    "EmbeddingConfig", "EnsemblePosterior", "EstimatorConfig", "ModelConfig", "NPEConfig", "NPEDataModule",
    "NPEPosterior", "Posterior", "TensorDataModule", "TrainerConfig", "filter_rows",
    "fit_posterior", "load_posterior", "save_posterior", "train_npe",
]
