"""zuko's monotonic rational-quadratic spline with a faster softmax over its bins.

torch's CPU softmax over a last dimension shorter than 16 (an NSF's bins: 8 by default here, 10
in sbi) takes a slow path: for 10^4 rows of 10 bins it costs ~3 ms against ~0.3 ms for
exp(x - max) / sum written out, and it was a third of a two-moons NSF's sampling time
(benchmarks/RESULTS.md (b)). :class:`RQSpline` is zuko's spline with only that softmax replaced:
the same function, equal to float32 rounding, not bit for bit (hence the ``fast_spline`` option,
off for files written before it existed).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Transform
from torch.nn import functional as F
from zuko.transforms import MonotonicRQSTransform


def softmax_last(x: Tensor) -> Tensor:
    """Softmax over the last dimension as exp(x - max) / sum (the max is detached: softmax is
    shift-invariant, so its gradient is exact without it)."""
    e = torch.exp(x - x.detach().amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)


class RQSpline(MonotonicRQSTransform):
    """:class:`zuko.transforms.MonotonicRQSTransform` with :func:`softmax_last` for its bins.

    The knots follow zuko's parametrisation exactly (widths and heights squashed by the minimum
    slope, softmax, cumulative sums scaled to [-bound, bound], derivatives exponentiated);
    evaluation, inversion and log-determinants are zuko's own methods.
    """

    def __init__(
        self, widths: Tensor, heights: Tensor, derivatives: Tensor,
        bound: float = 5.0, slope: float = 1e-3, **kwargs,
    ) -> None:
        # Skip zuko's constructor (it would compute the knots with torch's softmax), keep the
        # torch Transform set-up it does first.
        Transform.__init__(self, **kwargs)
        log_slope = math.log(slope)
        widths = widths / (1 + abs(2 * widths / log_slope))
        heights = heights / (1 + abs(2 * heights / log_slope))
        derivatives = derivatives / (1 + abs(derivatives / log_slope))
        widths = F.pad(softmax_last(widths), (1, 0), value=0)
        heights = F.pad(softmax_last(heights), (1, 0), value=0)
        self.horizontal = bound * (2 * torch.cumsum(widths, dim=-1) - 1)
        self.vertical = bound * (2 * torch.cumsum(heights, dim=-1) - 1)
        self.derivatives = torch.exp(F.pad(derivatives, (1, 1), value=0))
