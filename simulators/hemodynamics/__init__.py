"""Batched 1D arterial hemodynamics (torch): networks, solver, heart inflow, PWDB subjects."""
