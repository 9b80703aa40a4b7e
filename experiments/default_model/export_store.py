"""Export a simulated store compactly (float16 windows, all labels) to move it off a GPU machine.

    python experiments/default_model/export_store.py runs/default_model/dataset out.npz radial/P

The device machines return files of at most 16 MB, so the 4,096-sample default dataset
travelled as one ``.npz`` per channel; ``store_from_export.py`` rebuilds a store from them.
"""

import sys

import numpy as np

from cardiosbi.datasets.reader import SimulatedStore


def main(root: str, out: str, channels: list[str]) -> None:
    group = SimulatedStore(root).group
    arrays = {"theta": group["theta"][:], "theta_names": np.array(group.attrs["parameter_names"]),
              "seed": group["seed"][:], "status": group["status"][:]}
    for name in group.attrs["layout"]["label_names"]:
        arrays["label_" + name] = group[f"labels/{name}"][:]
    for channel in channels:
        arrays["x_" + channel.replace("/", "_")] = group[f"x/{channel}"][:].astype(np.float16)
    np.savez_compressed(out, **arrays)
    print(f"exported {len(arrays['seed'])} samples to {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3].split(","))
