"""Optional Voigt (Kelvin-Voigt) viscoelastic wall: an implicit axial diffusion of the flow.

Wall law: P = p_ref + beta (sqrt(A/A0) - 1) + Gamma / (A0 sqrt(A)) dA/dt, with
Gamma = b0 + b1 / (2 R0) [kg/s] (Mynard-style coefficients: b0 = 0.6 kg/s, b1 = 1.5e-3 kg m/s,
PWDB's 600 g/s and 150 g cm/s). Mass conservation gives dA/dt = -dQ/dx, so the viscous
pressure adds (A/rho) d/dx(Gamma/(A0 sqrt(A)) dQ/dx) to dQ/dt; linearised about A = A0 (as in
openBF 2.8) this is Cv d2Q/dx2 with Cv = Gamma / (rho sqrt(A0)) [m^2/s].

After the elastic step (MUSCL, friction) each viscoelastic segment solves, per subject,
    dQ/dt = Cv d2Q/dx2,  zero-flux (dQ/dx = 0) segment ends,
implicitly with backward Euler over the step dt:
    (1 + 2 a_i) Q_i^new - a_i (Q_{i-1}^new + Q_{i+1}^new) = Q_i,   a_i = Cv_i dt / dx^2,
where an end cell has no outer neighbour (its missing coupling drops from the diagonal). The
system is an M-matrix whatever a is (a reaches ~80 in small PWDB vessels at 1 mm), so the step
is unconditionally stable and monotone; Crank-Nicolson would leave grid-scale modes undamped
(amplification -> -1 as a grows). openBF 2.8 writes a Crank-Nicolson right-hand side
(1 - 2a) Q_i + a (Q_{i-1} + Q_{i+1}) with the same a, which amounts to a coefficient 2 Cv.

The tridiagonal systems of every subject and segment are solved together on the flat (B, N)
layout by parallel cyclic reduction: ceil(log2(longest segment)) stages of shifted-slice
stencils (no index gathers, so inductor vectorises them), rows normalised to a unit diagonal.
Ghost entries are rows of their own (diagonal 1, no couplings), which decouples the segments.
"""

from __future__ import annotations

import math

import numpy as np
import torch

WALL_B0 = 0.6  # kg/s (PWDB: 600 g/s)
WALL_B1 = 1.5e-3  # kg m/s (PWDB: 150 g cm/s)


def wall_coefficient(r0: np.ndarray, rho: np.ndarray | float, b0: np.ndarray | float = WALL_B0,
                     b1: np.ndarray | float = WALL_B1) -> np.ndarray:
    """Cv = (b0 + b1 / (2 R0)) / (rho sqrt(pi R0^2)) [m^2/s] for lumen radius R0 [m]."""
    return (b0 + b1 / (2.0 * r0)) / (rho * np.sqrt(np.pi) * r0)


def pcr_stages(longest_block: int) -> int:
    """Cyclic-reduction stages that decouple every row of blocks up to ``longest_block`` rows."""
    return max(1, math.ceil(math.log2(max(longest_block, 2))))


def _shift_down(x: torch.Tensor, s: int) -> torch.Tensor:
    """y_i = x_{i-s} (zero where i < s)."""
    return torch.nn.functional.pad(x[:, :-s], (s, 0))


def _shift_up(x: torch.Tensor, s: int) -> torch.Tensor:
    """y_i = x_{i+s} (zero where i >= N - s)."""
    return torch.nn.functional.pad(x[:, s:], (0, s))


def solve_tridiagonal(lower: torch.Tensor, diag: torch.Tensor, upper: torch.Tensor,
                      rhs: torch.Tensor, stages: int) -> torch.Tensor:
    """Solve lower_i x_{i-1} + diag_i x_i + upper_i x_{i+1} = rhs_i along the last axis.

    Parallel cyclic reduction for diagonally dominant systems; ``lower`` must be 0 at the first
    row of every independent block and ``upper`` 0 at its last, and ``2**stages`` must reach
    the longest block. All arguments are (B, N) (or broadcastable) tensors.
    """
    inv = 1.0 / diag
    lo, up, r = lower * inv, upper * inv, rhs * inv
    for k in range(stages):
        s = 1 << k
        lo_m, up_m, r_m = _shift_down(lo, s), _shift_down(up, s), _shift_down(r, s)
        lo_p, up_p, r_p = _shift_up(lo, s), _shift_up(up, s), _shift_up(r, s)
        inv = 1.0 / (1.0 - lo * up_m - up * lo_p)
        r = (r - lo * r_m - up * r_p) * inv
        lo, up = -lo * lo_m * inv, -up * up_p * inv
    return r


def viscous_step(Q: torch.Tensor, dt: torch.Tensor, visc: torch.Tensor, has_left: torch.Tensor,
                 has_right: torch.Tensor, stages: int) -> torch.Tensor:
    """Backward-Euler solve of dQ/dt = Cv d2Q/dx2 with zero-flux segment ends.

    ``visc``: Cv / dx^2 per cell (B, N), zero at ghosts and in elastic segments; ``dt``: (B, 1);
    ``has_left`` / ``has_right``: (N,) True where the neighbouring entry is a cell of the same
    segment. Ghost entries and elastic cells come back unchanged.
    """
    a = visc * dt
    lower = torch.where(has_left, -a, 0.0)
    upper = torch.where(has_right, -a, 0.0)
    return solve_tridiagonal(lower, 1.0 - lower - upper, upper, Q, stages)
