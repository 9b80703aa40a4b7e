"""Pictures a hardware engineer reads at a glance: identifiability heat maps and pulse SNR."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cardiosbi import registry
from cardiosbi.sensor_design.identifiability import Thresholds
from cardiosbi.sensor_design.windows import SKIN_TONES, TARGETS

LABELS = {"hr": "HR", "lvet": "LVET", "sv": "SV", "spo2": "SpO2", "melanin": "melanin",
          "blood_fraction": "blood frac.", "pulsatile_fraction": "pulsatile frac.",
          "pulsatile_blood_fraction": "perfusion"}


def target_label(name: str) -> str:
    unit = registry.get(name).unit
    return f"{LABELS[name]}\n[{unit}]" if unit not in ("", "1") else f"{LABELS[name]}\n[fraction]"


def plot_identifiability(table: pd.DataFrame, perfusion: str, thresholds: Thresholds, path: Path) -> Path:
    """Heat maps (rows: noise floors, columns: skin tones) of the relative 90 % width per
    design x target at one perfusion level; a cross marks cells whose coverage is too low."""
    part = table[table["perfusion"] == perfusion]
    floors = sorted(part["noise_floor"].unique())
    designs = list(dict.fromkeys(part["design"]))
    fig, axes = plt.subplots(len(floors), len(SKIN_TONES), squeeze=False, sharex=True, sharey=True,
                             figsize=(4.2 * len(SKIN_TONES), 0.45 * len(designs) * len(floors) + 2.2))
    image = None
    for r, floor in enumerate(floors):
        for c, tone in enumerate(SKIN_TONES):
            cell = part[(part["noise_floor"] == floor) & (part["skin_tone"] == tone)]
            image = _panel(axes[r, c], cell, designs, thresholds)
            axes[r, c].set_title(f"Fitzpatrick {tone}, noise floor {floor:.0e}", fontsize=9)
    for ax in axes[-1]:
        ax.set_xticks(range(len(TARGETS)), [target_label(t) for t in TARGETS], fontsize=7, rotation=90)
    for ax in axes[:, 0]:
        ax.set_yticks(range(len(designs)), designs, fontsize=8)
    fig.colorbar(image, ax=axes, shrink=0.6,
                 label="median 90 % interval / prior 5–95 % range  (1 = nothing learned)")
    fig.suptitle(f"Identifiability per design, {perfusion} perfusion "
                 f"(× = 90 % coverage below {thresholds.min_coverage:.2f}: overconfident)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _panel(ax, cell: pd.DataFrame, designs: list[str], thresholds: Thresholds):
    width = cell.pivot(index="design", columns="target", values="relative_width").reindex(
        index=designs, columns=list(TARGETS))
    coverage = cell.pivot(index="design", columns="target", values="coverage90").reindex(
        index=designs, columns=list(TARGETS))
    image = ax.imshow(width.to_numpy(), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    for (i, j), value in np.ndenumerate(width.to_numpy()):
        if np.isnan(value):
            continue
        low = coverage.iloc[i, j] < thresholds.min_coverage
        ax.text(j, i, f"{value:.2f}" + (" ×" if low else ""), ha="center", va="center", fontsize=6,
                color="white" if value < 0.6 else "black", fontweight="bold" if low else "normal")
    return image


def plot_pulse_snr(windows_table: pd.DataFrame, noise_floor: float, path: Path) -> Path:
    """Median peak-to-peak pulse SNR [dB] per design x wavelength, one panel per skin tone."""
    part = windows_table[windows_table["noise_floor"] == noise_floor]
    snr_columns = sorted((c for c in part.columns if c.startswith("snr_db_")), key=lambda c: int(c[7:]))
    designs = list(dict.fromkeys(part["design"]))
    fig, axes = plt.subplots(1, len(SKIN_TONES), squeeze=False, sharey=True,
                             figsize=(3.6 * len(SKIN_TONES), 0.4 * len(designs) + 2.0))
    image = None
    for c, tone in enumerate(SKIN_TONES):
        grid = part[part["skin_tone"] == tone].groupby("design", sort=False)[snr_columns].median()
        grid = grid.reindex(designs)
        ax = axes[0, c]
        image = ax.imshow(grid.to_numpy(), cmap="magma", vmin=-20, vmax=60, aspect="auto")
        for (i, j), value in np.ndenumerate(grid.to_numpy()):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if value < 30 else "black")
        ax.set_xticks(range(len(snr_columns)), [f"{c[7:]} nm" for c in snr_columns], fontsize=8)
        ax.set_title(f"Fitzpatrick {tone}", fontsize=9)
    axes[0, 0].set_yticks(range(len(designs)), designs, fontsize=8)
    fig.colorbar(image, ax=axes, shrink=0.8, label="pulse SNR [dB] (blank: wavelength not in design)")
    fig.suptitle(f"Pulse amplitude over detector noise at noise floor {noise_floor:.0e}", fontsize=10, y=1.03)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
