"""Hybrid amortized inference (HAI): a simulation-trained NPE composed with a learned
misspecification model p(x_sim | x_obs) fitted on a small labelled real set."""

from cardiosbi.hai.posterior import HAIPosterior, MisspecificationFlow, fit_misspecification

__all__ = ["HAIPosterior", "MisspecificationFlow", "fit_misspecification"]
