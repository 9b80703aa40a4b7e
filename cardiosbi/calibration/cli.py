"""`cardiosbi calibrate`: NPE posterior + labelled real calibration set → RoPE posterior file."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from cardiosbi.calibration.finetune import FineTuneConfig
from cardiosbi.calibration.rope import calibrate as rope_calibrate
from cardiosbi.calibration.transport import TransportConfig
from cardiosbi.errors import ConfigError
from cardiosbi.inference import NPEPosterior, load_posterior
from cardiosbi.inference.sources import read_tensor_file
from cardiosbi.utils.config import to_dataclass
from cardiosbi.utils.rundir import write_run_info
from cardiosbi.utils.seeding import seed_everything

log = logging.getLogger(__name__)


def calibrate(cfg: DictConfig) -> int:
    seed_everything(cfg.seed)
    npe = load_posterior(cfg.posterior)
    if not isinstance(npe, NPEPosterior):
        raise ConfigError(f"RoPE calibrates a single NPE posterior; {cfg.posterior} holds a "
                          f"'{npe.kind}' posterior")
    calibration = read_tensor_file(cfg.calibration)
    reference = read_tensor_file(cfg.reference)
    if list(reference.names) != npe.parameter_names:
        raise ConfigError(f"reference file parameters {list(reference.names)} differ from the "
                          f"posterior's {npe.parameter_names}")
    transport = to_dataclass(cfg.rope.transport, TransportConfig, "rope.transport")
    fine_tune = (to_dataclass(cfg.rope.fine_tuning, FineTuneConfig, "rope.fine_tuning")
                 if cfg.rope.fine_tune else None)
    log.info("calibrating on %d labelled recordings against %d reference simulations",
             len(calibration.theta), len(reference.theta))
    rope = rope_calibrate(npe, calibration.theta, calibration.x, reference.x,
                          theta_reference=reference.theta, fine_tune=fine_tune,
                          transport=transport, mode=cfg.rope.mode,
                          gamma_grid=cfg.rope.gamma_grid, labelled=list(calibration.names))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    rope.save(out / "posterior.pt")
    write_run_info(out, cfg, "calibrate")
    log.info("wrote %s", out / "posterior.pt")
    return 0
