"""`cardiosbi run-network NETWORK.yaml --out DIR`: one network to periodic steady state.

Writes per vessel the last converged beat in openBF's layout (``<vessel>_<P|Q|A|u>.csv``,
columns t,x0,x25,x50,x75,x100, t within the beat, SI units) and ``summary.json``. A run that
blows up (non-finite solution, e.g. an unstable inflow) ends with exit code 2 and writes
nothing. The inlet file named in an openBF network must lie in the network's folder unless
``allow_outside_paths=true``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from omegaconf import DictConfig

from cardiosbi.errors import ConfigError, InputFileError, SimulationError
from cardiosbi.utils.config import to_dataclass
from cardiosbi.utils.device import resolve_device
from cardiosbi.utils.paths import existing_path
from cardiosbi.utils.rundir import write_run_info

log = logging.getLogger(__name__)


@dataclass
class RunNetworkConfig:
    network: str
    seed: int = 0
    out: str = "runs/run_network"
    device: str = "cpu"
    dtype: str = "float64"
    dx: float = 1e-3
    min_cells: int = 5
    cfl: float | None = None
    max_cycles: int | None = None
    tolerance: float | None = None
    compile: bool = True
    allow_outside_paths: bool = False


def _dtype(name: str) -> torch.dtype:
    if name not in ("float32", "float64"):
        raise ConfigError(f"dtype must be float32 or float64, got {name!r}")
    return getattr(torch, name)


def run_network(cfg: DictConfig) -> int:
    from simulators.hemodynamics.errors import NetworkError
    from simulators.hemodynamics.network import load_network
    from simulators.hemodynamics.openbf_run import run_network as simulate_network
    from simulators.hemodynamics.openbf_run import write_network_run

    conf = to_dataclass(cfg, RunNetworkConfig, "run-network")
    path = existing_path(conf.network, "network file")
    if conf.dx <= 0 or (conf.cfl is not None and not 0 < conf.cfl <= 1):
        raise ConfigError("dx must be > 0 and cfl in (0, 1]")
    if (conf.max_cycles is not None and conf.max_cycles < 1) or (
            conf.tolerance is not None and conf.tolerance <= 0):
        raise ConfigError("max_cycles (--cycles) must be >= 1 and tolerance > 0")
    try:
        net = load_network(path, allow_outside_paths=conf.allow_outside_paths)
    except NetworkError as exc:
        raise InputFileError(f"{path}: {exc}") from None
    with np.errstate(invalid="ignore", divide="ignore"):  # a blown-up run is reported below
        result = simulate_network(
            net, dx=conf.dx, cfl=conf.cfl, max_cycles=conf.max_cycles,
            tolerance_mmhg=conf.tolerance, device=resolve_device(conf.device),
            dtype=_dtype(conf.dtype), min_cells=conf.min_cells, compile=conf.compile,
        )
    failure = _failure(result)
    if failure:
        raise SimulationError(f"simulation failed ({failure}); nothing written. Try a smaller "
                              "cfl or dx, and check that the inflow is in m^3/s")
    out = write_network_run(result, conf.out)
    write_run_info(out, cfg, "run-network")
    s = result.summary
    change = "n/a" if s["last_change_mmhg"] is None else f"{s['last_change_mmhg']:.3f} mmHg"
    print(f"{net.name}: {s['cycles']} cycles, converged={s['converged']} "
          f"(last beat-to-beat change {change}); wrote {out}")
    return 0


def _failure(result) -> str:
    """Why the run cannot be written ('' when it can): the solver's reasons, or a non-finite
    value in any written waveform (the solver may stop with a NaN it did not flag)."""
    if result.summary["failures"]:
        return ", ".join(result.summary["failures"])
    bad = [f"{vessel} {q}" for vessel, quantities in result.waveforms.items()
           for q, values in quantities.items() if not np.isfinite(values).all()]
    return f"non-finite {', '.join(bad[:3])}" if bad else ""
