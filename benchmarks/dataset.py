"""Dataset pipeline benchmark: end-to-end accepted samples/s, stage shares, reader memory.

1. Generation: ``build_dataset`` with the chosen simulator; reports accepted samples/s and the
   time per stage (prior, simulate, ppg, measurement, write) from the shard markers, and the
   PPG + measurement + write overhead as a share of simulation time (issue #4 target < 10 %).
2. Reading: peak RSS of a fresh process that streams the whole training split once through
   ``SimulatedDataModule`` for a store of N1 and of N2 samples (memory must not grow with N).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/dataset.py --n 2000                  # windkessel
    python benchmarks/dataset.py --simulator hemodynamics --n 64 --device cuda --skip-reader
    python benchmarks/dataset.py --reader-sizes 10000 100000 --skip-generation
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

READER = """
import resource, sys, time
from cardiosbi.datasets.reader import SimulatedDataModule
module = SimulatedDataModule(sys.argv[1], batch_size=256)
start, n = time.perf_counter(), 0
for theta, x in module.train_dataloader():
    n += len(theta)
elapsed = time.perf_counter() - start
print(n, elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def _build(root: Path, overrides: list[str], device: str):
    from cardiosbi.cli.main import compose
    from cardiosbi.datasets.build import build_dataset
    from cardiosbi.datasets.cli import spec_from_config

    spec = spec_from_config(compose("simulate", overrides))
    start = time.perf_counter()
    summary = build_dataset(root, spec, device=device, show_progress=False, plots=False)
    return summary, time.perf_counter() - start


def generation(args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        overrides = [f"n={args.n}", f"shard_size={args.shard_size}", f"simulator={args.simulator}"]
        summary, seconds = _build(Path(tmp) / "gen", overrides, args.device)
    stages = summary["seconds_by_stage"]
    overhead = stages.get("ppg", 0) + stages.get("measurement", 0) + stages.get("write", 0)
    return {"simulator": args.simulator, "n": args.n, "device": args.device,
            "wall_s": round(seconds, 2), "samples_per_s": round(args.n / seconds, 1),
            "stages_s": stages, "overhead_share_of_simulation": round(overhead / stages["simulate"], 3),
            "failure_rate": summary["failure_rate"],
            "prior_rejected_fraction": round(summary["prior_rejected_fraction"], 3)}


def reader(args) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.reader_sizes:
            root = Path(tmp) / f"r{n}"
            # clean windows: reader memory does not depend on the effects, only on the store size
            _, build_s = _build(root, [f"n={n}", "shard_size=1000", "measurement=clean",
                                       "simulator=windkessel"], "cpu")
            out = subprocess.run([sys.executable, "-c", READER, str(root)], capture_output=True,
                                 text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
            count, elapsed, rss = out.stdout.split()
            size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) / 2**20
            rows.append({"n": n, "store_MiB": round(size, 1), "build_s": round(build_s, 1),
                         "train_rows_read": int(count), "read_s": round(float(elapsed), 2),
                         "rows_per_s": round(int(count) / float(elapsed)),
                         "peak_rss_MiB": round(float(rss), 1)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--shard-size", type=int, default=250)
    parser.add_argument("--simulator", default="windkessel")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--reader-sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--skip-generation", action="store_true")
    parser.add_argument("--skip-reader", action="store_true")
    args = parser.parse_args()
    results = {"load_before": os.getloadavg()}
    if not args.skip_generation:
        results["generation"] = generation(args)
    if not args.skip_reader:
        results["reader"] = reader(args)
    results["load_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
