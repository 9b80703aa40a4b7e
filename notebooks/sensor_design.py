# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Two wearable-sensor designs, compared by what they let us infer
#
# For a hardware engineer choosing LEDs and a source-detector distance: simulate the same
# virtual people under two candidate designs, train a small posterior per design, and compare
# which quantities each design keeps **identifiable** (narrow *and* calibrated posteriors) for
# light and dark skin, at low and high detector noise.
#
# 1. the two designs;
# 2. one population of virtual subjects (prior `wearable`: hemodynamics, skin optics, sensor
#    coupling), recorded by each design through a photodetector (shot noise + noise floor);
# 3. what each design records: one light-skinned and one dark-skinned subject, and the pulse
#    SNR per wavelength and skin tone;
# 4. one neural posterior per design;
# 5. identifiability per skin tone and noise: heat maps, a tidy table and a one-page verdict;
# 6. one subject through both designs: the posterior draws beside the truth;
# 7. what the numbers do not say.
#
# The full study with ten designs is `python experiments/sensor_design/study.py`. Open this
# notebook with `jupytext --to notebook notebooks/sensor_design.py`, or run it as a script.

# %% [markdown]
# ## Parameters
#
# | variable | meaning | default |
# |---|---|---|
# | `CARDIOSBI_NB_TRAIN` | training subjects per design (4000 left HR more overconfident) | 8000 |
# | `CARDIOSBI_NB_PER_CELL` | test subjects per skin tone | 60 |
# | `CARDIOSBI_NB_EPOCHS` | maximum training epochs (early stopping ends most runs sooner) | 150 |
# | `CARDIOSBI_NB_SAMPLES` | posterior draws per test window | 200 |
# | `CARDIOSBI_NB_OUT` | folder for figures (PNG), the table (CSV) and the summary | `runs/sensor-design-notebook` |
# | `CARDIOSBI_NB_SEED` | seed of subjects, noise and training | 0 |

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from cardiosbi import registry
from cardiosbi.datasets.prior import prior_group
from cardiosbi.sensor_design import (
    TARGETS,
    SensorDesign,
    Thresholds,
    TrainSettings,
    WindowSettings,
    design_summary,
    design_windows,
    identifiability_table,
    plot_identifiability,
    plot_pulse_snr,
    posterior_rows,
    prior_widths,
    simulate_subjects,
    stratified_subjects,
    train_design,
)
from cardiosbi.sensor_design.figures import LABELS

N_TRAIN = int(os.environ.get("CARDIOSBI_NB_TRAIN", "8000"))
N_PER_CELL = int(os.environ.get("CARDIOSBI_NB_PER_CELL", "60"))
EPOCHS = int(os.environ.get("CARDIOSBI_NB_EPOCHS", "150"))
N_DRAWS = int(os.environ.get("CARDIOSBI_NB_SAMPLES", "200"))
OUT = Path(os.environ.get("CARDIOSBI_NB_OUT", "runs/sensor-design-notebook"))
SEED = int(os.environ.get("CARDIOSBI_NB_SEED", "0"))
OUT.mkdir(parents=True, exist_ok=True)
torch.manual_seed(SEED)

# %% [markdown]
# ## 1. The two candidate designs
#
# A green-only smartwatch sensor at 2 mm, and a red + infrared pair at 3.5 mm (the pulse
# oximetry pair). `led_power` is relative to a nominal LED; the noise floor below is fixed, so
# a stronger LED buys SNR.

# %%
DESIGNS = [
    SensorDesign("green_2mm", wavelengths_nm=(530.0,), distance_mm=2.0),
    SensorDesign("red_ir_3.5mm", wavelengths_nm=(660.0, 940.0), distance_mm=3.5),
]
NOISE_FLOORS = [1e-6, 1e-4]  # detector SD per sample, in the optical model's intensity units
TRAIN_FLOOR = (1e-7, 1e-3)   # training draws the floor log-uniformly over this range
SETTINGS = WindowSettings()
THRESHOLDS = Thresholds()
pd.DataFrame([vars(d) for d in DESIGNS])

