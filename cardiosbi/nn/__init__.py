"""Neural-network building blocks: embedding networks for vectors and multichannel series."""

from cardiosbi.nn.factory import EmbeddingConfig, EmbeddingNet, build_embedding
from cardiosbi.nn.missing import MissingDataMask
from cardiosbi.nn.mlp import IdentityEmbedding, MLPEmbedding
from cardiosbi.nn.resnet1d import ResNet1dEmbedding
from cardiosbi.nn.standardize import Standardize
from cardiosbi.nn.tcn import TCNEmbedding
from cardiosbi.nn.transformer import TransformerEmbedding

__all__ = [
    "EmbeddingConfig", "EmbeddingNet", "IdentityEmbedding", "MLPEmbedding", "MissingDataMask",
    "ResNet1dEmbedding", "Standardize", "TCNEmbedding", "TransformerEmbedding", "build_embedding",
]
