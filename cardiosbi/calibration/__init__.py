"""RoPE calibration (Wehenkel et al., ICML 2025): a fine-tuned real-data encoder plus entropic
optimal transport onto reference simulations turns a simulation-trained NPE into a posterior
that stays calibrated on real data.

    from cardiosbi.calibration import calibrate, FineTuneConfig, TransportConfig
    rope = calibrate(npe, theta_cal, x_cal, x_reference, theta_reference=theta_ref,
                     fine_tune=FineTuneConfig(), transport=TransportConfig(tau=0.9))

A hybrid PPG posterior: ``calibrate_hybrid(hybrid, theta_cal, ppg_cal, x_reference, ...)``.
"""

from cardiosbi.calibration.finetune import FineTuneConfig, NearestSimulation, fine_tune_encoder
from cardiosbi.calibration.hybrid import calibrate_hybrid
from cardiosbi.calibration.metrics import acauc, lpp
from cardiosbi.calibration.rope import RopePosterior, calibrate
from cardiosbi.calibration.transport import TransportConfig, transport_weights

__all__ = [
    "FineTuneConfig", "NearestSimulation", "RopePosterior", "TransportConfig", "acauc",
    "calibrate", "calibrate_hybrid", "fine_tune_encoder", "lpp", "transport_weights",
]
