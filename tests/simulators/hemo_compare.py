"""Comparison helpers for the hemodynamics validation tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "data" / "hemodynamics"


def read_table(path: Path) -> np.ndarray:
    """A CSV (header line) or openBF 1.x .last (whitespace) table as an array."""
    if path.suffix == ".csv":
        return np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return np.loadtxt(path, ndmin=2)


def phase_aligned_rms(reference: np.ndarray, candidate: np.ndarray) -> float:
    """RMS difference after the circular shift of ``candidate`` that minimises it.

    Both are one beat sampled at the same number of equally spaced points.
    """
    n = len(reference)
    if len(candidate) != n:  # resample the candidate beat onto the reference grid
        x = np.linspace(0, 1, len(candidate), endpoint=False)
        candidate = np.interp(np.linspace(0, 1, n, endpoint=False), x, candidate, period=1.0)
    return min(np.sqrt(np.mean((reference - np.roll(candidate, s)) ** 2)) for s in range(-3, 4))


def waveform_errors(ref_dir: Path, out_dir: Path, vessel: str, ref_vessel: str | None = None,
                    suffix: str = ".csv") -> dict[str, np.ndarray]:
    """Relative errors per node: P as RMS/mean P, Q as RMS/peak |Q| (5 nodes each)."""
    errors = {}
    for q in ("P", "Q"):
        ref = read_table(ref_dir / f"{ref_vessel or vessel}_{q}{suffix}")[:, 1:]
        got = read_table(out_dir / f"{vessel}_{q}.csv")[:, 1:]
        scale = ref.mean(axis=0) if q == "P" else np.abs(ref).max(axis=0)
        errors[q] = np.array(
            [phase_aligned_rms(ref[:, i], got[:, i]) / scale[i] for i in range(ref.shape[1])]
        )
    return errors
