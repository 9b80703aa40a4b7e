"""Logging set-up shared by the CLI and library code.

Library modules use ``logging.getLogger(__name__)``; only :func:`configure` (called by the CLI
or a notebook) attaches handlers, so importing cardiosbi never changes a user's logging.
"""

from __future__ import annotations

import logging
import sys
import warnings

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure(verbose: bool = False, stream=None) -> None:
    """Send cardiosbi's log records to ``stream`` (stderr): INFO by default, DEBUG if verbose."""
    logger = logging.getLogger("cardiosbi")
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT, datefmt="%H:%M:%S"))
    logger.addHandler(handler)
    logger.propagate = False
    for name in ("simulators",):
        sub = logging.getLogger(name)
        sub.setLevel(logger.level)
        sub.handlers = [handler]
        sub.propagate = False


def quiet_lightning() -> None:
    """Keep Lightning's banner lines (GPU/TPU available, tips) and its known deprecation noise
    out of a command's output unless cardiosbi logs at DEBUG (-v)."""
    if not logging.getLogger("cardiosbi").isEnabledFor(logging.DEBUG):
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
        logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        # frozen sub-modules (a fine-tuned encoder's fixed parts) are in eval mode on purpose
        warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")
