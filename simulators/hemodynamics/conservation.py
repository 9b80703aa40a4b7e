"""Mass-conservation checks over the last beat (openBF's physics checks, notes §9)."""

from __future__ import annotations

import numpy as np
import torch

from simulators.hemodynamics.layout import build_layout
from simulators.hemodynamics.network import Network
from simulators.hemodynamics.solver import RunSettings, run


def mass_balance(net: Network, dx: float = 1e-3, min_cells: int = 5, dtype=torch.float64,
                 compile: bool = True, max_cycles: int | None = None, device: str = "cpu") -> dict:
    """Run ``net`` to periodic state; return outflow/inflow ratio and per-node imbalance.

    ``outflow_ratio`` = sum of the mean outlet flows / mean inflow over the last beat.
    ``junction_imbalance``: per internal node, mean |sum Q_in - sum Q_out| /
    (0.5 mean(|sum Q_in| + |sum Q_out|)) over the beat (openBF's check). It compares the
    boundary cells after the time step, not the fluxes through the node: each cell has moved
    by its own momentum balance since the junction equalised them, a zero-mean difference
    that does not shrink with dx. ``junction_net_imbalance`` is the mass that really fails to
    balance over the beat: |mean(sum Q_in - sum Q_out)| on the same scale.
    """
    topo, p = build_layout([net], dx, min_cells, dtype, torch.device(device))
    mids = [topo.cell_at(name, 0.5) for name in topo.segment_names]
    outlets = topo.wk_cells.tolist() + topo.ref_cells.tolist()
    junction = topo.junction_cells.tolist()
    record = list(dict.fromkeys([topo.inlet_cell, *outlets, *junction, *mids]))
    settings = RunSettings(cfl=net.cfl, max_cycles=max_cycles or net.max_cycles,
                           tolerance_mmhg=net.tolerance_mmhg, samples_per_cycle=200, compile=compile)
    out = run(topo, p, record, mids, settings)
    q = out.Q[0].double().cpu().numpy()
    row = {c: i for i, c in enumerate(record)}
    q_in = q[row[topo.inlet_cell]].mean()
    ratio = sum(q[row[c]].mean() for c in outlets) / q_in
    node = topo.junction_node.tolist()
    sign = topo.junction_sign.tolist()
    imbalance, net_imbalance = [], []
    for n in range(topo.n_junctions):
        members = [i for i, k in enumerate(node) if k == n]
        into = sum(q[row[junction[i]]] for i in members if sign[i] > 0)
        away = sum(q[row[junction[i]]] for i in members if sign[i] < 0)
        scale = 0.5 * np.mean(np.abs(into) + np.abs(away))
        imbalance.append(np.mean(np.abs(into - away)) / scale)
        net_imbalance.append(abs(np.mean(into - away)) / scale)
    return {
        "outflow_ratio": float(ratio), "junction_imbalance": np.array(imbalance),
        "junction_net_imbalance": np.array(net_imbalance),
        "cycles": int(out.cycles[0]), "converged": bool(out.converged[0]), "reason": out.reason[0],
        "steps": int(out.steps[0]), "cells": int(sum(topo.n_cells)),
    }
