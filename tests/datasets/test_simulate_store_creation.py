"""`cardiosbi simulate` killed while its store is created resumes instead of being refused; the
run's config is recorded before any shard; the refusal of a genuinely different config gives a
hint that works."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from cardiosbi.cli.main import run
from cardiosbi.datasets import store
from cardiosbi.datasets.build import build_dataset
from cardiosbi.datasets.reader import SimulatedStore
from cardiosbi.errors import ConfigError, InputFileError
from tests.datasets.conftest import small_spec

ARGS = ["simulate", "simulator=windkessel", "n=20", "shard_size=10", "measurement.window_s=4",
        "simulator.n_phase=256", "plots=false", "device=cpu"]


def _build(root, spec):
    return build_dataset(root, spec, device="cpu", show_progress=False, plots=False)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    _build(root, small_spec(20, 10))
    return zarr.open_group(root / store.STORE_NAME, mode="r")


def _assert_equal(root, reference):
    group = zarr.open_group(root / store.STORE_NAME, mode="r")
    for path in ("seed", "theta", "x/aortic_root/P", "x/aortic_root/PPG"):
        np.testing.assert_array_equal(group[path][:], reference[path][:], err_msg=path)


def test_a_store_killed_during_creation_is_created_again(tmp_path, reference):
    # what a kill inside the old create_store left: the group and some arrays, no config
    group = zarr.open_group(tmp_path / store.STORE_NAME, mode="w", zarr_format=3)
    group.create_array("theta", shape=(20, 3), chunks=(10, 3), dtype="float32")
    with pytest.raises(InputFileError, match="never completely created"):
        SimulatedStore(tmp_path)
    _build(tmp_path, small_spec(20, 10))
    _assert_equal(tmp_path, reference)
    assert len(store.completed_shards(tmp_path)) == 2


def test_a_half_built_store_beside_its_place_is_discarded(tmp_path, reference):
    partial = zarr.open_group(tmp_path / store.PARTIAL_NAME, mode="w", zarr_format=3)
    partial.create_array("seed", shape=(20,), chunks=(10,), dtype="uint64")
    _build(tmp_path, small_spec(20, 10))
    _assert_equal(tmp_path, reference)
    assert not (tmp_path / store.PARTIAL_NAME).exists()


def test_the_config_is_recorded_before_any_shard(tmp_path, monkeypatch, capsys):
    out = tmp_path / "sim"
    seen = []

    def killed(root, *args):
        seen.append((out / "config.yaml").exists() and store.is_finished(out))
        raise KeyboardInterrupt  # as if killed before the first shard finished
        yield  # pragma: no cover — makes this a generator like run_shards

    monkeypatch.setattr("cardiosbi.datasets.build.run_shards", killed)
    assert run([*ARGS, f"out={out}"]) == 130
    assert seen == [True]
    with pytest.raises(InputFileError, match="config.yaml"):
        SimulatedStore(out)  # incomplete: the hint points at the recorded settings
    monkeypatch.undo()
    capsys.readouterr()
    assert run([*ARGS, f"out={out}"]) == 0
    assert "20 samples" in capsys.readouterr().out


def test_the_hint_for_a_different_config_works(tmp_path, capsys):
    out = tmp_path / "sim"
    assert run([*ARGS, f"out={out}"]) == 0
    capsys.readouterr()
    assert run([*ARGS, "n=30", f"out={out}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"delete the folder {out}" in err
    # deleting only the store (not the folder) must not resurrect the old shard markers
    import shutil

    shutil.rmtree(out / store.STORE_NAME)
    assert run([*ARGS, "n=30", f"out={out}"]) == 0
    group = zarr.open_group(out / store.STORE_NAME, mode="r")
    assert np.isfinite(group["theta"][:]).all() and np.all(group["seed"][:] != 0)
    assert len(store.completed_shards(out)) == 3
    shutil.rmtree(out)  # the hint itself
    assert run([*ARGS, "n=10", f"out={out}"]) == 0


def test_a_finished_store_with_another_config_is_still_refused(tmp_path):
    _build(tmp_path, small_spec(20, 10))
    with pytest.raises(ConfigError, match="different config"):
        _build(tmp_path, small_spec(20, 10, "seed=3"))
