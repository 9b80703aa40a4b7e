"""Matplotlib figures of simulated waveforms (per site, and pressure along a path)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from simulators.hemodynamics.api import SimulationResult
from simulators.hemodynamics.network import MMHG

UNITS = {"P": ("mmHg", 1.0 / MMHG), "Pc": ("mmHg", 1.0 / MMHG), "Q": ("mL/s", 1e6),
         "Q_out": ("mL/s", 1e6), "A": ("mm^2", 1e6)}


def plot_waveforms(result: SimulationResult, subject: int = 0, signals: Sequence[str] = ("P", "Q"),
                   path: str | Path | None = None):
    """One row per site, one column per signal, for one subject; saved to ``path`` if given."""
    sites = list(result.waveforms)
    # pyplot-free figures: no global backend or state is touched (safe inside notebooks)
    fig = Figure(figsize=(4 * len(signals), 2.2 * len(sites)))
    axes = fig.subplots(len(sites), len(signals), squeeze=False, sharex=True)
    t = result.t.cpu().numpy()
    for i, site in enumerate(sites):
        for j, sig in enumerate(signals):
            ax = axes[i][j]
            if sig in result.waveforms[site]:
                unit, scale = UNITS[sig]
                ax.plot(t, result.waveforms[site][sig][subject].double().cpu().numpy() * scale)
                ax.set_ylabel(f"{site}\n{sig} [{unit}]")
            ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("time in beat [s]")
    fig.suptitle(f"subject {subject}: status {result.reason[subject] or 'ok'}")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def plot_pressure_along(result: SimulationResult, sites: Sequence[str], distances: Sequence[float],
                        subject: int = 0, path: str | Path | None = None):
    """Pressure at successive sites of a path (e.g. along the aorta), offset by distance [cm]."""
    fig = Figure(figsize=(6, 6))
    ax = fig.subplots()
    t = result.t.cpu().numpy()
    for site, d in zip(sites, distances, strict=True):
        p = result.waveforms[site]["P"][subject].double().cpu().numpy() / MMHG
        ax.plot(t, p + d * 100.0 * 2.0, label=f"{site} ({d * 100:.0f} cm)")
    ax.set_xlabel("time in beat [s]")
    ax.set_ylabel("pressure [mmHg] + 2 x distance from the heart [cm]")
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
