"""Seeding: one global seed, and a tree of independent child seeds for shards and workers.

Child seeds come from :class:`numpy.random.SeedSequence`, so shard ``i`` of a run with seed
``s`` always gets the same stream no matter how many workers run or in which order; a named
unit of work (a record) gets :func:`record_seed`.
"""

from __future__ import annotations

import hashlib
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


def record_seed(seed: int, key: str) -> int:
    """A 63-bit seed for one record of a run, from the run seed and the record's id.

    sha256 (not Python's salted ``hash``) makes it the same in every process and session, so
    a record gets the same draws whether the run was interrupted or not, in any order.
    """
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
