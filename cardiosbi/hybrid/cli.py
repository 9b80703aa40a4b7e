"""``cardiosbi train-hybrid RECORDS... --out DIR``: the hybrid PPG model from real pairs."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from cardiosbi.hybrid.fit import TrainHybridConfig, train_hybrid
from cardiosbi.utils.config import to_dataclass
from cardiosbi.utils.device import resolve_device
from cardiosbi.utils.rundir import write_run_info


def train(cfg: DictConfig) -> int:
    records = cfg.records
    if isinstance(records, str):  # one positional source, or `records=path`
        cfg = OmegaConf.merge(cfg, {"records": [records]})
    config = to_dataclass(cfg, TrainHybridConfig, "train_hybrid")
    device = resolve_device(config.device)
    if config.training.accelerator == "auto":
        config.training.accelerator = "gpu" if str(device).startswith("cuda") else "cpu"
    hybrid = train_hybrid(config)
    write_run_info(Path(config.out), cfg, "train_hybrid")
    counts = hybrid.training["pairs"]
    print(f"hybrid posterior: {config.out}/hybrid.pt ({counts['pairs']} pairs from "
          f"{counts['records_with_pairs']}/{counts['records']} records; every window and its "
          f"rejection reason in {config.out}/pairs.csv; {hybrid.training['epochs']} epochs, "
          f"{hybrid.training['train_seconds']:.0f} s)")
    return 0
