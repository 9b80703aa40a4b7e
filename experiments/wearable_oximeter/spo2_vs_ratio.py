"""SpO2 and heart rate of a wearable posterior beside the classical pulse oximeter, per skin tone.

The posterior is one trained through the ordinary path on optical densities
(``cardiosbi simulate experiment=wearable_oximeter``, ``cardiosbi train
experiment=wearable_oximeter_npe``). On the store's held-out test split this script compares its
SpO2 with the classical ratio-of-ratios oximeter: R = SD(density_red) / SD(density_infrared)
(the SD of an optical density is the pulse relative to DC), and a quadratic SpO2(log R) fitted
on the store's training windows recorded in good conditions (pulse SNR of both LEDs at least
``calibration_snr_db`` and no motion burst), as a device is calibrated. Results per Fitzpatrick
group (melanin ranges of ``simulators.ppg.sensor.FITZPATRICK_MELANIN``):

- ``rows.csv``: one row per test window (truth, posterior median and 90 % interval of SpO2 and HR,
  classical SpO2, melanin, group, pulse SNR of red and infrared);
- ``table.csv``: per group and method, RMSE and bias of SpO2 (percentage points), and the
  posterior's 90 % coverage and width; HR RMSE and coverage of the posterior;
- ``spo2_vs_truth.png``: estimate against truth per group, both methods.

Run: ``python experiments/wearable_oximeter/spo2_vs_ratio.py [key=value ...]``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from cardiosbi.datasets.reader import SimulatedStore  # noqa: E402
from cardiosbi.errors import ConfigError  # noqa: E402
from cardiosbi.estimate import model_input  # noqa: E402
from cardiosbi.inference import load_posterior  # noqa: E402
from cardiosbi.utils.study_config import load_study_config  # noqa: E402
from simulators.ppg.sensor import FITZPATRICK_MELANIN  # noqa: E402
from simulators.ppg.spo2 import red_infrared_pair  # noqa: E402

SKIN_GROUPS = {"I-II": FITZPATRICK_MELANIN["I"], "III-IV": FITZPATRICK_MELANIN["III"],
               "V-VI": FITZPATRICK_MELANIN["V"]}


@dataclass
class Settings:
    store: str = "runs/wearable_oximeter/dataset"
    posterior: str = "runs/wearable_oximeter/npe/posterior.pt"
    out: str = "runs/wearable_oximeter/spo2_vs_ratio"
    n_draws: int = 500
    calibration_snr_db: float = 30.0  # training windows the classical curve is fitted on
    seed: int = 0


@dataclass
class Split:
    """Raw density windows (n, C, T) of one split with what the comparison needs per window."""

    x: np.ndarray
    theta: pd.DataFrame
    snr_db: pd.DataFrame
    motion: np.ndarray


def read_split(store: SimulatedStore, split: str, channels: list[str]) -> Split:
    rows = store.rows(split)
    group = store.group
    x = np.stack([group[f"x/{c}"][:][rows] for c in channels], axis=1)
    theta = pd.DataFrame(group["theta"][:][rows], columns=group.attrs["parameter_names"])
    keys = {c: c.replace("/", "_") for c in channels}
    snr = pd.DataFrame({c: _nuisance(group, f"snr_db_{k}", rows, np.inf) for c, k in keys.items()})
    motion = np.sum([_nuisance(group, f"motion_bursts_{k}", rows, 0.0) for k in keys.values()], axis=0)
    return Split(x, theta, snr, motion)


def _nuisance(group, name: str, rows: np.ndarray, absent: float) -> np.ndarray:
    """A measurement draw per row; ``absent`` where the effect was switched off (not stored)."""
    key = f"nuisance/{name}"
    return group[key][:][rows] if key in group else np.full(len(rows), absent)


def log_ratio(x: np.ndarray, red: int, infrared: int) -> np.ndarray:
    """log R per window: the SD of an optical density is the pulse relative to DC."""
    sd = x.std(axis=2)
    return np.log(np.maximum(sd[:, red], 1e-12)) - np.log(np.maximum(sd[:, infrared], 1e-12))


def fit_classical(train: Split, red: int, infrared: int, channels: list[str], snr_db: float) -> np.ndarray:
    """Quadratic SpO2(log R) over the clean, still training windows."""
    clean = ((train.snr_db[channels[red]] >= snr_db) & (train.snr_db[channels[infrared]] >= snr_db)
             & (train.motion == 0)).to_numpy()
    if clean.sum() < 20:
        raise ConfigError(f"only {int(clean.sum())} training windows have both pulse SNRs >= "
                          f"{snr_db} dB and no motion; lower calibration_snr_db")
    return np.polyfit(log_ratio(train.x, red, infrared)[clean], train.theta["spo2"].to_numpy()[clean], 2)


def skin_group(melanin: np.ndarray) -> np.ndarray:
    out = np.full(melanin.shape, "", dtype=object)
    for name, (low, high) in SKIN_GROUPS.items():
        out[(melanin >= low) & (melanin <= high)] = name
    return out


def window_rows(cfg: Settings) -> pd.DataFrame:
    posterior = load_posterior(cfg.posterior)
    channels = posterior.input_spec["channels"]
    names = posterior.parameter_names
    if "spo2" not in names:
        raise ConfigError(f"the posterior infers {names}; this comparison needs spo2")
    pair = red_infrared_pair([int(c.split("/")[-2][:-2]) for c in channels])
    if pair is None:
        raise ConfigError(f"channels {channels} have no red/infrared pair")
    red, infrared = (channels.index(next(c for c in channels if c.endswith(f"/{nm:.0f}nm/OPPG")))
                     for nm in pair)
    store = SimulatedStore(cfg.store, channels=channels)
    train, test = read_split(store, "train", channels), read_split(store, "test", channels)
    coefficients = fit_classical(train, red, infrared, channels, cfg.calibration_snr_db)
    torch.manual_seed(cfg.seed)
    draws = posterior.sample((cfg.n_draws,), x=model_input(posterior, test.x)).numpy()
    rows = pd.DataFrame({"melanin": test.theta["melanin"], "group": skin_group(test.theta["melanin"].to_numpy()),
                         "snr_red_db": test.snr_db[channels[red]], "snr_infrared_db": test.snr_db[channels[infrared]],
                         "classical_spo2": np.clip(np.polyval(coefficients, log_ratio(test.x, red, infrared)), 0, 1)})
    for name in ("spo2", "hr"):
        if name in names:
            j = names.index(name)
            low, median, high = np.quantile(draws[..., j], [0.05, 0.5, 0.95], axis=0)
            rows[f"{name}_truth"] = test.theta[name].to_numpy()
            rows[f"{name}_median"], rows[f"{name}_low90"], rows[f"{name}_high90"] = median, low, high
    return rows[rows["group"] != ""].reset_index(drop=True)


def summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per skin group and method: SpO2 RMSE and bias [points]; the posterior's coverage/width."""
    out = []
    for group, part in rows.groupby("group", sort=True):
        truth = part["spo2_truth"]
        for method, estimate in (("NPE (median)", part["spo2_median"]), ("ratio of ratios", part["classical_spo2"])):
            error = 100.0 * (estimate - truth)
            row = {"group": group, "method": method, "windows": len(part),
                   "spo2_rmse_points": float(np.sqrt((error**2).mean())), "spo2_bias_points": float(error.mean())}
            if method.startswith("NPE"):
                row["spo2_cov90"] = float(((truth >= part["spo2_low90"]) & (truth <= part["spo2_high90"])).mean())
                row["spo2_width90_points"] = float(100.0 * (part["spo2_high90"] - part["spo2_low90"]).mean())
                if "hr_truth" in part:
                    row["hr_rmse_bpm"] = float(np.sqrt(((part["hr_median"] - part["hr_truth"]) ** 2).mean()))
                    row["hr_cov90"] = float(((part["hr_truth"] >= part["hr_low90"])
                                             & (part["hr_truth"] <= part["hr_high90"])).mean())
            out.append(row)
    return pd.DataFrame(out).round(3)


