"""Flatten a batch of same-topology networks into padded per-cell tensors (batch outermost).

Each segment with M cells occupies M + 2 consecutive entries of the flat array:
``[ghost_in, cell_1 .. cell_M, ghost_out]``. Subjects in a batch share the topology and the
cell counts but differ in every physical parameter, so all parameters are (B, N) tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import torch

from simulators.hemodynamics.errors import NetworkError
from simulators.hemodynamics.network import (
    Network,
    Reflection,
    Windkessel,
    empirical_wall_thickness,
)
from simulators.hemodynamics.viscoelastic import pcr_stages, wall_coefficient


@dataclass
class Topology:
    """Index tables shared by every subject of a batch (integer tensors, no batch axis)."""

    segment_names: list[str]
    n_cells: list[int]
    offsets: list[int]  # flat index of each segment's ghost_in
    n_flat: int
    ghost_in: torch.Tensor  # (N,) bool: first entry of a segment (copies the cell after it)
    ghost_out: torch.Tensor  # (N,) bool: last entry of a segment (copies the cell before it)
    interior: torch.Tensor  # (N,) bool, False at ghosts
    inlet_cell: int
    wk_cells: torch.Tensor  # (nW,) last cell of each Windkessel segment
    wk_segments: list[str]
    ref_cells: torch.Tensor  # (nR,) last cell of each reflection segment
    junction_cells: torch.Tensor  # (E,) boundary cells meeting at internal nodes
    junction_node: torch.Tensor  # (E,) node number 0..n_nodes-1 of each boundary cell
    junction_sign: torch.Tensor  # (E,) +1 vessel ends at the node, -1 vessel starts there
    n_junctions: int
    viscoelastic: bool  # some segment has a viscoelastic wall (decides in Python: no extra work)
    visc_has_left: torch.Tensor  # (N,) bool: the entry before is a cell of the same segment
    visc_has_right: torch.Tensor  # (N,) bool: the entry after is a cell of the same segment
    visc_stages: int  # cyclic-reduction stages of the longest viscoelastic segment

    def cell(self, segment: str, index: int) -> int:
        """Flat index of cell ``index`` (0-based; negative counts from the end) of a segment."""
        s = self.segment_names.index(segment)
        m = self.n_cells[s]
        if index < 0:
            index += m
        return self.offsets[s] + 1 + index

    def cell_at(self, segment: str, position: float) -> int:
        """Flat index of the cell nearest to ``position`` in [0, 1] along the segment."""
        m = self.n_cells[self.segment_names.index(segment)]
        return self.cell(segment, int(round(position * (m - 1))))


@dataclass
class Parameters:
    """Per-subject physical parameters on the flat layout (all tensors have batch first)."""

    dx: torch.Tensor  # (B, N)
    A0: torch.Tensor
    beta: torch.Tensor
    gamma: torch.Tensor  # beta / (3 rho sqrt(A0)): flux coefficient
    kc: torch.Tensor  # c = kc * A^(1/4)
    p_ref: torch.Tensor
    friction: torch.Tensor  # 2 (zeta + 2) pi mu / rho
    taper: torch.Tensor  # momentum source of a tapered wall, S = taper * A^(3/2) (0 if uniform)
    visc: torch.Tensor  # Voigt wall Cv / dx^2 [1/s] (0 at ghosts and in elastic segments)
    wk_R1: torch.Tensor  # (B, nW)
    wk_R2: torch.Tensor
    wk_C: torch.Tensor
    wk_p_out: torch.Tensor
    ref_Rt: torch.Tensor  # (B, nR)
    inflow_t: torch.Tensor  # (B, K)
    inflow_q: torch.Tensor  # (B, K)
    period: torch.Tensor  # (B,) float64
    rho: torch.Tensor  # (B,)

    def select(self, index: torch.Tensor) -> Parameters:
        """The parameters of the subjects in ``index`` (for dropping finished subjects)."""
        return Parameters(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def cell_counts(nets: list[Network], dx: float, min_cells: int) -> list[int]:
    """M = max(M_given, min_cells, ceil(L / dx)) per segment, maximised over the batch."""
    counts = []
    for i in range(len(nets[0].segments)):
        counts.append(
            max(
                max(n.segments[i].min_cells, min_cells, math.ceil(n.segments[i].length / dx - 1e-9))
                for n in nets
            )
        )
    return counts


def _topology_key(net: Network) -> list[tuple]:
    return [(s.name, s.sn, s.tn, type(s.outlet), s.viscoelastic) for s in net.segments]


def _check_same_topology(nets: list[Network]) -> None:
    ref = _topology_key(nets[0])
    for net in nets[1:]:
        if _topology_key(net) != ref:
            raise NetworkError(
                "all subjects of a batch must share the network topology and viscoelastic walls"
            )


def build_topology(net: Network, n_cells: list[int], device: torch.device) -> Topology:
    names = [s.name for s in net.segments]
    offsets = np.cumsum([0] + [m + 2 for m in n_cells[:-1]]).tolist()
    n_flat = int(sum(m + 2 for m in n_cells))
    ghost_in = np.zeros(n_flat, dtype=bool)
    ghost_out = np.zeros(n_flat, dtype=bool)
    for off, m in zip(offsets, n_cells, strict=True):
        ghost_in[off] = True
        ghost_out[off + m + 1] = True
    children: dict[int, list[int]] = {}
    parents: dict[int, list[int]] = {}
    for i, s in enumerate(net.segments):
        children.setdefault(s.sn, []).append(i)
        parents.setdefault(s.tn, []).append(i)
    inlet_seg = next(ch[0] for node, ch in children.items() if node not in parents)
    cells, node_ids, signs = [], [], []
    n_junctions = 0
    for node in sorted(set(children) & set(parents)):
        for i in parents[node]:
            cells.append(offsets[i] + n_cells[i])
            signs.append(1.0)
            node_ids.append(n_junctions)
        for i in children[node]:
            cells.append(offsets[i] + 1)
            signs.append(-1.0)
            node_ids.append(n_junctions)
        n_junctions += 1
    wk = [i for i, s in enumerate(net.segments) if isinstance(s.outlet, Windkessel)]
    ref = [i for i, s in enumerate(net.segments) if isinstance(s.outlet, Reflection)]
    interior = ~(ghost_in | ghost_out)
    visco = [m for s, m in zip(net.segments, n_cells, strict=True) if s.viscoelastic]

    def long(values: list[int]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.long, device=device)

    return Topology(
        segment_names=names,
        n_cells=list(n_cells),
        offsets=offsets,
        n_flat=n_flat,
        ghost_in=torch.as_tensor(ghost_in, device=device),
        ghost_out=torch.as_tensor(ghost_out, device=device),
        interior=torch.as_tensor(interior, device=device),
        inlet_cell=offsets[inlet_seg] + 1,
        wk_cells=long([offsets[i] + n_cells[i] for i in wk]),
        wk_segments=[names[i] for i in wk],
        ref_cells=long([offsets[i] + n_cells[i] for i in ref]),
        junction_cells=long(cells),
        junction_node=long(node_ids),
        junction_sign=torch.tensor(signs, device=device),
        n_junctions=n_junctions,
        viscoelastic=bool(visco),
        visc_has_left=torch.as_tensor(interior & np.roll(interior, 1), device=device),
        visc_has_right=torch.as_tensor(interior & np.roll(interior, -1), device=device),
        visc_stages=pcr_stages(max(visco, default=1)),
    )


def _segment_matrix(nets: list[Network], attr: str) -> np.ndarray:
    return np.array(
        [[np.nan if getattr(s, attr) is None else getattr(s, attr) for s in n.segments] for n in nets],
        dtype=np.float64,
    )


def _wall_beta(E: np.ndarray, h0: np.ndarray, r0: np.ndarray) -> np.ndarray:
    h = np.where(np.isnan(h0), empirical_wall_thickness(r0), h0)
    return (4.0 / 3.0) * E * h / r0


def build_parameters(
    nets: list[Network], topo: Topology, dtype: torch.dtype, device: torch.device
) -> Parameters:
    """Per-cell parameters of every subject, vectorised over batch and cells."""
    n_cells = np.array(topo.n_cells)
    seg_of_cell = np.repeat(np.arange(len(n_cells)), n_cells + 2)
    local = np.arange(topo.n_flat) - np.repeat(np.array(topo.offsets), n_cells + 2) - 1
    local = np.clip(local, 0, n_cells[seg_of_cell] - 1)  # ghosts take their neighbour's values
    frac = (local + 0.5) / n_cells[seg_of_cell]

    length = _segment_matrix(nets, "length")[:, seg_of_cell]
    rp = _segment_matrix(nets, "r_prox")[:, seg_of_cell]
    rd = _segment_matrix(nets, "r_dist")[:, seg_of_cell]
    E = _segment_matrix(nets, "E")[:, seg_of_cell]
    h0 = _segment_matrix(nets, "h0")[:, seg_of_cell]
    zeta = _segment_matrix(nets, "gamma_profile")[:, seg_of_cell]
    p_ref = _segment_matrix(nets, "p_ref")[:, seg_of_cell]
    rho = np.array([n.rho for n in nets])[:, None]
    mu = np.array([n.mu for n in nets])[:, None]
    visco = np.array([[s.viscoelastic for s in n.segments] for n in nets])[:, seg_of_cell]
    b0 = np.array([n.wall_b0 for n in nets])[:, None]
    b1 = np.array([n.wall_b1 for n in nets])[:, None]

    r0 = rp + (rd - rp) * frac
    a0 = np.pi * r0**2
    beta = _wall_beta(E, h0, r0)
    gamma = beta / (3.0 * rho * np.sqrt(a0))
    dx = length / n_cells[seg_of_cell]
    interior = topo.interior.cpu().numpy()
    visc = np.where(visco & interior, wall_coefficient(r0, rho, b0, b1) / dx**2, 0.0)

    def t(x: np.ndarray, dt: torch.dtype = dtype) -> torch.Tensor:
        # Row-major (batch outermost) whatever numpy's fancy indexing left: column-major
        # (B, N) tensors make inductor vectorise over the batch axis, 15x slower at B = 4.
        return torch.as_tensor(np.array(x, order="C"), dtype=dt, device=device)

    wk_idx = [topo.segment_names.index(n) for n in topo.wk_segments]
    wk = [[n.segments[i].outlet for i in wk_idx] for n in nets]
    ref = [[s.outlet.Rt for s in n.segments if isinstance(s.outlet, Reflection)] for n in nets]
    k = max(len(n.inflow.t) for n in nets)
    inflow_t = np.array([_pad(n.inflow.t, k, extend=True) for n in nets])
    inflow_q = np.array([_pad(n.inflow.q, k, extend=False) for n in nets])
    return Parameters(
        dx=t(dx),
        A0=t(a0),
        beta=t(beta),
        gamma=t(gamma),
        kc=t(np.sqrt(1.5 * gamma)),
        p_ref=t(p_ref),
        friction=t(np.broadcast_to(2.0 * (zeta + 2.0) * np.pi * mu / rho, a0.shape)),
        taper=t(np.zeros_like(a0)),  # set by well_balanced_taper
        visc=t(visc),
        wk_R1=t(np.array([[w.R1 for w in row] for row in wk]).reshape(len(nets), -1)),
        wk_R2=t(np.array([[w.R2 for w in row] for row in wk]).reshape(len(nets), -1)),
        wk_C=t(np.array([[w.C for w in row] for row in wk]).reshape(len(nets), -1)),
        wk_p_out=t(np.array([[w.p_out for w in row] for row in wk]).reshape(len(nets), -1)),
        ref_Rt=t(np.array(ref, dtype=np.float64).reshape(len(nets), -1)),
        inflow_t=t(inflow_t, torch.float64),
        inflow_q=t(inflow_q),
        period=t(np.array([n.inflow.period for n in nets]), torch.float64),
        rho=t(rho[:, 0]),
    )


def _pad(values: list[float], k: int, extend: bool) -> list[float]:
    """Pad an inflow table to length k (times continue past the period, flows repeat)."""
    extra = k - len(values)
    if extend:
        return list(values) + [values[-1] + 1.0 + i for i in range(extra)]
    return list(values) + [values[-1]] * extra


def build_layout(
    nets: list[Network], dx: float, min_cells: int, dtype: torch.dtype, device: torch.device
) -> tuple[Topology, Parameters]:
    """Topology and parameters of a batch of networks that share one topology."""
    from simulators.hemodynamics.scheme import well_balanced_taper

    _check_same_topology(nets)
    topo = build_topology(nets[0], cell_counts(nets, dx, min_cells), device)
    params = build_parameters(nets, topo, dtype, device)
    well_balanced_taper(params, topo)
    return topo, params
