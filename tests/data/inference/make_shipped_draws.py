"""Reference draws of the shipped posteriors; run from the repository root with the code to be
matched first on PYTHONPATH (see README.md). Usage: make_shipped_draws.py OUT.pt"""

import sys

import torch

import cardiosbi
from cardiosbi.inference import load_posterior

print("code:", cardiosbi.__file__, file=sys.stderr)
torch.set_num_threads(1)
out = {}
for name in ("apw", "ppg"):
    posterior = load_posterior(f"cardiosbi/assets/models/{name}.pt")
    x = torch.randn((2, *posterior.network.x_shape), generator=torch.Generator().manual_seed(11))
    draws = posterior.sample((64,), x=x, generator=torch.Generator().manual_seed(12))
    with torch.no_grad():
        log_prob = posterior.log_prob(draws[:, 0], x[:1].expand(64, *x.shape[1:]))
    out[name] = {"draws": draws, "log_prob": log_prob}
torch.save(out, sys.argv[1])
