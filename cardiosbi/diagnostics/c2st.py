"""Classifier two-sample test (C2ST), as in sbibm (Lueckmann et al., 2021).

An MLP classifier learns to tell samples of P from samples of Q; its 5-fold cross-validated
accuracy is the statistic: 0.5 = indistinguishable, 1.0 = perfectly separable.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.model_selection import KFold, cross_val_score
from sklearn.neural_network import MLPClassifier


def c2st(p_samples, q_samples, seed: int = 1, folds: int = 5, z_score: bool = True) -> float:
    """Mean cross-validated accuracy of an MLP separating ``p_samples`` (N, d) from ``q_samples``.

    Follows sbibm: both sets are z-scored with the mean/std of ``p_samples`` (the reference),
    the classifier has two hidden layers of 10*d units (ReLU, adam, at most 10,000 iterations
    with sklearn's default early convergence test), folds are shuffled with ``seed``.
    """
    p = _as_2d(p_samples)
    q = _as_2d(q_samples)
    if p.shape[1] != q.shape[1]:
        raise ValueError(f"sample dimensions differ: {p.shape[1]} vs {q.shape[1]}")
    if z_score:
        mean, std = p.mean(axis=0), p.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        p, q = (p - mean) / std, (q - mean) / std
    features = np.concatenate([p, q])
    labels = np.concatenate([np.zeros(len(p)), np.ones(len(q))])
    width = 10 * p.shape[1]
    classifier = MLPClassifier(
        activation="relu", hidden_layer_sizes=(width, width), max_iter=10000, solver="adam",
        random_state=seed,
    )
    splits = KFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_score(classifier, features, labels, cv=splits, scoring="accuracy")
    return float(np.mean(scores))


def _as_2d(samples) -> np.ndarray:
    if isinstance(samples, torch.Tensor):
        samples = samples.detach().cpu().double().numpy()
    array = np.asarray(samples, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"samples must be (N, d), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("samples contain NaN or inf")
    return array
