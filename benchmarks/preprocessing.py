"""Preprocessing throughput: hours of two-channel (PPG + ABP) recording processed per second.

Two measurements on the real CinC 2015 records of ``../shared/data/real`` (skipped if absent):

1. ``long``: one long recording built by joining the records' PPG and ABP (first 290 s each,
   repeated to ``--hours``), windowed by ``make_windows`` in one process — loading excluded.
2. ``cohort``: ``preprocess_cohort`` over the record folder with ``--workers`` processes —
   everything a user's run does (loading the files, windows, writing tables and windows).

Usage: ``python benchmarks/preprocessing.py [--hours 24] [--workers 2] [--repeat 4]``.
Target (issue #6): at least 1,000x real time, i.e. 24 h of recording in under 90 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from cardiosbi.io import Channel, Recording, load_recording
from cardiosbi.signals import make_windows
from cardiosbi.signals.cohort import preprocess_cohort

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "cinc2015_vtach"
KEEP_S = 290.0  # the records' last seconds hold the alarm event


def long_recording(hours: float) -> Recording:
    """PPG and ABP of every record joined end to end, repeated until ``hours`` long."""
    ppg, abp = [], []
    for header in sorted(SHARED.glob("*.hea")):
        rec = load_recording(header)
        n = int(KEEP_S * rec.channels["abp"].fs)
        ppg.append(rec.channels["ppg"].signal[:n])
        abp.append(rec.channels["abp"].signal[:n])
    one_pass_ppg, one_pass_abp = np.concatenate(ppg), np.concatenate(abp)
    total = int(hours * 3600 * 250)
    reps = int(np.ceil(total / one_pass_abp.size))
    return Recording(
        name=f"joined_{hours:g}h", source=str(SHARED), format="wfdb",
        channels={"ppg": Channel("ppg", np.tile(one_pass_ppg, reps)[:total], 250.0, "NU", "PLETH"),
                  "abp": Channel("abp", np.tile(one_pass_abp, reps)[:total], 250.0, "mmHg", "ABP")},
    )


def bench_long(hours: float) -> tuple[float, int, int]:
    recording = long_recording(hours)
    start = time.perf_counter()
    windows, quality = make_windows(recording)
    elapsed = time.perf_counter() - start
    return elapsed, len(quality), len(windows)


def bench_cohort(workers: int, repeat: int) -> tuple[float, float]:
    """Seconds for ``preprocess_cohort`` over the folder (``repeat`` fresh runs, best kept)."""
    hours = sum(load_recording(h).duration_s for h in SHARED.glob("*.hea")) / 3600
    best = np.inf
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            preprocess_cohort(SHARED, Path(out), workers=workers, resume=False)
            best = min(best, time.perf_counter() - start)
    return best, hours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"shared data not found: {SHARED}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load before: {os.getloadavg()[0]:.2f}")
    elapsed, n_windows, n_accepted = bench_long(args.hours)
    print(f"long: {args.hours:g} h PPG+ABP in {elapsed:.1f} s = {args.hours / elapsed:.3f} h/s = "
          f"{args.hours * 3600 / elapsed:.0f}x real time ({n_accepted}/{n_windows} windows "
          f"accepted), 1 process")
    seconds, hours = bench_cohort(args.workers, args.repeat)
    print(f"cohort: {hours:.2f} h (25 records, 4 channels stored, ECG used for labels) in "
          f"{seconds:.1f} s = {hours / seconds:.3f} h/s = {hours * 3600 / seconds:.0f}x real "
          f"time, {args.workers} workers, incl. loading and writing")
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
