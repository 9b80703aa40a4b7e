"""A 1-D linear-Gaussian toy with a known affine sensor misspecification, shared by the HAI and
RoPE tests: the NPE has an MLP embedding (as in the study), so RoPE has something to tune."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from cardiosbi.inference import NPEConfig, train_npe

LOW, HIGH = torch.tensor([-2.0]), torch.tensor([2.0])


def simulate(theta: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return theta + 0.3 * torch.randn(theta.shape, generator=generator)


def observe(x_sim: torch.Tensor) -> torch.Tensor:
    """The 'real sensor': an affine gain and offset the simulator does not know."""
    return 2.0 * x_sim + 1.0


def draw(n: int, generator: torch.Generator) -> torch.Tensor:
    return 4 * torch.rand(n, 1, generator=generator) - 2


@dataclass
class Toy:
    npe: object
    theta_lab: torch.Tensor
    x_lab: torch.Tensor       # real (observed) windows of the labelled set
    theta_test: torch.Tensor
    x_test: torch.Tensor      # real test windows


@pytest.fixture(scope="package")
def toy() -> Toy:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    theta = draw(3000, generator)
    config = NPEConfig.from_dict({"model": {"embedding": {"kind": "mlp", "features": 4,
                                                          "hidden": [32, 32]},
                                            "estimator": {"kind": "nsf", "hidden": [32, 32],
                                                          "transforms": 2}},
                                  "trainer": {"max_epochs": 15, "batch_size": 200,
                                              "reject_calibration_samples": 50,
                                              "reject_calibration_rows": 100}})
    npe = train_npe(theta, simulate(theta, generator), ["theta"], LOW, HIGH, config)
    labelled, test = draw(100, generator), draw(200, generator)
    yield Toy(npe, labelled, observe(simulate(labelled, generator)), test,
              observe(simulate(test, generator)))
    torch.set_num_threads(threads)
