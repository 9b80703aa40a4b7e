"""Interior scheme: MUSCL-superbee reconstruction, global Lax-Friedrichs flux, Heun predictor-
corrector and operator-split friction/taper sources (openBF 2.8 order, notes §2.1-2.2), then the
optional implicit viscoelastic-wall step (:mod:`viscoelastic`).

All functions act on (B, N) flat arrays (see :mod:`layout`); ``dt`` is per subject, (B, 1).
"""

from __future__ import annotations

import torch

from simulators.hemodynamics.layout import Parameters, Topology
from simulators.hemodynamics.viscoelastic import viscous_step


def wave_speed(A: torch.Tensor, p: Parameters) -> torch.Tensor:
    """c = sqrt(beta sqrt(A) / (2 rho sqrt(A0))) = kc A^(1/4)."""
    return p.kc * A.sqrt().sqrt()


def pressure(A: torch.Tensor, A0: torch.Tensor, beta: torch.Tensor, p_ref: torch.Tensor):
    """Elastic tube law P = p_ref + beta (sqrt(A/A0) - 1)."""
    return p_ref + beta * ((A / A0).sqrt() - 1.0)


def time_step(A: torch.Tensor, Q: torch.Tensor, p: Parameters, cfl: float) -> torch.Tensor:
    """Per-subject CFL step: cfl * min over cells of dx / |u + c|, shape (B, 1)."""
    speed = (Q / A + wave_speed(A, p)).abs()
    return cfl * (p.dx / speed).amin(dim=1, keepdim=True)


def _superbee_half(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Half the superbee-limited slope (times dx): the offset from cell centre to face."""
    al, ar = left.abs(), right.abs()
    magnitude = torch.maximum(torch.minimum(2 * al, ar), torch.minimum(al, 2 * ar))
    return torch.where(left * right > 0, torch.copysign(0.5 * magnitude, left), 0.0)


def _face_offsets(U: torch.Tensor, interior: torch.Tensor) -> torch.Tensor:
    sigma = _superbee_half(U[:, 1:-1] - U[:, :-2], U[:, 2:] - U[:, 1:-1])
    return torch.where(interior, torch.nn.functional.pad(sigma, (1, 1)), 0.0)


def flux_divergence(
    A: torch.Tensor, Q: torch.Tensor, dt: torch.Tensor, p: Parameters, topo: Topology
) -> tuple[torch.Tensor, torch.Tensor]:
    """-(dt/dx)(F_{i+1/2} - F_{i-1/2}) for A and Q at interior cells (zero at ghosts)."""
    interior = topo.interior
    # Reconstruct and dissipate the stretch A/A0, not A, scaled by the smaller A0 of the two
    # cells at each face (so no cell gets more dissipation than openBF's): identical to
    # openBF's scheme in uniform segments, and a tapered segment at a uniform pressure with
    # no flow (A/A0 uniform for a uniform wall law) stays at rest. Reconstructing A instead
    # makes the first-order end cells of a tapered segment exchange mass with the interior
    # whenever the mean pressure differs from the reference pressure: a steady leak that
    # the junction and outlet solves, which reset the end-cell area, hide but do not stop.
    a0l, a0r = p.A0[:, :-1], p.A0[:, 1:]
    stretch = A / p.A0
    ss, sq = _face_offsets(stretch, interior), _face_offsets(Q, interior)
    sl, ql = (stretch + ss)[:, :-1], (Q + sq)[:, :-1]  # left state of face i+1/2 (cell i)
    sr, qr = (stretch - ss)[:, 1:], (Q - sq)[:, 1:]  # right state of face i+1/2 (cell i+1)
    al, ar = a0l * sl, a0r * sr
    gl, gr = p.gamma[:, :-1], p.gamma[:, 1:]
    speed = p.dx[:, :-1] * (1.0 / dt)  # per-subject reciprocal: no division per face
    fa = 0.5 * (ql + qr) - 0.5 * speed * torch.minimum(a0l, a0r) * (sr - sl)
    fq = 0.5 * (ql * ql / al + gl * al * al.sqrt() + qr * qr / ar + gr * ar * ar.sqrt())
    fq = fq - 0.5 * speed * (qr - ql)
    ratio = dt / p.dx
    da = torch.where(interior, torch.nn.functional.pad(fa[:, :-1] - fa[:, 1:], (1, 1)) * ratio, 0.0)
    dq = torch.where(interior, torch.nn.functional.pad(fq[:, :-1] - fq[:, 1:], (1, 1)) * ratio, 0.0)
    return da, dq


def muscl_step(
    A: torch.Tensor, Q: torch.Tensor, dt: torch.Tensor, p: Parameters, topo: Topology
) -> tuple[torch.Tensor, torch.Tensor]:
    """One predictor-corrector step with sources; returns the new (A, Q) with ghosts refreshed.

    The taper source enters both stages (unsplit), because it balances a momentum-flux
    gradient that both stages see. Split after the corrector (openBF), the predictor of a
    tapered segment at rest carries a spurious flow dt * (flux divergence) that the corrector
    feeds into the mass fluxes, so the rest state drifts (0.04 m/s after 300 steps on ADAN56
    at 2 mm). Friction stays split after the corrector, as in openBF, and so does the implicit
    viscoelastic-wall step (only when some segment has that wall: decided in Python).
    """
    da, dq = flux_divergence(A, Q, dt, p, topo)
    a_star = refresh_ghosts(A + da, topo)
    q_star = refresh_ghosts(Q + dq + dt * taper_source(A, p), topo)
    da, dq = flux_divergence(a_star, q_star, dt, p, topo)
    a_new = 0.5 * (A + a_star + da)
    q_new = 0.5 * (Q + q_star + dq + dt * taper_source(a_star, p))
    q_new = q_new - dt * p.friction * q_new / a_new
    if topo.viscoelastic:
        q_new = viscous_step(q_new, dt, p.visc, topo.visc_has_left, topo.visc_has_right,
                             topo.visc_stages)
    return refresh_ghosts(a_new, topo), refresh_ghosts(q_new, topo)


def refresh_ghosts(x: torch.Tensor, topo: Topology) -> torch.Tensor:
    """Ghosts copy their neighbour cell. Shifted slices, not a gather: an index gather
    defeats inductor's vectorisation and makes it recompute the whole stage per ghost lane."""
    after = torch.nn.functional.pad(x[:, 1:], (0, 1))
    before = torch.nn.functional.pad(x[:, :-1], (1, 0))
    return torch.where(topo.ghost_in, after, torch.where(topo.ghost_out, before, x))


def taper_source(A: torch.Tensor, p: Parameters) -> torch.Tensor:
    """Momentum source of a wall whose A0 and beta vary along x (zero for uniform segments)."""
    return A * A.sqrt() * p.taper


def well_balanced_taper(p: Parameters, topo: Topology) -> None:
    """Set the taper source to the discrete rest-state balance of this very scheme.

    S(A) = (A/A0)^(3/2) * D, with D the momentum-flux divergence of the rest state (A = A0,
    Q = 0), so a tapered network at rest stays at rest exactly, end cells included (the
    analytic source disagrees with the one-sided end-cell flux). D is exactly zero in uniform
    segments. The small dbeta/dx (sqrt(A/A0) - 1) term of the continuous source is dropped.
    """
    one = torch.ones(p.A0.shape[0], 1, dtype=p.A0.dtype, device=p.A0.device)
    _, dq = flux_divergence(p.A0, torch.zeros_like(p.A0), one, p, topo)
    p.taper = -dq / p.A0.pow(1.5)
