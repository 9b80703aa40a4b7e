"""Write a shipped model's RoPE reference set: its embeddings of the training store's simulations.

    python experiments/default_model/reference_set.py ppg data/studies/default_model/digital.npz

The input is the store exported by ``export_store.py`` (one channel). The output,
``cardiosbi/assets/models/<name>_reference.npz``, keeps per simulation the posterior's
parameters (from the labels) and the 64-number embedding h(x_s) — all RoPE needs from a
reference set — plus the model file's SHA-256 so a retrained model cannot use a stale set.
"""

import sys

import numpy as np
import torch

from cardiosbi.default_models import (
    default_model_path,
    default_reference_path,
    file_sha256,
    load_default_posterior,
)
from cardiosbi.estimate import model_input


def main(name: str, export: str) -> None:
    posterior = load_default_posterior(name)
    data = np.load(export)
    ok = data["status"] == 0
    theta = np.stack([data[f"label_{p}"][ok] for p in posterior.parameter_names], axis=1)
    (channel,) = [key for key in data.files if key.startswith("x_")]
    x = model_input(posterior, data[channel][ok].astype(np.float32)[:, None, :])
    with torch.no_grad():
        embeddings = torch.cat([posterior.embed(chunk).cpu() for chunk in x.split(512)])
    out = default_reference_path(name)
    np.savez_compressed(out, theta=theta.astype(np.float32), embeddings=embeddings.numpy(),
                        names=np.array(posterior.parameter_names),
                        model_sha256=np.array(file_sha256(default_model_path(name))))
    print(f"wrote {out}: {len(theta)} simulations, embeddings {tuple(embeddings.shape)}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
