"""Derived biomarkers are computed draw by draw: CO's quantiles are those of HR * SV / 1000."""

import numpy as np
import torch

from cardiosbi.biomarkers import DERIVED
from cardiosbi.inference import load_posterior
from cardiosbi.inference.posterior import Derived


def test_derived_quantity_uses_the_joint_draws(repo_root):
    posterior = load_posterior(repo_root / "tests" / "data" / "infer" / "hr_sv_windkessel_posterior.pt")
    x = torch.randn(3, *posterior.network.x_shape)
    table = posterior.summarize(x, n=4000, generator=torch.Generator().manual_seed(7), derived=DERIVED)
    draws = posterior.sample((4000,), x=x, generator=torch.Generator().manual_seed(7)).double()
    co = draws[..., 0] * draws[..., 1] / 1000.0  # hr, sv
    rows = table[table["parameter"] == "co"].sort_values("window")
    assert list(rows["unit"].unique()) == ["L/min"]
    np.testing.assert_allclose(rows["median"], torch.quantile(co, 0.5, dim=0).numpy(), rtol=1e-6)
    np.testing.assert_allclose(rows["ci90_high"], torch.quantile(co, 0.95, dim=0).numpy(), rtol=1e-6)


def test_derived_rows_are_rejected_with_their_inputs(repo_root):
    posterior = load_posterior(repo_root / "tests" / "data" / "infer" / "hr_sv_windkessel_posterior.pt")
    posterior.reject_width90 = torch.tensor([0.0, float("nan")])  # every hr interval is too wide
    x = torch.randn(2, *posterior.network.x_shape)
    table = posterior.summarize(x, n=200, derived=DERIVED).set_index("parameter")
    assert table.loc["hr", "reject"].all() and not table.loc["sv", "reject"].any()
    assert table.loc["co", "reject"].all()


def test_derived_quantity_needs_all_its_inputs(repo_root):
    posterior = load_posterior(repo_root / "tests" / "data" / "infer" / "hr_sv_windkessel_posterior.pt")
    missing = Derived("ratio", "1", ("hr", "lvet"), lambda hr, lvet: hr / lvet)
    table = posterior.summarize(torch.randn(1, *posterior.network.x_shape), n=50, derived=[missing])
    assert set(table["parameter"]) == {"hr", "sv"}
