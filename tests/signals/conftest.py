"""Paths of the real test records (tests/data/real and the shipped quickstart sample)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "tests" / "data" / "real"


@pytest.fixture
def real_dir() -> Path:
    return REAL


@pytest.fixture
def v292s() -> Path:
    return REAL / "v292s"


@pytest.fixture
def v136s() -> Path:
    return REPO / "data" / "samples" / "v136s"
