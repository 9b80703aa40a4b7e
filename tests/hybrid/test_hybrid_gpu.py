"""The shipped hybrid on a GPU gives the CPU's posterior (needs CUDA; `-m gpu`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cardiosbi.default_models import load_default_posterior


@pytest.mark.gpu
def test_shipped_hybrid_on_cuda_matches_cpu():
    # CPU generators on both devices: the latent and flow base draws are the same numbers, so
    # only kernel arithmetic (cuDNN/TF32) differs; it must not move any summary materially.
    t = torch.arange(1000) / 125.0
    beats = torch.stack([torch.sin(2 * torch.pi * f * t) ** 8 for f in (1.0, 1.3, 1.6)])
    ppg = ((beats - beats.mean(1, keepdim=True)) / beats.std(1, keepdim=True))[:, None]
    tables = []
    for device in ("cpu", "cuda"):
        posterior = load_default_posterior("hybrid", device=device)
        tables.append(posterior.summarize(ppg, n=512, generator=torch.Generator().manual_seed(3)))
    cpu, gpu = tables
    assert np.isfinite(cpu["median"]).all()
    scale = cpu["width90"].to_numpy()
    assert np.all(np.abs(gpu["median"].to_numpy() - cpu["median"].to_numpy()) < 0.05 * scale)
    assert np.all(np.abs(gpu["width90"].to_numpy() - scale) < 0.1 * scale)
