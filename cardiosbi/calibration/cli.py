"""`cardiosbi calibrate`: NPE posterior + labelled real calibration set → RoPE posterior file.

A hybrid PPG posterior is calibrated through the APW posterior it embeds (see
:mod:`cardiosbi.calibration.hybrid`): the calibration windows are PPG, the references the APW
model's simulations, and the result reads PPG windows like the hybrid.

The calibrated posterior's reject thresholds are recalibrated on the held-out calibration
windows (the split the fine-tuning validates on), it keeps the per-biomarker validation status
of the model it calibrates, and ``calibration.json`` beside it records both. A model whose card
advises against calibration (``apw``) gets a warning first.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from cardiosbi.calibration.finetune import FineTuneConfig, calibration_split
from cardiosbi.calibration.hybrid import calibrate_hybrid, hybrid_reference
from cardiosbi.calibration.recordings import LabelledWindows, labelled_windows
from cardiosbi.calibration.rope import calibrate as rope_calibrate
from cardiosbi.calibration.rope import recalibrate_reject
from cardiosbi.calibration.transport import TransportConfig
from cardiosbi.default_models import (
    DEFAULT_MODELS,
    ReferenceSet,
    calibration_advice,
    load_default_reference,
    posterior_path,
)
from cardiosbi.errors import ConfigError
from cardiosbi.hybrid.posterior import HybridPosterior
from cardiosbi.inference import NPEPosterior, Posterior, load_posterior
from cardiosbi.inference.sources import TrainingData, read_tensor_file
from cardiosbi.io.cohort import discover_records
from cardiosbi.utils.config import to_dataclass
from cardiosbi.utils.logging import quiet_lightning
from cardiosbi.utils.paths import existing_path
from cardiosbi.utils.rundir import atomic_write_text, write_run_info
from cardiosbi.utils.seeding import seed_everything

log = logging.getLogger(__name__)

TENSOR_SUFFIXES = (".npz", ".pt")


def calibrate(cfg: DictConfig) -> int:
    quiet_lightning()
    seed_everything(cfg.seed)
    if int(cfg.workers) < 1:
        raise ConfigError(f"workers must be >= 1, got {cfg.workers}")
    path = posterior_path(cfg.posterior)
    posterior = load_posterior(path)
    if not isinstance(posterior, NPEPosterior | HybridPosterior):
        raise ConfigError(f"RoPE calibrates a single NPE posterior or a hybrid PPG posterior; "
                          f"{cfg.posterior} holds a '{posterior.kind}' posterior")
    transport = to_dataclass(cfg.rope.transport, TransportConfig, "rope.transport")
    fine_tune = (to_dataclass(cfg.rope.fine_tuning, FineTuneConfig, "rope.fine_tuning")
                 if cfg.rope.fine_tune else None)
    advice = calibration_advice(path)
    if advice:
        log.warning("%s", advice)
    calibration = calibration_set(cfg, posterior)
    reference = reference_set(cfg, posterior)
    if list(reference.names) != posterior.parameter_names:
        raise ConfigError(f"reference file parameters {list(reference.names)} differ from the "
                          f"posterior's {posterior.parameter_names}")
    shipped = isinstance(reference, ReferenceSet)
    log.info("calibrating on %d labelled windows against %d reference simulations",
             len(calibration.theta), len(reference.theta))
    # a hybrid: RoPE on its APW posterior, with PPG windows decoded into pressure as real data
    method = calibrate_hybrid if isinstance(posterior, HybridPosterior) else rope_calibrate
    rope = method(posterior, calibration.theta, calibration.x,
                  None if shipped else reference.x,
                  reference_embeddings=reference.embeddings if shipped else None,
                  theta_reference=reference.theta, fine_tune=fine_tune,
                  transport=transport, mode=cfg.rope.mode,
                  gamma_grid=cfg.rope.gamma_grid, labelled=list(calibration.names))
    rope.validation = posterior.validation
    _, held_out = calibration_split(len(calibration.theta), fine_tune or FineTuneConfig())
    thresholds = recalibrate_reject(rope, calibration.x[held_out], cfg.rope.reject_quantile,
                                    seed=int(cfg.seed))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    rope.save(out / "posterior.pt")
    write_run_info(out, cfg, "calibrate")
    summary = calibration_summary(rope, calibration, len(held_out), thresholds, advice, cfg)
    atomic_write_text(out / "calibration.json", json.dumps(summary, indent=2))
    print(f"calibrated posterior written to {out / 'posterior.pt'}: {len(calibration.theta)} "
          f"labelled windows from {summary['records']} recordings; reject thresholds "
          f"recalibrated on {len(held_out)} held-out windows "
          f"({', '.join(f'{k} {v:.3g}' for k, v in summary['reject_width90'].items())}); "
          f"details in {out / 'calibration.json'}")
    return 0


def calibration_summary(rope, calibration, held_out: int, thresholds, advice: str,
                        cfg: DictConfig) -> dict:
    """What ``calibration.json`` records about the calibrated posterior."""
    records = getattr(calibration, "record", None)
    return {
        "posterior": str(cfg.posterior),
        "labelled": list(calibration.names),
        "windows": len(calibration.theta),
        "records": len(set(records.tolist())) if records is not None else None,
        "windows_left_out": dict(getattr(calibration, "skipped", {})),
        "reject_width90": {name: float(v) for name, v in
                           zip(rope.parameter_names, thresholds.tolist(), strict=True)},
        "reject_thresholds_from": f"{held_out} held-out calibration windows, quantile "
                                  f"{cfg.rope.reject_quantile} of 90% widths",
        "advice": advice,
    }


def reference_set(cfg: DictConfig, posterior: Posterior) -> TrainingData | ReferenceSet:
    """``default``: the shipped model's reference set (for a hybrid: that of the shipped APW
    model it embeds); otherwise a tensor file of simulations."""
    if cfg.reference != "default":
        return read_tensor_file(cfg.reference)
    if isinstance(posterior, HybridPosterior):
        return hybrid_reference(posterior)
    if cfg.posterior not in DEFAULT_MODELS:
        raise ConfigError("reference=default exists for the shipped models "
                          f"({', '.join(DEFAULT_MODELS)}) only; pass a tensor file of reference "
                          "simulations (theta, x, names, low, high) for your own posterior")
    return load_default_reference(cfg.posterior)


def calibration_set(cfg: DictConfig, posterior: Posterior) -> TrainingData | LabelledWindows:
    """A tensor file (.npz/.pt with theta, x, names) or labelled recordings (file or folder),
    windows prepared as ``posterior`` reads them (PPG windows for a hybrid)."""
    source = Path(cfg.calibration)
    if source.suffix in TENSOR_SUFFIXES:
        return read_tensor_file(source)
    refs = discover_records(existing_path(source, "calibration recordings"),
                            allow_outside_paths=bool(cfg.allow_outside_paths))
    labels = OmegaConf.to_container(cfg.labels) if cfg.labels else None
    return labelled_windows(refs, posterior, labels, cfg.until_s, workers=int(cfg.workers))
