"""RoPE cost: OT weights, mixture summaries and mixture densities at n_o = n_s = N.

Issue #7's speed target: OT plus mixture summary for n_o = n_s = 2,000 in ≤ 10 s on 2 CPU
cores. The NPE is the pendulum study's architecture (resnet1d embedding → 10 features, coupling
NSF with 3 transforms); its weights are untrained because cost does not depend on them.

    python benchmarks/rope.py [--n 2000] [--draws 1000] [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import torch

from cardiosbi.calibration import RopePosterior, TransportConfig, transport_weights
from cardiosbi.inference import NPEConfig, NPEPosterior
from cardiosbi.inference.network import NPENetwork
from simulators import pendulum


def untrained_npe(device: str) -> NPEPosterior:
    config = NPEConfig.from_dict({
        "model": {"embedding": {"kind": "resnet1d", "channels": [16, 32, 32], "features": 10},
                  "estimator": {"kind": "nsf", "transforms": 3, "hidden": [64, 64]}}})
    network = NPENetwork((1, pendulum.N_TIMES), pendulum.LOW, pendulum.HIGH,
                         config.model.embedding, config.model.estimator)
    generator = torch.Generator().manual_seed(0)
    theta = pendulum.sample_prior(1000, generator)
    network.fit_standardization(theta, pendulum.simulate(theta, generator))
    return NPEPosterior(network, config, list(pendulum.PARAMETER_NAMES)).to(device)


def timed(label: str, function):
    started = time.perf_counter()
    result = function()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - started
    print(f"{label:<58s} {elapsed:8.2f} s")
    return result, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--ot-only", action="store_true",
                        help="time only the OT weights (the mixture layer runs on CPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(1)
    npe = untrained_npe(args.device)
    theta = pendulum.sample_prior(args.n, generator)
    x_test = pendulum.simulate(theta, generator, damped=True).to(args.device)
    theta = theta.to(args.device)
    x_ref = pendulum.simulate(pendulum.sample_prior(args.n, generator), generator)
    with torch.no_grad():  # embeddings stay on the device: POT's torch backend solves there
        reference = npe.embed(x_ref.to(args.device))
        real = npe.embed(x_test.to(args.device))
    print(f"n_o = n_s = {args.n}, {args.draws} draws per window, {args.threads} threads, "
          f"device {args.device}")
    transport_weights(real[:16], reference[:16])  # warm-up (CUDA context, kernels)
    for tau in (1.0, 0.9):
        timed(f"OT weights (tau={tau}, gamma=0.5, log domain)",
              lambda tau=tau: transport_weights(real, reference, TransportConfig(tau=tau)))
    if args.ot_only:
        return
    exact = RopePosterior(npe, reference)
    timed(f"OT + mixture summary, exact draws ({args.draws}/window)",
          lambda: exact.summarize(x_test, n=args.draws, batch_size=args.n))
    rope = RopePosterior(npe, reference, cache_draws=args.draws)
    timed(f"cache {args.draws} NPE draws per reference simulation (once)", rope.cached_draws)
    _, summary_s = timed(f"OT + mixture summary, cached draws ({args.draws}/window)",
                         lambda: rope.summarize(x_test, n=args.draws, batch_size=args.n))
    timed(f"mixture log density ({args.n} x {args.n} flow evaluations)",
          lambda: rope.log_prob(theta, x_test))
    verdict = "meets" if summary_s <= 10 else "misses"
    print(f"OT + summary (cached draws) {summary_s:.1f} s: {verdict} the 10 s target")


if __name__ == "__main__":
    main()
