"""`cardiosbi calibrate`: NPE posterior + labelled real calibration set → RoPE posterior file.

A hybrid PPG posterior is calibrated through the APW posterior it embeds (see
:mod:`cardiosbi.calibration.hybrid`): the calibration windows are PPG, the references the APW
model's simulations, and the result reads PPG windows like the hybrid.
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from cardiosbi.calibration.finetune import FineTuneConfig
from cardiosbi.calibration.hybrid import calibrate_hybrid, hybrid_reference
from cardiosbi.calibration.recordings import LabelledWindows, labelled_windows
from cardiosbi.calibration.rope import calibrate as rope_calibrate
from cardiosbi.calibration.transport import TransportConfig
from cardiosbi.default_models import (
    DEFAULT_MODELS,
    ReferenceSet,
    load_default_reference,
    posterior_path,
)
from cardiosbi.errors import ConfigError
from cardiosbi.hybrid.posterior import HybridPosterior
from cardiosbi.inference import NPEPosterior, Posterior, load_posterior
from cardiosbi.inference.sources import TrainingData, read_tensor_file
from cardiosbi.io.cohort import discover_records
from cardiosbi.utils.config import to_dataclass
from cardiosbi.utils.paths import existing_path
from cardiosbi.utils.rundir import write_run_info
from cardiosbi.utils.seeding import seed_everything

log = logging.getLogger(__name__)

TENSOR_SUFFIXES = (".npz", ".pt")


def calibrate(cfg: DictConfig) -> int:
    seed_everything(cfg.seed)
    posterior = load_posterior(posterior_path(cfg.posterior))
    if not isinstance(posterior, NPEPosterior | HybridPosterior):
        raise ConfigError(f"RoPE calibrates a single NPE posterior or a hybrid PPG posterior; "
                          f"{cfg.posterior} holds a '{posterior.kind}' posterior")
    calibration = calibration_set(cfg, posterior)
    reference = reference_set(cfg, posterior)
    if list(reference.names) != posterior.parameter_names:
        raise ConfigError(f"reference file parameters {list(reference.names)} differ from the "
                          f"posterior's {posterior.parameter_names}")
    shipped = isinstance(reference, ReferenceSet)
    transport = to_dataclass(cfg.rope.transport, TransportConfig, "rope.transport")
    fine_tune = (to_dataclass(cfg.rope.fine_tuning, FineTuneConfig, "rope.fine_tuning")
                 if cfg.rope.fine_tune else None)
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
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    rope.save(out / "posterior.pt")
    write_run_info(out, cfg, "calibrate")
    log.info("wrote %s", out / "posterior.pt")
    return 0


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
    refs = discover_records(existing_path(source, "calibration recordings"))
    labels = OmegaConf.to_container(cfg.labels) if cfg.labels else None
    return labelled_windows(refs, posterior, labels, cfg.until_s)
