"""Missing data in a monitor window: signal dropouts (NaN) and clipped stretches (held at the rail).

A gap is a run of samples the monitor lost. ``gap_mask`` places an exact missing fraction in a
few contiguous stretches; ``with_gaps`` loses them as a dropout or a clipped sensor would;
``detect_missing`` finds them again as the package's quality code does (NaN, or a long run at
the window's maximum), so simulated windows carry NaN exactly where a real window would be
marked missing. experiments/missing_data measures how much missing data a posterior trained on
such windows tolerates.
"""

from __future__ import annotations

import numpy as np

PATTERNS = ("dropout", "clipped")


def gap_mask(length: int, fraction: float, rng: np.random.Generator, max_stretches: int,
             min_stretch: int) -> np.ndarray:
    """Bool (length,): exactly round(fraction * length) missing samples in 1..max_stretches
    non-overlapping contiguous stretches of random length (each at least ``min_stretch``
    samples when the total allows) at random places."""
    total = int(round(fraction * length))
    mask = np.zeros(length, dtype=bool)
    if total == 0:
        return mask
    count = int(min(rng.integers(1, max_stretches + 1), max(1, total // max(1, min_stretch))))
    base = total // count if total < count * min_stretch else min_stretch
    lengths = base + random_composition(total - base * count, count, rng)
    spaces = random_composition(length - total, count + 1, rng)
    position = 0
    for space, size in zip(spaces, lengths, strict=False):
        position += space
        mask[position:position + size] = True
        position += size
    return mask


def random_composition(total: int, parts: int, rng: np.random.Generator) -> np.ndarray:
    """``parts`` non-negative integers summing to ``total``, cut at uniform random points
    (so a gap is as likely at a window's edge as in its middle)."""
    cuts = np.sort(rng.integers(0, total + 1, parts - 1))
    return np.diff(np.concatenate([[0], cuts, [total]]))


def with_gaps(x: np.ndarray, mask: np.ndarray, pattern: str) -> np.ndarray:
    """``x`` (T,) with the masked samples lost (NaN) or held at the upper rail (clipped)."""
    if pattern not in PATTERNS:
        raise ValueError(f"gap pattern {pattern!r} is unknown; use one of {', '.join(PATTERNS)}")
    out = np.array(x, dtype=np.float64, copy=True)
    out[mask] = np.nan if pattern == "dropout" else np.nanmax(x)
    return out


def detect_missing(x: np.ndarray, min_run: int) -> np.ndarray:
    """Bool (T,): samples that are NaN/inf, or part of a run of at least ``min_run`` samples
    at the window's maximum (to 1e-6 of its range, as :func:`cardiosbi.signals.abp.clip_fraction`):
    a natural waveform touches its maximum in a sample or two, a saturated sensor sits on it."""
    finite = np.isfinite(x)
    missing = ~finite
    if finite.sum() < 2:
        return np.ones_like(missing)
    values = x[finite]
    at_top = finite & (x >= values.max() - 1e-6 * np.ptp(values))
    edges = np.flatnonzero(np.diff(np.concatenate([[0], at_top.astype(int), [0]])))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        if stop - start >= min_run:
            missing[start:stop] = True
    return missing


def lose_samples(x: np.ndarray, fraction: float, pattern: str, rng: np.random.Generator,
                 max_stretches: int, min_stretch: int, min_clip_run: int) -> np.ndarray:
    """``x`` (T,) with ``fraction`` of it lost as ``pattern``; NaN wherever the loss is
    detectable (a clipped stretch shorter than ``min_clip_run`` looks like a peak and stays)."""
    gapped = with_gaps(x, gap_mask(len(x), fraction, rng, max_stretches, min_stretch), pattern)
    return np.where(detect_missing(gapped, min_clip_run), np.nan, gapped)
