"""GPU training: the saved file loads on CPU and CPU/GPU densities agree (needs CUDA)."""

from __future__ import annotations

import pytest
import torch

from cardiosbi.inference import load_posterior, train_npe
from tests.inference._tiny import tiny_config, tiny_task


@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["nsf", "fmpe"])
def test_trained_on_gpu_loads_and_agrees_on_cpu(kind, tmp_path):
    task = tiny_task(series_length=64)
    theta, x = task.sample_joint(400, torch.Generator().manual_seed(0))
    low, high = task.bounds()
    config = tiny_config(kind, {"embedding": {"channels": [8, 8]}}, accelerator="gpu", devices=1)
    posterior = train_npe(theta, x, task.names, low, high, config)
    posterior.save(tmp_path / "p.pt")
    on_cpu = load_posterior(tmp_path / "p.pt", device="cpu")
    on_gpu = load_posterior(tmp_path / "p.pt", device="cuda")
    draws = on_cpu.sample((20,), x=x[:4], generator=torch.Generator().manual_seed(1))
    theta_eval = draws.reshape(-1, 2)
    x_eval = x[:4].repeat(20, 1, 1)
    cpu_logp = on_cpu.log_prob(theta_eval, x_eval).detach()
    gpu_logp = on_gpu.log_prob(theta_eval.cuda(), x_eval.cuda()).detach().cpu()
    torch.testing.assert_close(gpu_logp, cpu_logp, rtol=1e-3, atol=1e-3)
    gpu_draws = on_gpu.sample((20,), x=x[:4].cuda(), generator=torch.Generator().manual_seed(1))
    assert gpu_draws.device.type == "cuda"
    torch.testing.assert_close(gpu_draws.cpu(), draws, rtol=1e-3, atol=1e-3)
