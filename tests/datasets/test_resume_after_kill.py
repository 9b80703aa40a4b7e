"""`cardiosbi simulate` killed mid-run resumes to exactly N samples, no duplicates, no torn shard."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import zarr

from cardiosbi.cli.main import compose
from cardiosbi.datasets import store
from cardiosbi.datasets.build import build_dataset
from cardiosbi.datasets.cli import spec_from_config
from cardiosbi.datasets.reader import SimulatedStore
from cardiosbi.errors import InputFileError

ARGS = ["simulator=windkessel", "n=200", "shard_size=10", "measurement.window_s=4", "simulator.n_phase=256", "plots=false",
        "device=cpu"]


def _simulate(out, **kwargs):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "cardiosbi", "simulate", f"out={out}", *ARGS],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, **kwargs)


def test_killed_run_resumes_to_exactly_n_samples(tmp_path):
    out = tmp_path / "sim"
    process = _simulate(out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if len(list((out / "shards").glob("*.json"))) >= 2:
            break
        time.sleep(0.02)
    if process.poll() is not None:
        pytest.fail(f"the run ended before it could be killed: {process.stderr.read().decode()[-500:]}")
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(list((out / "shards").glob("*.json")))
    assert 0 < done_before < 20
    with pytest.raises(InputFileError, match="incomplete"):
        SimulatedStore(out)

    resumed = _simulate(out)
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr.decode()[-800:]
    assert "200 samples" in stdout.decode()

    group = zarr.open_group(out / store.STORE_NAME, mode="r")
    seeds = group["seed"][:]
    assert seeds.shape == (200,) and np.all(seeds != 0)
    assert len(np.unique(seeds)) == 200  # no duplicate seeds
    assert np.all(group["status"][:] == 0)
    for path in ("theta", "x/aortic_root/P", "x/aortic_root/PPG", "labels/hr"):
        values = group[path][:]
        assert np.isfinite(values).all(), f"torn rows in {path}"
    assert len(store.completed_shards(out)) == 20
    # the killed-and-resumed store equals an uninterrupted run of the same config
    fresh = tmp_path / "fresh"
    build_dataset(fresh, spec_from_config(compose("simulate", ARGS)), device="cpu",
                  show_progress=False, plots=False)
    reference = zarr.open_group(fresh / store.STORE_NAME, mode="r")
    for path in ("seed", "theta", "x/aortic_root/P", "x/aortic_root/PPG"):
        np.testing.assert_array_equal(group[path][:], reference[path][:], err_msg=path)