# %% [markdown]
# ## 2. One population, recorded by each design
#
# The same prior seeds give the same people under both designs, so differences between the
# designs are not differences between the people. Test subjects are drawn per Fitzpatrick
# group (melanin range) at normal perfusion.

# %%
prior = prior_group("wearable")
rng = np.random.default_rng(SEED)
train_floor = np.exp(rng.uniform(*np.log(TRAIN_FLOOR), size=N_TRAIN))
train_seeds = np.arange(N_TRAIN) + SEED * 1_000_000
subjects, tests = {}, {}
for design in DESIGNS:
    subjects[design.name] = simulate_subjects(prior, train_seeds, design.optics, design.wavelengths_nm,
                                              SETTINGS, desc=f"train {design.name}")
    tests[design.name] = stratified_subjects(prior, design.optics, design.wavelengths_nm, SETTINGS,
                                             N_PER_CELL, {"normal": [0.03, 0.10]},
                                             first_seed=int(train_seeds[-1]) + 1)
print({name: f"{int(s.ok.sum())}/{len(s.ok)} subjects simulated" for name, s in subjects.items()})

# %% [markdown]
# ## 3. What each design records
#
# The pulse shape each wavelength delivers (the first channels of a window: the detected light
# minus its mean, over its SD) for the lightest and the darkest test subject, at the high noise
# floor. Green light on dark skin at 2 mm returns little light, so its pulse drowns.

# %%
fig, axes = plt.subplots(len(DESIGNS), 2, figsize=(11, 2.6 * len(DESIGNS)), sharex=True, squeeze=False)
time_s = np.arange(SETTINGS.n_samples) / SETTINGS.sampling_rate
for row, design in enumerate(DESIGNS):
    test = tests[design.name]
    recorded = design_windows(test, design, np.full(len(test.ok), NOISE_FLOORS[-1]), SETTINGS, seed=SEED)
    melanin = test.theta[:, TARGETS.index("melanin")]
    for col, (who, index) in enumerate((("lightest", melanin.argmin()), ("darkest", melanin.argmax()))):
        ax = axes[row, col]
        for w, nm in enumerate(design.wavelengths_nm):
            ax.plot(time_s, recorded.x[index, w], lw=0.8, label=f"{nm:.0f} nm")
        snr = ", ".join(str(int(round(recorded.table.loc[index, f"snr_db_{nm:.0f}"]))) for nm in design.wavelengths_nm)
        ax.set_title(f"{design.name}: {who} skin (melanin {melanin[index]:.2f}), SNR {snr} dB", fontsize=9)
        ax.set_ylabel("pulse shape [SD units]")
        ax.legend(fontsize=7, loc="upper right")
for ax in axes[-1]:
    ax.set_xlabel("time [s]")
fig.tight_layout()
fig.savefig(OUT / "recorded_windows.png", dpi=110)

# %% [markdown]
# The pulse SNR (peak-to-peak pulse over the detector noise) per wavelength and skin tone:

# %%
snr_rows = []
for design in DESIGNS:
    test = tests[design.name]
    for floor in NOISE_FLOORS:
        recorded = design_windows(test, design, np.full(len(test.ok), floor), SETTINGS, seed=SEED)
        snr_rows.append(recorded.table.assign(design=design.name))
snr_table = pd.concat(snr_rows, ignore_index=True)
plot_pulse_snr(snr_table, NOISE_FLOORS[-1], OUT / "pulse_snr.png")
snr_columns = [c for c in snr_table.columns if c.startswith("snr_db_")]
snr_table.groupby(["design", "noise_floor", "skin_tone"])[snr_columns].median().round(1)

# %% [markdown]
# ## 4. One neural posterior per design
#
# Each posterior sees the windows its design records (every training window with its own noise
# floor) and learns the joint posterior of the quantities below.

# %%
pd.DataFrame([{"quantity": name, "unit": registry.get(name).unit,
               "meaning": registry.get(name).description} for name in TARGETS])

