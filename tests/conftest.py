"""Shared fixtures and markers for the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cardiosbi.utils.seeding import seed_everything

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
REAL_RECORDS = REPO_ROOT / "tests" / "data" / "real"


@pytest.fixture
def seed() -> int:
    """A fixed seed, applied to Python, NumPy and torch before the test runs."""
    value = 20261122
    seed_everything(value)
    return value


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module (``pytestmark = pytest.mark.usefixtures(...)``): small
    convolutions only lose time to thread hand-offs, which grow to seconds per step when the
    2-core machine is shared with another test worker."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def real_dir() -> Path:
    """Real WFDB test records shipped in tests/data/real (provenance in its README)."""
    return REAL_RECORDS


@pytest.fixture
def v292s() -> Path:
    return REAL_RECORDS / "v292s"


@pytest.fixture
def v136s() -> Path:
    """The quickstart's shipped sample record."""
    return REPO_ROOT / "cardiosbi" / "assets" / "samples" / "v136s"


def pytest_collection_modifyitems(config, items):
    """Skip `gpu` tests when CUDA is absent (they are deselected by default anyway)."""
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
