"""The model behind an infer run, for the report: what it is, and for a hybrid PPG model the
arterial pressures it decoded from a few of the run's windows.

The run keeps the posterior as given on the command line (a shipped name, ``default`` in the
per-model folders of a multi-model run, or a file path); the report re-loads that posterior
when it can be found from here, and says so when it cannot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cardiosbi.default_models import DEFAULT_MODELS, default_model_path
from cardiosbi.errors import CardiosbiError
from cardiosbi.estimate import SIGNAL_KINDS, model_input
from cardiosbi.inference import Posterior, load_posterior
from cardiosbi.report.run import InferRun
from cardiosbi.report.waveforms import Trace

HYBRID = "hybrid"
# The hybrid figure: windows shown per record and decoded pressures per window.
DECODED_WINDOWS, DECODED_DRAWS = 3, 8


@dataclass
class RunModel:
    """The run's posterior (None when it cannot be re-loaded) and how the page names it."""

    label: str
    posterior: Posterior | None = None

    @property
    def is_hybrid(self) -> bool:
        return self.posterior is not None and self.posterior.kind == HYBRID

    @property
    def reads(self) -> frozenset[str] | None:
        """Kinds of real channel the model reads ("ppg", "abp"); None when unknown here."""
        spec = getattr(self.posterior, "input_spec", None) or {}
        channels = spec.get("channels")
        if not channels:
            return None
        return frozenset(SIGNAL_KINDS.get(c.rsplit("/", 1)[-1], c) for c in channels)


@dataclass
class DecodedWindow:
    """One window of a hybrid run: the model's PPG input, decoded pressures and, when the
    recording has one, the measured arterial pressure over the same clock time."""

    start_s: float
    times: np.ndarray            # (T,) [s] from the record start
    ppg: np.ndarray              # (T,) z-scored, as the model read it
    decoded: np.ndarray          # (m, T) mmHg
    abp_times: np.ndarray | None = None
    abp: np.ndarray | None = None


def run_model(run: InferRun) -> RunModel:
    """The run's posterior re-loaded and labelled; a label saying why when it cannot be."""
    given = str(run.config.get("posterior", ""))
    name = run.path.name if given == "default" else given  # per-model folder of `default`
    path = default_model_path(name) if name in DEFAULT_MODELS else Path(given)
    if not path.is_file():
        return RunModel(f"unknown: posterior file {given!r} not found from here")
    try:
        posterior = load_posterior(path)
    except CardiosbiError as exc:
        return RunModel(f"unknown: {path} could not be read ({exc})")
    shipped = f"shipped model '{name}': " if name in DEFAULT_MODELS else ""
    return RunModel(shipped + model_label(posterior), posterior)


def model_label(posterior: Posterior) -> str:
    """What the posterior reads and how it infers, in one line."""
    if posterior.kind == HYBRID:
        apw = posterior.apw.input_spec["channels"][0]
        return (f"hybrid (PPG → pressure → APW posterior): digital PPG → arterial pressure "
                f"decoded by a conditional VAE ({posterior.n_apw} pressure draws per window) → "
                f"the APW posterior on {apw}")
    if posterior.kind == "rope":
        base = ("hybrid (PPG → decoded pressure → APW posterior)" if posterior.has_front
                else f"NPE posterior on {_channels(posterior)}")
        return f"RoPE-calibrated {base}"
    return f"{posterior.kind.upper() or 'posterior'} on {_channels(posterior)}"


def _channels(posterior: Posterior) -> str:
    spec = posterior.input_spec or {}
    return ", ".join(spec.get("channels", [])) or "tensor inputs"


@torch.no_grad()
def decoded_windows(run: InferRun, rid: str, posterior: Posterior, traces: list[Trace],
                    seed: int = 0) -> list[DecodedWindow]:
    """The first :data:`DECODED_WINDOWS` accepted windows of ``rid`` with
    :data:`DECODED_DRAWS` decoded pressures each (seeded: the figure is reproducible)."""
    path = run.path / "preprocess" / "windows" / f"{rid}.npz"
    if not path.exists():
        return []
    with np.load(path) as arrays:
        raw, starts = arrays["windows"][:DECODED_WINDOWS], arrays["start_s"][:DECODED_WINDOWS]
        fs = float(arrays["sampling_rate"])
    if len(raw) == 0:
        return []
    x = model_input(posterior, raw)
    generator = torch.Generator().manual_seed(seed)
    decoded = posterior.sample_apw(x, DECODED_DRAWS, generator).numpy()  # (m, B, T)
    abp = next((t for t in traces if t.kind == "abp"), None)
    windows = []
    for i, start in enumerate(starts):
        times = start + np.arange(raw.shape[-1]) / fs
        window = DecodedWindow(float(start), times, x[i, 0].numpy(), decoded[:, i])
        if abp is not None:
            inside = (abp.times >= times[0]) & (abp.times <= times[-1])
            if inside.any():
                window.abp_times, window.abp = abp.times[inside], abp.raw[inside]
        windows.append(window)
    return windows
