"""launcher=ray on a local Ray instance started by the test (skipped when ray is absent)."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from cardiosbi.datasets import store
from cardiosbi.datasets.build import build_dataset
from cardiosbi.datasets.launcher import LauncherConfig
from tests.datasets.conftest import small_spec


def test_ray_launcher_writes_the_same_store_as_the_local_one(tmp_path):
    pytest.importorskip("ray", reason="ray is the optional 'scale' extra")
    spec = small_spec(20, 5)
    build_dataset(tmp_path / "ray", spec, LauncherConfig(name="ray", num_cpus=2), device="cpu",
                  show_progress=False, plots=False)
    build_dataset(tmp_path / "local", spec, device="cpu", show_progress=False, plots=False)
    a = zarr.open_group(tmp_path / "ray" / store.STORE_NAME, mode="r")
    b = zarr.open_group(tmp_path / "local" / store.STORE_NAME, mode="r")
    for path in ("seed", "theta", "x/aortic_root/P"):
        np.testing.assert_array_equal(a[path][:], b[path][:])


def test_ray_launcher_without_ray_is_a_clear_error(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("no ray")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    from cardiosbi.errors import NotAvailableError

    with pytest.raises(NotAvailableError, match="scale"):
        build_dataset(tmp_path, small_spec(5, 5), LauncherConfig(name="ray"), device="cpu",
                      show_progress=False, plots=False)


def test_local_process_pool_matches_in_process_run(tmp_path):
    spec = small_spec(20, 5)
    build_dataset(tmp_path / "pool", spec, LauncherConfig(workers=2), device="cpu",
                  show_progress=False, plots=False)
    build_dataset(tmp_path / "inline", spec, device="cpu", show_progress=False, plots=False)
    a = zarr.open_group(tmp_path / "pool" / store.STORE_NAME, mode="r")
    b = zarr.open_group(tmp_path / "inline" / store.STORE_NAME, mode="r")
    for path in ("seed", "theta", "x/aortic_root/PPG"):
        np.testing.assert_array_equal(a[path][:], b[path][:])