# %%
train_settings = TrainSettings(max_epochs=EPOCHS, patience=max(1, EPOCHS // 10))
if EPOCHS < 10:  # the tiny size the test suite runs: a small network
    train_settings = TrainSettings(max_epochs=EPOCHS, patience=1, embedding_channels=[4, 8],
                                   embedding_features=8, transforms=1)
posteriors = {}
for design in DESIGNS:
    windows = design_windows(subjects[design.name], design, train_floor, SETTINGS, seed=SEED)
    posteriors[design.name] = train_design(windows, prior, train_settings, seed=SEED)

# %% [markdown]
# ## 5. Identifiability per skin tone and noise
#
# A quantity is **identifiable** when its median 90 % interval spans at most half the prior's
# 5-95 % range and the intervals cover at least 80 % of the held-out truths. The heat map
# colours the relative width; a cross marks overconfident cells (coverage too low), which are
# never called identifiable.

# %%
rows = []
for design in DESIGNS:
    test = tests[design.name]
    for k, floor in enumerate(NOISE_FLOORS):
        recorded = design_windows(test, design, np.full(len(test.ok), floor), SETTINGS, seed=SEED + 1 + k)
        rows.append(posterior_rows(posteriors[design.name], recorded, N_DRAWS, seed=SEED + k))
rows = pd.concat(rows, ignore_index=True)
widths = prior_widths(subjects[DESIGNS[0].name].theta)
table = identifiability_table(rows, widths, THRESHOLDS)
table.to_csv(OUT / "identifiability.csv", index=False)
plot_identifiability(table, "normal", THRESHOLDS, OUT / "identifiability_normal.png")
table.pivot_table(index=["design", "noise_floor", "skin_tone"], columns="target",
                  values="relative_width").round(2)

# %%
summary = design_summary(table, DESIGNS, THRESHOLDS, "normal")
(OUT / "summary.md").write_text(summary)
print(summary)

# %% [markdown]
# ## 6. One subject through both designs
#
# The darkest test subject at the low noise floor: the posterior draws of SpO2, HR and
# perfusion under each design, with the true value. A design that cannot see a quantity
# returns (close to) the prior.

# %%
shown = ["spo2", "hr", "pulsatile_blood_fraction"]
fig, axes = plt.subplots(1, len(shown), figsize=(4 * len(shown), 3.2))
generator = torch.Generator().manual_seed(SEED)
for design in DESIGNS:
    test = tests[design.name]
    index = int(test.theta[:, TARGETS.index("melanin")].argmax())
    recorded = design_windows(test, design, np.full(len(test.ok), NOISE_FLOORS[0]), SETTINGS, seed=SEED)
    with torch.no_grad():
        draws = posteriors[design.name].sample((max(N_DRAWS, 500),), x=torch.as_tensor(recorded.x[index]),
                                                generator=generator).numpy()
    for ax, name in zip(axes, shown, strict=True):
        ax.hist(draws[:, TARGETS.index(name)], bins=30, alpha=0.5, density=True, label=design.name)
    truth = test.theta[index]  # the same person under both designs (same prior seeds)
for ax, name in zip(axes, shown, strict=True):
    ax.axvline(truth[TARGETS.index(name)], color="k", lw=1.5, label="truth")
    ax.set_xlabel(f"{LABELS[name]} [{registry.get(name).unit}]")
    ax.set_ylabel("posterior density")
axes[0].legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "one_subject.png", dpi=110)

# %% [markdown]
# ## 7. What these numbers do not say
#
# - They are statements about the **model**, not about a device: the drive is a lumped
#   Windkessel volume, light transport is the two-layer diffusion approximation (marginal at
#   530 nm, where it makes green pulses too strong), noise is shot noise plus a white floor
#   (no motion, no ambient light, no sensor lift-off).
# - "Identifiable" here means identifiable by a small posterior trained on this many subjects;
#   a quantity that fails may be identifiable with more data or a better network, but one that
#   is identifiable here is carried by the signal under the model.
# - SV leaves no trace in a normalised PPG under this model (it only scales the pulse, and the
#   pulse amplitude is set by the skin's perfusion); do not read an SV verdict as a device claim.
# - Skin-tone differences come from the optics (melanin absorbs green far more than infrared)
#   and from the noise floor; the model's SpO2 bias over melanin is small and of the opposite
#   sign to the clinical finding, so it must not be used for oximeter-bias claims.

# %%
print(f"figures, table and summary in {OUT}")
