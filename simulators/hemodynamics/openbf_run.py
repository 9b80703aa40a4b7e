"""Run one network to periodic steady state and write openBF-layout result files.

This is the code path of ``cardiosbi run-network`` and of the oracle tests: per vessel the
last converged beat at five cells (inlet, round(M/4), round(M/2), round(3M/4), outlet; openBF's
positions) as ``<vessel>_<P|Q|A|u>.csv`` with columns t,x0,x25,x50,x75,x100 (t within the beat,
SI units), plus ``summary.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from simulators.hemodynamics.layout import Topology, build_layout
from simulators.hemodynamics.network import Network
from simulators.hemodynamics.solver import RunSettings, pressure_at, run

COLUMNS = ("x0", "x25", "x50", "x75", "x100")


def five_point_cells(topo: Topology, segment: str) -> list[int]:
    """Flat indices of openBF's five output cells (1-based 1, M/4, M/2, 3M/4, M; ties to even)."""
    m = topo.n_cells[topo.segment_names.index(segment)]
    local = [1, round(m / 4), round(m / 2), round(3 * m / 4), m]
    return [topo.cell(segment, i - 1) for i in local]


@dataclass
class NetworkRun:
    """Last beat per vessel: ``waveforms[vessel][q]`` is a (J, 5) array, q in P, Q, A, u."""

    t: np.ndarray
    waveforms: dict[str, dict[str, np.ndarray]]
    summary: dict = field(default_factory=dict)


def run_network(
    net: Network,
    dx: float = 1e-3,
    cfl: float | None = None,
    max_cycles: int | None = None,
    tolerance_mmhg: float | None = None,
    device: str = "cpu",
    dtype: torch.dtype = torch.float64,
    min_cells: int = 5,
    compile: bool = True,
) -> NetworkRun:
    """Simulate ``net`` from openBF's rest state until the beat-to-beat change of mid-vessel
    pressure is below the tolerance (or the cycle cap), and return the last beat."""
    settings = RunSettings(
        cfl=cfl if cfl is not None else net.cfl,
        max_cycles=max_cycles if max_cycles is not None else net.max_cycles,
        tolerance_mmhg=tolerance_mmhg if tolerance_mmhg is not None else net.tolerance_mmhg,
        samples_per_cycle=net.samples_per_cycle,
        initial_state="openbf",
        compile=compile,
    )
    topo, params = build_layout([net], dx, min_cells, dtype, torch.device(device))
    record, mids = [], []
    for name in topo.segment_names:
        cells = five_point_cells(topo, name)
        record += cells
        mids.append(cells[2])
    out = run(topo, params, record, mids, settings)
    P = pressure_at(out.A, params, record)[0].double().cpu().numpy()
    A = out.A[0].double().cpu().numpy()
    Q = out.Q[0].double().cpu().numpy()
    waveforms = {}
    for i, name in enumerate(topo.segment_names):
        rows = slice(5 * i, 5 * i + 5)
        waveforms[name] = {"P": P[rows].T, "Q": Q[rows].T, "A": A[rows].T, "u": (Q[rows] / A[rows]).T}
    J = settings.samples_per_cycle
    summary = {
        "network": net.name,
        "cycles": int(out.cycles[0]),
        "converged": bool(out.converged[0]),
        "last_change_mmhg": _finite_or_none(float(out.error_mmhg[0])),
        "failures": [out.reason[0]] if out.reason[0] else [],
        "steps": int(out.steps[0]),
        "cells": int(sum(topo.n_cells)),
        "dx": dx,
        "cfl": settings.cfl,
        "tolerance_mmhg": settings.tolerance_mmhg,
        "dtype": str(dtype).replace("torch.", ""),
        "device": device,
    }
    return NetworkRun(t=np.arange(J) * net.inflow.period / J, waveforms=waveforms, summary=summary)


def _finite_or_none(value: float) -> float | None:
    return value if np.isfinite(value) else None


def write_network_run(result: NetworkRun, out_dir: str | Path) -> Path:
    """Write ``<vessel>_<P|Q|A|u>.csv`` and ``summary.json`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    header = "t," + ",".join(COLUMNS)
    for vessel, quantities in result.waveforms.items():
        for q, values in quantities.items():
            table = np.column_stack([result.t, values])
            np.savetxt(out_dir / f"{vessel}_{q}.csv", table, delimiter=",", header=header,
                       comments="", fmt="%.10e")
    (out_dir / "summary.json").write_text(json.dumps(result.summary, indent=2) + "\n")
    return out_dir
