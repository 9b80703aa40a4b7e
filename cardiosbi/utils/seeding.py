"""Seeding: one global seed, and a tree of independent child seeds for shards and workers.

Child seeds come from :class:`numpy.random.SeedSequence`, so shard ``i`` of a run with seed
``s`` always gets the same stream no matter how many workers run or in which order.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def child_seeds(seed: int, n: int, *, key: int = 0) -> list[int]:
    """``n`` independent 63-bit seeds derived from ``seed`` (``key`` separates uses)."""
    sequence = np.random.SeedSequence([seed, key])
    return [int(s.generate_state(2, np.uint32).view(np.uint64)[0] >> 1) for s in sequence.spawn(n)]


def torch_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch generator seeded with ``seed`` on ``device``."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator
