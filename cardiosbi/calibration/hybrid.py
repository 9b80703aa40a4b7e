"""RoPE on top of a hybrid posterior (PPG -> pressure -> APW posterior).

The NPE RoPE calibrates is the APW posterior embedded in the hybrid; its reference simulations
are the APW model's (arterial pressure windows, or their embeddings h(x_s)). Only the real side
changes: PPG windows reach the APW embedding space through the hybrid's decoder
(:class:`~cardiosbi.calibration.pressure_encoder.DecodedPressureEncoder`), and fine-tuning trains
that whole path. The result is a :class:`RopePosterior` that takes PPG windows like the hybrid.
"""

from __future__ import annotations

from torch import Tensor

from cardiosbi.calibration.pressure_encoder import hybrid_encoder
from cardiosbi.calibration.rope import RopePosterior, calibrate
from cardiosbi.default_models import ReferenceSet, default_model_path, load_default_reference
from cardiosbi.errors import ConfigError
from cardiosbi.hybrid.posterior import HybridPosterior, payload_sha256
from cardiosbi.inference import load_posterior
from cardiosbi.inference.serialization import posterior_payload

# The shipped model whose reference set a hybrid can use (the APW model it is composed with).
SHIPPED_APW = "apw"


def calibrate_hybrid(hybrid: HybridPosterior, theta_calibration: Tensor, x_calibration: Tensor,
                     x_reference: Tensor | None, **options) -> RopePosterior:
    """:func:`~cardiosbi.calibration.rope.calibrate` with the hybrid's APW posterior as the NPE
    and PPG windows ``x_calibration`` (B, 1, T) as the real data; ``options`` are
    ``calibrate``'s keywords (``fine_tune``, ``transport``, ``reference_embeddings``, ...).

    The reject flag keeps the hybrid's thresholds: they were set on real PPG windows, where the
    APW posterior's own (set on simulations) would flag nearly every window."""
    rope = calibrate(hybrid.apw, theta_calibration, x_calibration, x_reference,
                     encoder=hybrid_encoder(hybrid), **options)
    rope.reject_width90 = hybrid.reject_width90.clone()
    return rope


def hybrid_reference(hybrid: HybridPosterior) -> ReferenceSet:
    """The shipped APW reference set, if ``hybrid`` embeds the shipped APW posterior.

    The reference embeddings are h(x_s) of that exact model, so another APW posterior (retrained,
    or a different file) would be transported onto embeddings of a network it does not have."""
    shipped = load_posterior(default_model_path(SHIPPED_APW))
    if hybrid.apw_sha256 != payload_sha256(posterior_payload(shipped)):
        trained_on = hybrid.training.get("apw_file", "an APW posterior file")
        raise ConfigError(
            "reference=default uses the shipped APW model's reference set, but the APW posterior "
            f"embedded in this hybrid ({trained_on}) is not the shipped apw.pt; pass "
            "reference=FILE: a tensor file of simulations (theta, x, names, low, high) with x "
            "prepared as that APW posterior's input")
    return load_default_reference(SHIPPED_APW)

