"""Throughput of the batched hemodynamics solver: cycles/s and subjects/s (6-beat runs).

Usage: python benchmarks/simulator.py [--networks adan56 pwdb116] [--dx 0.001 0.002]
       [--batch 1 8 64] [--steps 200] [--device cpu] [--threads 2] [--compile 0 1]
       [--viscoelastic 0 1]

Times a fixed number of full time steps (boundaries, junctions, MUSCL, sampling) after a
warm-up, and converts with the measured mean time step: cycles/s = B / (steps per cycle x
seconds per step). Prints one markdown table row per configuration. ``--viscoelastic 0 1``
times each configuration with elastic and with viscoelastic walls on every segment.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

import torch

from simulators.hemodynamics.layout import build_layout
from simulators.hemodynamics.network import load_network
from simulators.hemodynamics.solver import RunSettings, _block_function, advance, initial_state


def measure(network: str, dx: float, batch: int, steps: int, device: str, compile: bool,
            dtype: torch.dtype = torch.float32, block: int = 50, viscoelastic: bool = False) -> dict:
    net = load_network(network)
    for seg in net.segments:
        seg.viscoelastic = viscoelastic
    min_cells = 5 if dx <= 1e-3 else 2
    topo, p = build_layout([net] * batch, dx, min_cells, dtype, torch.device(device))
    settings = RunSettings(cfl=net.cfl, samples_per_cycle=512, compile=compile, check_every=block)
    cells = torch.tensor([topo.inlet_cell], device=device)
    s = initial_state(p, topo, settings, 1)
    run_block = _block_function(settings, torch.device(device), batch)
    t0 = time.perf_counter()
    advance(s, topo, cells, settings, run_block)  # warm-up (and compilation)
    warm = time.perf_counter() - t0
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t_sim0 = s.t.clone()
    steps = max(1, steps // block) * block
    t0 = time.perf_counter()
    for _ in range(steps // block):
        advance(s, topo, cells, settings, run_block)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    per_step = elapsed / steps
    mean_dt = float((s.t - t_sim0).mean()) / steps
    steps_per_cycle = net.inflow.period / mean_dt
    cycles_per_s = batch / (steps_per_cycle * per_step)
    return {
        "network": network, "dx_mm": dx * 1e3, "batch": batch, "compile": compile,
        "cells": sum(topo.n_cells), "steps_per_cycle": steps_per_cycle, "ms_per_step": per_step * 1e3,
        "cycles_per_s": cycles_per_s, "subjects_per_s_6beats": cycles_per_s / 6,
        "cell_updates_per_s": batch * sum(topo.n_cells) / per_step, "warmup_s": warm,
        "ok": bool(torch.isfinite(s.A).all()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", nargs="+", default=["adan56", "pwdb116"])
    ap.add_argument("--dx", nargs="+", type=float, default=[1e-3, 2e-3])
    ap.add_argument("--batch", nargs="+", type=int, default=[1, 8, 64])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compile", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--viscoelastic", nargs="+", type=int, default=[0])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# load average {os.getloadavg()[0]:.2f}, threads {args.threads}, device {args.device}")
    print("| network | dx mm | cells | batch | compile | visco | ms/step | steps/cycle | cycles/s | "
          "subjects/s (6 beats) | cell-updates/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    configs = itertools.product(args.networks, args.dx, args.compile, args.batch, args.viscoelastic)
    for network, dx, compile, batch, visco in configs:
        r = measure(network, dx, batch, args.steps, args.device, bool(compile),
                    viscoelastic=bool(visco))
        print(f"| {network} | {r['dx_mm']:g} | {r['cells']} | {batch} | {compile} | {visco} | "
              f"{r['ms_per_step']:.3f} | {r['steps_per_cycle']:.0f} | "
              f"{r['cycles_per_s']:.3f} | {r['subjects_per_s_6beats']:.4f} | "
              f"{r['cell_updates_per_s']:.3g} |", flush=True)


if __name__ == "__main__":
    main()
