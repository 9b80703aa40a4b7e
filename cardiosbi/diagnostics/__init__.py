"""Posterior diagnostics that work on arrays of samples: coverage (central, HPD, joint HPD),
SBC ranks, TARP, calibration error, rejection curves and posterior predictive checks.

``run_diagnostics(posterior, theta_test, x_test, out_dir)`` runs them all and writes plots and
tidy CSV files; ``diagnose_samples`` does the same from samples of any estimator.
"""

from cardiosbi.diagnostics.runner import DiagnosticsReport, diagnose_samples, run_diagnostics

__all__ = ["DiagnosticsReport", "diagnose_samples", "run_diagnostics"]
