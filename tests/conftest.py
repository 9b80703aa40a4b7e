"""Shared fixtures and markers for the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cardiosbi.utils.seeding import seed_everything

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture
def seed() -> int:
    """A fixed seed, applied to Python, NumPy and torch before the test runs."""
    value = 20261122
    seed_everything(value)
    return value


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


def pytest_collection_modifyitems(config, items):
    """Skip `gpu` tests when CUDA is absent (they are deselected by default anyway)."""
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
