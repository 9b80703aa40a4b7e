"""The compiled CPU solver (chunks of subjects, one torch while_loop per block) equals eager."""

from __future__ import annotations

import dataclasses
import shutil

import pytest
import torch

from simulators.hemodynamics import load_network, solver
from simulators.hemodynamics.layout import build_layout


def _cca_subjects(n: int):
    """n CCA subjects that differ in their distal resistance (so each converges differently)."""
    base = load_network("cca")
    seg = base.segments[0]
    return [dataclasses.replace(base, segments=[dataclasses.replace(
        seg, outlet=dataclasses.replace(seg.outlet, R2=seg.outlet.R2 * (0.8 + 0.08 * i)))])
        for i in range(n)]


def _run(nets, compile: bool, dx: float = 4e-3):
    topo, p = build_layout(nets, dx, 5, torch.float64, torch.device("cpu"))
    cells = [topo.cell_at(nets[0].segments[0].name, 0.5)]
    settings = solver.RunSettings(cfl=nets[0].cfl, samples_per_cycle=100, compile=compile,
                                  max_cycles=4, cpu_chunk=4)
    return solver.run(topo, p, cells, cells, settings)


@pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None,
                    reason="inductor needs a C++ compiler on the CPU")
def test_compiled_chunked_run_equals_eager():
    """Six subjects: one chunk of four and a padded chunk of two; subjects leave at different
    beats, so the chunks are rebuilt as the batch shrinks."""
    nets = _cca_subjects(6)
    eager, compiled = _run(nets, compile=False), _run(nets, compile=True)
    assert not solver._COMPILED["cpu"].failed
    assert torch.equal(eager.steps, compiled.steps) and torch.equal(eager.cycles, compiled.cycles)
    torch.testing.assert_close(compiled.A, eager.A, rtol=1e-12, atol=0)
    torch.testing.assert_close(compiled.Q, eager.Q, rtol=1e-9, atol=1e-15)

