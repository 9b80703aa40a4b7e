"""Boundary and junction conditions, vectorised over batch and nodes (notes §3).

Every condition reads the boundary cells left by the previous step and overwrites them, so all
of them can be applied in one pass (openBF's "phase A"). No data-dependent branching: Newton
solvers run a fixed number of iterations and report their final residual.
"""

from __future__ import annotations

import torch

from simulators.hemodynamics.layout import Parameters, Topology
from simulators.hemodynamics.scheme import pressure

WK_NEWTON_ITERATIONS = 10
JUNCTION_NEWTON_ITERATIONS = 6


def inflow_at(t: torch.Tensor, p: Parameters) -> torch.Tensor:
    """Prescribed inflow at absolute times ``t`` (B,): linear interpolation at t mod period."""
    phase = (t - torch.floor(t / p.period) * p.period).unsqueeze(1)
    idx = torch.searchsorted(p.inflow_t, phase).clamp(1, p.inflow_t.shape[1] - 1)
    t0, t1 = p.inflow_t.gather(1, idx - 1), p.inflow_t.gather(1, idx)
    q0, q1 = p.inflow_q.gather(1, idx - 1), p.inflow_q.gather(1, idx)
    w = ((phase - t0) / (t1 - t0)).to(q0.dtype)
    return (q0 + w * (q1 - q0)).squeeze(1)


def apply_inlet(Q: torch.Tensor, t: torch.Tensor, p: Parameters, topo: Topology) -> None:
    """Prescribed flow at the first cell of the inlet segment (area left unchanged, as openBF)."""
    Q[:, topo.inlet_cell] = inflow_at(t, p)


def apply_windkessels(
    A: torch.Tensor, Q: torch.Tensor, Pc: torch.Tensor, dt: torch.Tensor, p: Parameters,
    topo: Topology,
) -> torch.Tensor:
    """3-element Windkessel outlets; updates A at the last cells in place, returns the new Pc.

    Pc: capacitor pressure [Pa] (B, nW), advanced by explicit Euler with the pre-step outflow;
    then R1 (A_s u_s) = P(A_s) - Pc is solved for A_s along the outgoing characteristic.
    """
    cells = topo.wk_cells
    if cells.numel() == 0:
        return Pc
    a_l, q_l = A[:, cells], Q[:, cells]
    a0, beta, p_ref = p.A0[:, cells], p.beta[:, cells], p.p_ref[:, cells]
    kc = p.kc[:, cells]
    Pc = Pc + dt.to(Pc.dtype) / p.wk_C * (q_l - (Pc - p.wk_p_out) / p.wk_R2)
    w_plus = q_l / a_l + 4.0 * kc * a_l.sqrt().sqrt()
    r1, pc = p.wk_R1, Pc.to(A.dtype)
    a_s = a_l
    for _ in range(WK_NEWTON_ITERATIONS):
        q4 = a_s.sqrt().sqrt()
        f = a_s * r1 * (w_plus - 4.0 * kc * q4) - pressure(a_s, a0, beta, p_ref) + pc
        df = r1 * (w_plus - 5.0 * kc * q4) - 0.5 * beta / (a0 * a_s).sqrt()
        a_s = (a_s - f / df).clamp_min(1e-3 * a0)
    A[:, cells] = a_s
    return Pc


def apply_reflections(
    A: torch.Tensor, Q: torch.Tensor, w0: tuple[torch.Tensor, torch.Tensor], dt: torch.Tensor,
    p: Parameters, topo: Topology,
) -> None:
    """Reflection outlets: W- = W-_0 - Rt (W+ - W+_0), W+ carried from the interior."""
    cells = topo.ref_cells
    if cells.numel() == 0:
        return
    a, q = A[:, cells], Q[:, cells]
    a1, q1 = A[:, cells - 1], Q[:, cells - 1]
    kc = p.kc[:, cells]
    c, c1 = kc * a.sqrt().sqrt(), kc * a1.sqrt().sqrt()
    u, u1 = q / a, q1 / a1
    w2, w2_prev = u + 4 * c, u1 + 4 * c1
    w2 = w2 + (w2_prev - w2) * (u + c) * dt / p.dx[:, cells]
    w1 = w0[0] - p.ref_Rt * (w2 - w0[1])
    Q[:, cells] = a * 0.5 * (w1 + w2)


def initial_invariants(A: torch.Tensor, Q: torch.Tensor, p: Parameters, topo: Topology):
    """(W-, W+) at the reflection outlets in the initial state."""
    cells = topo.ref_cells
    a = A[:, cells]
    c = p.kc[:, cells] * a.sqrt().sqrt()
    u = Q[:, cells] / a
    return u - 4 * c, u + 4 * c


def apply_junctions(
    A: torch.Tensor, Q: torch.Tensor, p: Parameters, topo: Topology
) -> torch.Tensor:
    """All internal nodes (1->1, 1->n, n->1, n->m) by a Newton solve on a common static pressure.

    For a trial node pressure P each vessel end has the area of the tube law and the velocity
    of its outgoing characteristic (W+ for a vessel ending at the node, W- for one starting
    there); Newton drives the net flow into the node to zero. Returns the relative mass
    residual per subject (max over nodes), shape (B,).
    """
    cells = topo.junction_cells
    if cells.numel() == 0:
        return torch.zeros(A.shape[0], dtype=A.dtype, device=A.device)
    # float64 whatever the state dtype: u = W -/+ 4c cancels badly in float32 at small flows
    f64 = torch.float64
    sign, node, n = topo.junction_sign.to(f64), topo.junction_node, topo.n_junctions
    a, q = A[:, cells].to(f64), Q[:, cells].to(f64)
    a0, beta = p.A0[:, cells].to(f64), p.beta[:, cells].to(f64)
    p_ref, kc = p.p_ref[:, cells].to(f64), p.kc[:, cells].to(f64)
    w = q / a + sign * 4.0 * kc * a.sqrt().sqrt()
    count = torch.zeros(n, dtype=f64, device=A.device).index_add_(0, node, torch.ones_like(sign))
    p_node = _node_sum(pressure(a, a0, beta, p_ref), node, n) / count

    def state(p_trial: torch.Tensor):
        ratio = (1.0 + (p_trial[:, node] - p_ref) / beta).clamp_min(0.05)
        area = a0 * ratio * ratio
        c = kc * area.sqrt().sqrt()
        return area, w - sign * 4.0 * c, c, ratio

    for _ in range(JUNCTION_NEWTON_ITERATIONS):
        area, u, c, ratio = state(p_node)
        f = _node_sum(sign * area * u, node, n)
        darea = 2.0 * a0 * ratio / beta
        df = _node_sum(sign * darea * (u - sign * c), node, n)
        p_node = p_node - f / df
    area, u, _, _ = state(p_node)
    flux = area * u
    residual = _node_sum(sign * flux, node, n).abs() / (_node_sum(flux.abs(), node, n) + 1e-8)
    A[:, cells] = area.to(A.dtype)
    Q[:, cells] = flux.to(Q.dtype)
    return residual.amax(dim=1).to(A.dtype)


def _node_sum(values: torch.Tensor, node: torch.Tensor, n: int) -> torch.Tensor:
    out = torch.zeros(values.shape[0], n, dtype=values.dtype, device=values.device)
    return out.index_add_(1, node, values)
