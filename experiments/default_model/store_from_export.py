"""Rebuild a simulated store from ``export_store.py`` files (one per channel).

    python experiments/default_model/store_from_export.py OUT radial.npz digital.npz

The store gets the layout and attributes of ``experiment=default_model`` (so `cardiosbi train
experiment=default_model_apw` reads it unchanged), the exported theta, seeds, labels and
windows; windows are float16-rounded (0.125 mmHg at 128-256 mmHg, far below the measurement
model's noise) and the measurement nuisances are not carried (NaN).
"""

import sys
from pathlib import Path

import numpy as np

from cardiosbi.cli.main import compose
from cardiosbi.datasets import store
from cardiosbi.datasets.cli import spec_from_config
from cardiosbi.datasets.generate import Pipeline


def main(out: str, exports: list[str]) -> None:
    pipeline = Pipeline(spec_from_config(compose("simulate", ["experiment=default_model"])), "cpu")
    layout = pipeline.layout()
    files = [np.load(path) for path in exports]
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    group = store.create_store(root, layout, pipeline.attrs())
    first = files[0]
    if list(first["theta_names"]) != layout.parameter_names:
        raise SystemExit(f"parameters differ: {list(first['theta_names'])} vs {layout.parameter_names}")
    for shard in range(layout.n_shards):
        start, stop = layout.rows(shard)
        rows = {"theta": first["theta"][start:stop], "seed": first["seed"][start:stop],
                "status": first["status"][start:stop]}
        rows.update({f"labels/{n}": first["label_" + n][start:stop] for n in layout.label_names})
        for channel in layout.channels:
            key = "x_" + channel.replace("/", "_")
            (source,) = [f for f in files if key in f.files]
            rows[f"x/{channel}"] = source[key][start:stop].astype(np.float32)
        store.write_shard(group, layout, shard, rows)
        store.mark_done(root, shard, {"shard": shard, "accepted": stop - start,
                                      "imported_from": [str(p) for p in exports]})
    print(f"store rebuilt in {root} ({layout.n} samples, channels {layout.channels})")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