def figure(rows: pd.DataFrame, path: Path) -> None:
    groups = sorted(rows["group"].unique())
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 4), squeeze=False, sharey=True)
    for ax, group in zip(axes[0], groups, strict=True):
        part = rows[rows["group"] == group]
        ax.scatter(100 * part["spo2_truth"], 100 * part["classical_spo2"], s=5, alpha=0.4, label="ratio of ratios")
        ax.scatter(100 * part["spo2_truth"], 100 * part["spo2_median"], s=5, alpha=0.4, label="NPE median")
        ax.plot([70, 100], [70, 100], "k--", lw=0.8)
        ax.set_title(f"Fitzpatrick {group} ({len(part)} windows)")
        ax.set_xlabel("true SpO2 (%)")
    axes[0, 0].set_ylabel("estimated SpO2 (%)")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> pd.DataFrame:
    cfg = load_study_config(Settings, Path(__file__).with_name("spo2_vs_ratio.yaml"), argv)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    rows = window_rows(cfg)
    rows.to_csv(out / "rows.csv", index=False)
    table = summary_table(rows)
    table.to_csv(out / "table.csv", index=False)
    figure(rows, out / "spo2_vs_truth.png")
    print(table.to_string(index=False))
    print(f"wall time {time.time() - start:.0f} s")
    return table


if __name__ == "__main__":
    main(sys.argv[1:])
